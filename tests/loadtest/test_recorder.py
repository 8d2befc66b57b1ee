"""loadtest.recorder: the accounting catches what it is there to catch."""

from __future__ import annotations

from loadtest.payload import Stamp, decode, encode
from loadtest.recorder import Recorder

S = 1_000_000_000


def rec(**kw: object) -> Recorder:
    return Recorder(kw.pop("destinations", 1), 0, 1.0, 10.0, **kw)  # type: ignore[arg-type]


def send(r: Recorder, producer: int, seqs: list[int], codes: list[str | None] | None = None,
         at: int = 2 * S) -> None:
    r.sending(producer, seqs[0], seqs[-1] + 1)
    r.sent(producer, seqs, codes or [None] * len(seqs), "send", at, at, at + 1000, False)


def test_loss_duplicates_and_failed_sends() -> None:
    r = rec()
    send(r, 0, [0, 1, 2, 3], [None, None, "Throttled", None])
    assert r.produced == 3 and r.errors == {"send:Throttled": 1}
    for seq in (0, 1, 1):
        r.delivered(0, Stamp(0, seq, 2 * S, False), 3 * S)
    assert r.duplicates == 1 and r.lost == 1  # seq 3 never came
    r.delivered(0, Stamp(0, 2, 2 * S, False), 3 * S)  # its send failed, yet it came
    assert r.unexpected == 1
    r.delivered(0, Stamp(0, 3, 2 * S, False), 3 * S)
    assert r.lost == 0 and r.e2e.count == 4 and r.e2e.min == 1_000_000


def test_filter_expectations_per_destination() -> None:
    # destination 1 takes combination 0 only
    r = rec(destinations=2, matches=[[True, True], [True, False]])
    send(r, 0, [0, 1, 2, 3])
    assert r.expected == [4, 2]
    r.delivered(1, Stamp(0, 1, 0, False), S)
    assert r.unexpected == 1  # combination 1 is not for destination 1


def test_order_per_key_and_producer() -> None:
    r = rec(order_keys=2)
    send(r, 0, [0, 1, 2, 3])
    send(r, 1, [0, 1])
    for producer, seq in ((0, 2), (1, 0), (0, 0), (0, 3), (0, 1), (1, 1)):
        r.delivered(0, Stamp(producer, seq, 0, False), S)
    assert r.order_violations == 2  # 0 after 2 (key 0), 1 after 3 (key 1)


def test_early_delivery_waits_for_the_send_to_answer() -> None:
    r = rec()
    r.sending(0, 0, 2)
    r.delivered(0, Stamp(0, 0, 0, False), S)  # before the call answered
    assert r.lost == 0 and r.delivered_expected == [0]
    r.unknown(0, [0, 1], "send", "ReadTimeout", S)
    assert r.uncertain_delivered == 1 and r.lost == 0 and r.unexpected == 0
    r.sending(0, 2, 3)
    r.delivered(0, Stamp(0, 2, 0, False), S)
    r.sent(0, [2], [None], "send", 0, 0, S, False)
    assert r.delivered_expected == [1] and r.lost == 0


def test_windows_and_warm_up() -> None:
    r = rec()
    r.sending(0, 0, 1)
    r.sent(0, [0], [None], "send", 0, 0, S // 2, True)  # warm-up
    send(r, 0, [1], at=5 * S)
    assert r.produced == 2 and r.produced_in_window == 1 and r.send.count == 1
    r.delivered(0, Stamp(0, 0, 0, True), 2 * S)
    r.delivered(0, Stamp(0, 1, 5 * S, False), 12 * S)  # after the window: drain
    assert r.consumed_in_window == 1 and r.e2e.count == 1


def test_payload_round_trip() -> None:
    body = encode("ab12", 3, 99, 123456789, True, 200)
    assert len(body) == 200
    assert decode("ab12", body) == Stamp(3, 99, 123456789, True)
    assert decode("ab12", body.encode()) == Stamp(3, 99, 123456789, True)
    assert decode("other", body) is None and decode("ab12", "hello") is None
