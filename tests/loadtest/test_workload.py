"""Workload files: every shipped one parses; mistakes name the key and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.workload import WorkloadError, load, parse

WORKLOADS = Path(__file__).resolve().parents[2] / "loadtest" / "workloads"


@pytest.mark.parametrize("path", sorted(WORKLOADS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_workloads_parse(path: Path) -> None:
    wl = load(path)
    assert wl.name == path.stem and wl.duration_s > 0


def test_defaults_and_forms() -> None:
    wl = parse({"kind": "topic", "consumers": 2, "duration": "2m", "warmup": "500ms",
                "message_size": {"distribution": "uniform", "min": 100, "max": 200},
                "attributes": {"type": ["a", "b"], "n": 1},
                "subscriptions": [{}, {"filter_policy": {"type": ["a"]}}]})
    assert wl.duration_s == 120 and wl.warmup_s == 0.5 and wl.batch_size == 10
    assert wl.subscriptions[0].filter_policy is None
    assert wl.subscriptions[1].filter_policy == '{"type":["a"]}'
    assert wl.attribute_combinations() == [{"type": "a", "n": "1"}, {"type": "b", "n": "1"}]
    assert 100 <= wl.sizes.draw(wl.sizes.sampler(1)) <= 200
    assert parse({"kind": "stream"}).batch_size == 100


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "queue", "bogus": 1}, "unknown keys ['bogus']"),
    ({"kind": "lake"}, "kind: must be one of"),
    ({"kind": "queue", "producers": 0}, "producers: an integer from 1"),
    ({"kind": "queue", "duration": "soon"}, "duration: a duration such as"),
    ({"kind": "queue", "message_size": 10}, "message_size: sizes are integers from 64"),
    ({"kind": "queue", "message_size": 300_000}, "message_size: sizes are integers"),
    ({"kind": "queue", "message_size": 30_000}, "batch_size x message_size exceeds"),
    ({"kind": "queue", "batch_size": 11}, "batch_size: an integer from 1 to 10"),
    ({"kind": "fifo", "groups": 0}, "groups: a fifo workload needs"),
    ({"kind": "queue", "subscriptions": 2}, "subscriptions: only for kind: topic"),
    ({"kind": "topic", "subscriptions": 3, "consumers": 2}, "cannot read 3 subscription"),
    ({"kind": "queue", "rate": -1}, "rate: a number >= 0"),
])
def test_mistakes_are_explained(data: dict[str, object], message: str) -> None:
    with pytest.raises(WorkloadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(data)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="cannot read it"):
        load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [queue\n")
    with pytest.raises(WorkloadError, match="not valid YAML"):
        load(bad)
    bad.write_text("- kind: queue\n")
    with pytest.raises(WorkloadError, match="a mapping"):
        load(bad)
