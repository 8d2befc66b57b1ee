"""awsJson 1.0 / 1.1 bodies <-> botocore-shaped dicts, compiled once per shape.

The inverse of botocore's ``JSONSerializer`` for requests and the input of its
``JSONParser`` for responses:

* members are keyed by their ``locationName`` when the model has one, else by name;
* blobs travel as base64 text, timestamps as epoch seconds (``timestampFormat`` honoured);
* ``null`` anywhere means "absent"; unknown members are ignored, as AWS does;
* required members are *not* checked (the action layer answers ``MissingParameter``).

A value of the wrong JSON type is a ``SerializationException`` worded like AWS's
(Coral) messages, with the member path appended: ``Start of structure or map found where
not expected. (at Entries[0].MessageBody)``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, cast

from broker import errors
from broker.server.codec_common import (
    ListShape,
    MapShape,
    Shape,
    StructureShape,
    b64decode,
    b64encode,
    format_timestamp,
    json_float,
    parse_timestamp,
    shape_key,
)

__all__ = [
    "BadJsonValue",
    "JsonCompiler",
    "JsonDecoder",
    "JsonEncoder",
    "decode_body",
    "encode_body",
]

JsonDecoder = Callable[[Any], Any]
"""Parsed JSON value -> Python value of the shape; raises ``BadJsonValue``."""
JsonEncoder = Callable[[Any], Any]
"""Python value of the shape -> JSON-ready value."""

_INT_RANGES: Final = MappingProxyType(
    {
        "byte": (-(2**7), 2**7 - 1, "a Byte", "byte"),
        "short": (-(2**15), 2**15 - 1, "a Short", "short"),
        "integer": (-(2**31), 2**31 - 1, "an Integer", "int"),
        "long": (-(2**63), 2**63 - 1, "a Long", "long"),
    }
)
_FLOAT_WORDS: Final = MappingProxyType({"float": "a Float", "double": "a Double"})
_NON_FINITE: Final = frozenset({"NaN", "Infinity", "-Infinity"})


class BadJsonValue(Exception):
    """A value does not fit its shape; containers add their segment to ``path`` on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []

    def message(self) -> str:
        where = ""
        for segment in reversed(self.path):
            where += segment if segment.startswith("[") or not where else f".{segment}"
        return f"{self.reason} (at {where})" if where else self.reason


def mismatch(value: Any, expected: str) -> BadJsonValue:
    """The error for a value of the wrong JSON type (the AWS JSON protocol's wording)."""
    if isinstance(value, dict):
        return BadJsonValue("Start of structure or map found where not expected.")
    if isinstance(value, list):
        return BadJsonValue("Start of list found where not expected.")
    if isinstance(value, str):
        token = "STRING_VALUE"
    elif isinstance(value, bool):
        token = "BOOLEAN_VALUE"
    else:
        token = "NUMBER_VALUE"
    return BadJsonValue(f"{token} can not be converted to {expected}")


def _identity(value: Any) -> Any:
    return value


# --- scalar decoders -------------------------------------------------------------------


def _decode_string(value: Any) -> str:
    if type(value) is str:
        return value
    raise mismatch(value, "a String")


def _decode_boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise mismatch(value, "a Boolean")


def _integer_decoder(type_name: str) -> JsonDecoder:
    low, high, words, java = _INT_RANGES[type_name]

    def decode(value: Any) -> int:
        kind = type(value)
        if kind is int:
            number: int = value
        elif kind is float and value.is_integer():
            number = int(value)
        else:
            raise mismatch(value, words)
        if not low <= number <= high:
            shown = value if number.bit_length() < 256 else "too large"
            raise BadJsonValue(f"Numeric value ({shown}) out of range of {java}")
        return number

    return decode


def _float_decoder(type_name: str) -> JsonDecoder:
    words = _FLOAT_WORDS[type_name]

    def decode(value: Any) -> float:
        kind = type(value)
        if kind is float or kind is int:
            return float(value)
        if kind is str and value in _NON_FINITE:
            return float(value)
        raise mismatch(value, words)

    return decode


def _decode_blob(value: Any) -> bytes:
    if type(value) is not str:
        raise mismatch(value, "a Blob")
    try:
        return b64decode(value)
    except ValueError:
        raise BadJsonValue("Base64 encoded value is not valid.") from None


def _decode_timestamp(value: Any) -> dt.datetime:
    kind = type(value)
    try:
        if kind is int or kind is float:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if kind is str:
            return parse_timestamp(value)
    except (ValueError, OverflowError, OSError):
        raise BadJsonValue(f"Timestamp value {value!r} is not valid.") from None
    raise mismatch(value, "a Timestamp")


# --- the compiler ----------------------------------------------------------------------


class JsonCompiler:
    """Builds and memoises a decoder and an encoder per shape (as referenced)."""

    __slots__ = ("_decoders", "_encoders")

    def __init__(self) -> None:
        self._decoders: dict[object, JsonDecoder] = {}
        self._encoders: dict[object, JsonEncoder] = {}

    # decoding ---------------------------------------------------------------------------

    def decoder(self, shape: Shape) -> JsonDecoder:
        key = shape_key(shape)
        found = self._decoders.get(key)
        if found is None:
            found = self._build_decoder(shape, key)
            self._decoders[key] = found
        return found

    def _build_decoder(self, shape: Shape, key: object) -> JsonDecoder:
        type_name = shape.type_name
        if type_name == "structure":
            return self._structure_decoder(cast(StructureShape, shape), key)
        if type_name == "list":
            return self._list_decoder(cast(ListShape, shape))
        if type_name == "map":
            return self._map_decoder(cast(MapShape, shape))
        if type_name in ("string", "character"):
            return _decode_string
        if type_name == "boolean":
            return _decode_boolean
        if type_name in _INT_RANGES:
            return _integer_decoder(type_name)
        if type_name in _FLOAT_WORDS:
            return _float_decoder(type_name)
        if type_name == "blob":
            return _decode_blob
        if type_name == "timestamp":
            return _decode_timestamp
        return _identity

    def _structure_decoder(self, shape: StructureShape, key: object) -> JsonDecoder:
        if shape.is_document_type:
            return _identity
        table: dict[str, tuple[str, JsonDecoder]] = {}

        def decode(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise mismatch(value, "a Structure")
            out: dict[str, Any] = {}
            for wire, raw in value.items():
                entry = table.get(wire)
                if entry is None or raw is None:
                    continue  # unknown members are ignored; null is absent
                try:
                    out[entry[0]] = entry[1](raw)
                except BadJsonValue as exc:
                    exc.path.append(wire)
                    raise
            return out

        self._decoders[key] = decode  # before the members: recursive shapes find it
        for name, member in shape.members.items():
            wire = member.serialization.get("name") or name
            table.setdefault(wire, (name, self.decoder(member)))
        return decode

    def _list_decoder(self, shape: ListShape) -> JsonDecoder:
        element = self.decoder(shape.member)

        def decode(value: Any) -> list[Any]:
            if type(value) is not list:
                raise mismatch(value, "a List")
            out: list[Any] = []
            for index, item in enumerate(value):
                if item is None:
                    continue
                try:
                    out.append(element(item))
                except BadJsonValue as exc:
                    exc.path.append(f"[{index}]")
                    raise
            return out

        return decode

    def _map_decoder(self, shape: MapShape) -> JsonDecoder:
        element = self.decoder(shape.value)

        def decode(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise mismatch(value, "a Map")
            out: dict[str, Any] = {}
            for name, item in value.items():
                if item is None:
                    continue
                try:
                    out[name] = element(item)
                except BadJsonValue as exc:
                    exc.path.append(name)
                    raise
            return out

        return decode

    # encoding ---------------------------------------------------------------------------

    def encoder(self, shape: Shape) -> JsonEncoder:
        key = shape_key(shape)
        found = self._encoders.get(key)
        if found is None:
            found = self._build_encoder(shape, key)
            self._encoders[key] = found
        return found

    def _build_encoder(self, shape: Shape, key: object) -> JsonEncoder:
        type_name = shape.type_name
        if type_name == "structure":
            return self._structure_encoder(cast(StructureShape, shape), key)
        if type_name == "list":
            return self._list_encoder(cast(ListShape, shape))
        if type_name == "map":
            return self._map_encoder(cast(MapShape, shape))
        if type_name in _FLOAT_WORDS:
            return lambda value: json_float(float(value))
        if type_name == "blob":
            return b64encode
        if type_name == "timestamp":
            fmt = str(shape.serialization.get("timestampFormat") or "unixtimestamp")
            return lambda value: format_timestamp(value, fmt)
        return _identity

    def _structure_encoder(self, shape: StructureShape, key: object) -> JsonEncoder:
        if shape.is_document_type:
            return _identity
        table: dict[str, tuple[str, JsonEncoder]] = {}
        shape_name = shape.name

        def encode(value: Mapping[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, item in value.items():
                if item is None:
                    continue
                entry = table.get(name)
                if entry is None:
                    raise ValueError(f"{shape_name} has no member {name!r}")
                convert = entry[1]
                out[entry[0]] = item if convert is _identity else convert(item)
            return out

        self._encoders[key] = encode
        for name, member in shape.members.items():
            table[name] = (member.serialization.get("name") or name, self.encoder(member))
        return encode

    def _list_encoder(self, shape: ListShape) -> JsonEncoder:
        element = self.encoder(shape.member)
        if element is _identity:
            return lambda value: [item for item in value if item is not None]
        return lambda value: [element(item) for item in value if item is not None]

    def _map_encoder(self, shape: MapShape) -> JsonEncoder:
        element = self.encoder(shape.value)
        if element is _identity:
            return lambda value: {k: v for k, v in value.items() if v is not None}
        return lambda value: {k: element(v) for k, v in value.items() if v is not None}


# --- bodies ----------------------------------------------------------------------------


def decode_body(decoder: JsonDecoder, body: bytes | bytearray | memoryview) -> dict[str, Any]:
    """A request body as the input shape's dict; ``SerializationException`` otherwise."""
    raw = bytes(body)
    if not raw.strip():
        value: Any = {}
    else:
        try:
            value = json.loads(raw)
        except UnicodeDecodeError:
            raise errors.SerializationException("Request body is not valid UTF-8.") from None
        except json.JSONDecodeError as exc:
            raise errors.SerializationException(
                f"Malformed JSON request body: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        except RecursionError:
            raise errors.SerializationException("JSON request body is nested too deeply.") from None
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            raise errors.SerializationException(f"Malformed JSON request body: {exc}.") \
                from None
    try:
        result: dict[str, Any] = decoder(value)
    except BadJsonValue as exc:
        raise errors.SerializationException(exc.message()) from None
    return result


def encode_body(encoder: JsonEncoder | None, output: Mapping[str, Any] | None) -> bytes:
    """An output dict as a compact UTF-8 JSON body (``{}`` when there is nothing to say)."""
    if encoder is None:
        if output:
            raise ValueError(f"the operation has no output, got {sorted(output)}")
        data: Any = {}
    else:
        data = encoder(output) if output else {}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: let JSON escape it
        return json.dumps(data, separators=(",", ":")).encode("ascii")
