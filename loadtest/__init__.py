"""Benchmarks for Redcurrent: ``python -m loadtest <benchmark> [options]``.

Each benchmark starts its own ``redis-server`` (``broker.embedded.EmbeddedRedis``, AOF on,
``appendfsync everysec`` unless ``--fsync`` says otherwise) in a temporary directory, or
uses ``--redis-url``; it drives the public SDK (``broker.Client``) from one Python process,
prints its figures and the command line that reproduces them, and can write them as JSON
(``--json PATH``). See ``loadtest/README.md``.
"""
