"""CBOR (RFC 8949): a small, strict encoder and decoder for the AWS CBOR wire protocol.

::

    from broker.server import cbor

    cbor.dumps({"Data": b"\\x00\\x01", "Records": [1, 2.5, None]})   # -> bytes
    cbor.loads(body)                                                # -> Python values

Values map as follows:

===========================  ================================================
CBOR                         Python
===========================  ================================================
unsigned / negative integer  ``int`` (tags 2 and 3, bignums, too)
byte string                  ``bytes``
text string                  ``str``
array                        ``list`` (``tuple`` encodes as an array as well)
map                          ``dict``
false / true / null          ``False`` / ``True`` / ``None``
undefined                    ``None`` (decoding only)
float16 / float32 / float64  ``float`` (encoded in the shortest exact width)
any other tag                :class:`Tag` (tag 1, epoch date/time, included)
===========================  ================================================

Decoding takes definite and indefinite lengths and rejects anything that is not
well-formed (truncated items, reserved additional information, stray "break" codes,
invalid UTF-8, trailing bytes, unassigned simple values, nesting deeper than
``max_depth``) with a :class:`CborError`, a ``ValueError``. Encoding always writes
definite lengths. Neither side knows about AWS: what tag 1 counts (AWS's SDKs count
milliseconds, RFC 8949 seconds) is the caller's business.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["DEFAULT_MAX_DEPTH", "CborError", "Tag", "dumps", "loads"]

DEFAULT_MAX_DEPTH: Final = 64
"""Deepest nesting of arrays, maps and tags :func:`loads` accepts by default."""

_UINT64_LIMIT: Final = 1 << 64
_HALF: Final = struct.Struct(">e")
_SINGLE: Final = struct.Struct(">f")
_DOUBLE: Final = struct.Struct(">d")
_BREAK: Final = 0xFF
_NAN: Final = b"\xf9\x7e\x00"


class CborError(ValueError):
    """The input is not well-formed CBOR (or uses something this decoder refuses)."""


@dataclass(frozen=True, slots=True)
class Tag:
    """A tagged data item: ``Tag(1, 1363896240)`` is an epoch-based date/time."""

    number: int
    value: Any


# --- decoding --------------------------------------------------------------------------


class _Break:
    """The "break" stop code, as returned to the indefinite-length container reading it."""


_STOP: Final = _Break()


class _Reader:
    __slots__ = ("data", "end", "max_depth", "pos", "text_keys")

    def __init__(self, data: bytes, max_depth: int, text_keys: bool) -> None:
        self.data = data
        self.end = len(data)
        self.pos = 0
        self.max_depth = max_depth
        self.text_keys = text_keys

    def _take(self, n: int) -> bytes:
        start = self.pos
        stop = start + n
        if stop > self.end:
            raise CborError(f"truncated input: {n} bytes needed at offset {start}, "
                            f"{self.end - start} left")
        self.pos = stop
        return self.data[start:stop]

    def _initial(self) -> int:
        if self.pos >= self.end:
            raise CborError(f"truncated input: a data item expected at offset {self.pos}")
        byte = self.data[self.pos]
        self.pos += 1
        return byte

    def _argument(self, info: int) -> int | None:
        """The head's argument; ``None`` for an indefinite length (additional info 31)."""
        if info < 24:
            return info
        if info < 28:
            return int.from_bytes(self._take(1 << (info - 24)), "big")
        if info < 31:
            raise CborError(f"reserved additional information {info} at offset {self.pos - 1}")
        return None

    def _room(self, count: int, per_item: int) -> None:
        """Refuse a declared length the remaining bytes cannot possibly hold."""
        if count * per_item > self.end - self.pos:
            raise CborError(f"truncated input: {count} items declared at offset {self.pos}, "
                            f"only {self.end - self.pos} bytes left")

    def item(self, depth: int, in_indefinite: bool = False) -> Any:
        start = self.pos
        initial = self._initial()
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self._simple(info, start, in_indefinite)
        arg = self._argument(info)
        if major == 0:
            if arg is None:
                raise CborError(f"indefinite length on an integer at offset {start}")
            return arg
        if major == 1:
            if arg is None:
                raise CborError(f"indefinite length on an integer at offset {start}")
            return -1 - arg
        if major == 2 or major == 3:
            return self._string(major, arg, start)
        if depth >= self.max_depth:
            raise CborError(f"nested deeper than {self.max_depth} levels at offset {start}")
        if major == 4:
            return self._array(arg, depth + 1)
        if major == 5:
            return self._map(arg, depth + 1)
        if arg is None:
            raise CborError(f"indefinite length on a tag at offset {start}")
        return self._tag(arg, self.item(depth + 1), start)

    def _simple(self, info: int, start: int, in_indefinite: bool) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22 or info == 23:
            return None
        if info == 25:
            return float(_HALF.unpack(self._take(2))[0])
        if info == 26:
            return float(_SINGLE.unpack(self._take(4))[0])
        if info == 27:
            return float(_DOUBLE.unpack(self._take(8))[0])
        if info == 31:
            if in_indefinite:
                return _STOP
            raise CborError(f"unexpected break at offset {start}")
        if info == 24:
            value = self._take(1)[0]
            if value < 32:
                raise CborError(f"two-byte encoding of simple value {value} at offset {start}")
            raise CborError(f"unsupported simple value {value} at offset {start}")
        if info < 24:
            raise CborError(f"unsupported simple value {info} at offset {start}")
        raise CborError(f"reserved additional information {info} at offset {start}")

    def _string(self, major: int, length: int | None, start: int) -> bytes | str:
        if length is not None:
            return self._chunk(major, length, start)
        chunks: list[Any] = []
        while True:
            at = self.pos
            initial = self._initial()
            if initial == _BREAK:
                break
            if initial >> 5 != major:
                raise CborError(f"chunk of another major type in an indefinite-length string "
                                f"at offset {at}")
            size = self._argument(initial & 0x1F)
            if size is None:
                raise CborError(f"nested indefinite-length string at offset {at}")
            chunks.append(self._chunk(major, size, at))
        return "".join(chunks) if major == 3 else b"".join(chunks)

    def _chunk(self, major: int, length: int, start: int) -> bytes | str:
        raw = self._take(length)
        if major == 2:
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CborError(f"invalid UTF-8 in the text string at offset {start}") from None

    def _array(self, count: int | None, depth: int) -> list[Any]:
        if count is None:
            out: list[Any] = []
            while True:
                value = self.item(depth, in_indefinite=True)
                if value is _STOP:
                    return out
                out.append(value)
        self._room(count, 1)
        return [self.item(depth) for _ in range(count)]

    def _map(self, count: int | None, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        if count is not None:
            self._room(count, 2)
        index = 0
        while count is None or index < count:
            at = self.pos
            key = self.item(depth, in_indefinite=count is None)
            if key is _STOP:
                break
            if self.text_keys and type(key) is not str:
                raise CborError(f"map key at offset {at} is not a text string")
            value = self.item(depth)
            try:
                out[key] = value
            except TypeError:
                raise CborError(f"map key at offset {at} is an array or a map") from None
            index += 1
        return out

    @staticmethod
    def _tag(number: int, value: Any, start: int) -> Any:
        if number == 2 or number == 3:  # bignums
            if type(value) is not bytes:
                raise CborError(f"bignum tag {number} on a non-byte-string at offset {start}")
            magnitude = int.from_bytes(value, "big")
            return magnitude if number == 2 else -1 - magnitude
        return Tag(number, value)


def loads(data: bytes | bytearray | memoryview, *, max_depth: int = DEFAULT_MAX_DEPTH,
          text_keys: bool = False) -> Any:
    """Exactly one CBOR data item -> its Python value (see the module docstring).

    ``text_keys``: every map key must be a text string (as in JSON and AWS's protocols).
    Raises :class:`CborError` for input that is empty, malformed or followed by more bytes.
    """
    reader = _Reader(bytes(data), max_depth, text_keys)
    value = reader.item(0)
    if reader.pos != reader.end:
        raise CborError(f"{reader.end - reader.pos} bytes of trailing data after the data "
                        f"item at offset {reader.pos}")
    return value


# --- encoding --------------------------------------------------------------------------


def _head(out: bytearray, major: int, n: int) -> None:
    kind = major << 5
    if n < 24:
        out.append(kind | n)
    elif n < 0x100:
        out.append(kind | 24)
        out.append(n)
    elif n < 0x10000:
        out.append(kind | 25)
        out += n.to_bytes(2, "big")
    elif n < 0x100000000:
        out.append(kind | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append(kind | 27)
        out += n.to_bytes(8, "big")


def _encode_int(out: bytearray, value: int) -> None:
    if 0 <= value < _UINT64_LIMIT:
        _head(out, 0, value)
    elif -_UINT64_LIMIT <= value < 0:
        _head(out, 1, -1 - value)
    else:  # bignum: tag 2 (positive) or 3 (negative) on the magnitude's bytes
        magnitude = value if value >= 0 else -1 - value
        raw = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
        _head(out, 6, 2 if value >= 0 else 3)
        _head(out, 2, len(raw))
        out += raw


def _encode_float(out: bytearray, value: float) -> None:
    """The shortest of float16 / float32 / float64 that holds ``value`` exactly."""
    if value != value:
        out += _NAN
        return
    for initial, packer in ((0xF9, _HALF), (0xFA, _SINGLE)):
        try:
            packed = packer.pack(value)
        except OverflowError:
            continue
        if packer.unpack(packed)[0] == value:
            out.append(initial)
            out += packed
            return
    out.append(0xFB)
    out += _DOUBLE.pack(value)


def _encode(out: bytearray, value: Any) -> None:
    kind = type(value)
    if kind is str:
        raw = value.encode("utf-8", "replace")  # a lone surrogate has no UTF-8 form
        _head(out, 3, len(raw))
        out += raw
    elif kind is dict:
        _head(out, 5, len(value))
        for key, item in value.items():
            _encode(out, key)
            _encode(out, item)
    elif kind is list or kind is tuple:
        _head(out, 4, len(value))
        for item in value:
            _encode(out, item)
    elif kind is bool:
        out.append(0xF5 if value else 0xF4)
    elif kind is int:
        _encode_int(out, value)
    elif value is None:
        out.append(0xF6)
    elif kind is bytes or kind is bytearray or kind is memoryview:
        raw = bytes(value)
        _head(out, 2, len(raw))
        out += raw
    elif kind is float:
        _encode_float(out, value)
    elif kind is Tag:
        _head(out, 6, value.number)
        _encode(out, value.value)
    else:
        for base, convert in _SUBCLASSES:  # IntEnum, StrEnum, OrderedDict...
            if isinstance(value, base):
                _encode(out, convert(value))
                return
        raise TypeError(f"CBOR cannot encode a {kind.__name__}")


#: what a subclass of a supported type is encoded as (``json.dumps`` takes them too)
_SUBCLASSES: Final[tuple[tuple[type, Callable[[Any], Any]], ...]] = (
    (int, int), (float, float), (str, str.__str__), (bytes, bytes), (dict, dict),
    (list, list), (tuple, list))


def dumps(value: Any) -> bytes:
    """A Python value -> one CBOR data item (definite lengths, shortest heads and floats).

    Text that holds a lone surrogate (which has no UTF-8 form) is sent with ``?`` in its
    place. ``TypeError`` for a value of another type than the module docstring lists.
    """
    out = bytearray()
    _encode(out, value)
    return bytes(out)
