"""``python -m loadtest <benchmark> [options]``; ``./dev bench <benchmark>`` runs this.

The harness (workload files, any target, reports):

* ``run``     one workload file (loadtest/workloads/) against a target, with a JSON and
              an HTML report.
* ``compare`` reports side by side: ratio table, overlaid plots.
* ``peers``   the worker workload against arq/Dramatiq/BullMQ/Celery/RQ and the AWS
              workloads against moto's server.

Benchmarks (one module each, registering a sub-command):

* ``queues``  SQS standard-queue throughput, latency, memory and long-poll wake-up.
* ``fifo``    SQS FIFO-queue throughput with many groups, latency vs number of groups.
* ``topics``  SNS topics: publish fan-out throughput and latency, filter evaluations.
* ``streams`` Kinesis streams: PutRecords / GetRecords throughput, put-to-consumer latency.
* ``kcl``     the KCL-style stream consumer (workers.kcl): records/s of one worker.
* ``workers`` the worker framework: messages/s of one worker process, against the peers.
* ``server``  the broker server over HTTP (SendMessage requests/s, latency at a fixed
              rate) against moto's server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loadtest import (
    compare,
    fifo,
    kcl,
    peers_command,
    queues,
    run_command,
    server,
    streams,
    topics,
    workers_bench,
)

#: modules that provide ``add_parser(subparsers)``; each sets ``func`` on its parser
BENCHMARKS = (run_command, compare, peers_command,
              queues, fifo, topics, streams, kcl, workers_bench, server)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Redcurrent benchmarks (see loadtest/README.md).")
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for module in BENCHMARKS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv[1:]
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
