"""AWS query protocol: form fields -> botocore-shaped dicts, dicts -> XML responses.

Requests are the exact inverse of botocore's ``QuerySerializer`` (names per
``QueryNames``): ``Name.N`` for flattened lists, ``Name.member.N`` otherwise,
``Name.N.Key`` / ``Name.N.Value`` for flattened maps (``Name.entry.N...`` otherwise),
``Name=`` (empty) for an empty list, base64 blobs, ``true``/``false``, ISO-8601
timestamps. Indices are taken in numeric order; fields the shape does not know
(``Action``, ``Version``, signature fields, typos) are ignored, like unknown JSON members.

A scalar that does not parse answers ``InvalidParameterValue`` in SQS's words
(``Value ten for parameter MaxNumberOfMessages is invalid. Reason: Must be an integer.``,
the form SQS uses for out-of-range values too). ``MalformedQueryString`` is left to the
HTTP layer (a body that is not ``application/x-www-form-urlencoded`` at all): its 404
status suits a request that cannot be read, not a bad value. A map entry without its
key (or without a scalar value) answers ``MissingParameter`` naming the field.

Responses are the XML botocore's ``QueryParser`` reads: ``<{Op}Response xmlns=...>``,
the result wrapper, members named as on the request side, ``ResponseMetadata``. Text is
escaped for XML 1.0 (``&#13;`` keeps a carriage return a carriage return; characters XML
cannot carry at all become U+FFFD).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, cast

from broker import errors
from broker.server.codec_common import (
    ListShape,
    MapShape,
    OperationModel,
    QueryNames,
    Shape,
    StructureShape,
    b64decode,
    b64encode,
    float_text,
    format_timestamp,
    parse_timestamp,
    shape_key,
)

__all__ = [
    "MISSING",
    "QueryCompiler",
    "QueryDecoder",
    "QueryNode",
    "XmlEncoder",
    "build_tree",
    "xml_text",
]

MISSING: Final = object()
"""What a decoder returns for a field that is not in the request."""


class QueryNode:
    """One dotted component of the form's keys: ``Attribute.1.Name`` is three levels."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, QueryNode] = {}


def build_tree(form: Mapping[str, str]) -> QueryNode:
    root = QueryNode()
    for key, value in form.items():
        node = root
        for part in key.split("."):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = QueryNode()
            node = child
        node.value = value
    return root


def _indexed(node: QueryNode | None) -> list[tuple[str, QueryNode]]:
    """The ``.N`` children of a node, in numeric order."""
    if node is None or not node.children:
        return []
    found = [(k, c) for k, c in node.children.items() if k.isdigit() and k.isascii()]
    if len(found) > 1:
        found.sort(key=lambda item: int(item[0]))
    return found


class _Problem(Exception):
    """A field that does not decode; containers add their segment to ``path`` on the way out."""

    def __init__(self, reason: str, shown: str | None = None, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.shown = shown
        self.missing = missing
        self.path: list[str] = []

    def error(self) -> errors.ClientError:
        where = ".".join(reversed(self.path))
        if self.missing:
            return errors.MissingParameter(f"The request must contain the parameter {where}.")
        value = f"Value {self.shown} " if self.shown is not None else "Value "
        return errors.InvalidParameterValue(
            f"{value}for parameter {where} is invalid. Reason: {self.reason}."
        )


QueryDecoder = Callable[[QueryNode], Any]
"""Form subtree -> Python value of the shape, or ``MISSING``; raises ``_Problem``."""
XmlEncoder = Callable[[Any, str, str, list[str]], None]
"""``(value, open tag, close tag, parts)``: appends the value's XML to ``parts``."""

# --- scalar decoders -------------------------------------------------------------------

_INT_TEXT: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT: Final = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|[+-]?Infinity"
)
_INT_RANGES: Final = MappingProxyType(
    {
        "byte": (-(2**7), 2**7 - 1),
        "short": (-(2**15), 2**15 - 1),
        "integer": (-(2**31), 2**31 - 1),
        "long": (-(2**63), 2**63 - 1),
    }
)


def _no_input(node: QueryNode) -> Any:
    return {}


def _decode_string(node: QueryNode) -> Any:
    return MISSING if node.value is None else node.value


def _integer_decoder(type_name: str) -> QueryDecoder:
    low, high = _INT_RANGES[type_name]

    def decode(node: QueryNode) -> Any:
        text = node.value
        if text is None:
            return MISSING
        if _INT_TEXT.fullmatch(text) is None:
            raise _Problem("Must be an integer", text)
        number = int(text)
        if not low <= number <= high:
            raise _Problem(f"Must be an integer between {low} and {high}", text)
        return number

    return decode


def _decode_boolean(node: QueryNode) -> Any:
    text = node.value
    if text is None:
        return MISSING
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise _Problem("Must be a boolean (true or false)", text)


def _decode_float(node: QueryNode) -> Any:
    text = node.value
    if text is None:
        return MISSING
    if _FLOAT_TEXT.fullmatch(text) is None:
        raise _Problem("Must be a number", text)
    return float(text)


def _decode_blob(node: QueryNode) -> Any:
    text = node.value
    if text is None:
        return MISSING
    try:
        return b64decode(text)
    except ValueError:
        raise _Problem("Must be base64-encoded binary data") from None


def _decode_timestamp(node: QueryNode) -> Any:
    text = node.value
    if text is None:
        return MISSING
    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError, OSError):
        raise _Problem("Must be an ISO 8601 timestamp", text) from None


# --- XML text --------------------------------------------------------------------------

_XML_SPECIAL: Final = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` as XML 1.0 character data."""
    if _XML_SPECIAL.search(text) is None:
        return text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", "&#13;")
    return _XML_INVALID.sub("\ufffd", text)


def _encode_string(value: Any, open_: str, close: str, parts: list[str]) -> None:
    parts.extend((open_, xml_text(value), close))


def _encode_number(value: Any, open_: str, close: str, parts: list[str]) -> None:
    parts.extend((open_, str(value), close))


def _encode_boolean(value: Any, open_: str, close: str, parts: list[str]) -> None:
    parts.extend((open_, "true" if value else "false", close))


def _encode_float(value: Any, open_: str, close: str, parts: list[str]) -> None:
    parts.extend((open_, float_text(value), close))


def _encode_blob(value: Any, open_: str, close: str, parts: list[str]) -> None:
    parts.extend((open_, b64encode(value), close))


# --- the compiler ----------------------------------------------------------------------


class QueryCompiler:
    """Builds and memoises a form decoder and an XML encoder per shape (as referenced)."""

    __slots__ = ("_decoders", "_encoders", "_names", "_responses")

    def __init__(self, names: QueryNames) -> None:
        self._names = names
        self._decoders: dict[object, QueryDecoder] = {}
        self._encoders: dict[object, XmlEncoder] = {}
        self._responses: dict[str, tuple[str, str, str, str, XmlEncoder | None]] = {}

    # requests ---------------------------------------------------------------------------

    def request_decoder(self, operation: OperationModel) -> QueryDecoder:
        shape = operation.input_shape
        return self.decoder(shape) if shape is not None else _no_input

    @staticmethod
    def decode_request(decoder: QueryDecoder, form: Mapping[str, str]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = decoder(build_tree(form))
        except _Problem as exc:
            raise exc.error() from None
        return result

    def decoder(self, shape: Shape) -> QueryDecoder:
        key = shape_key(shape)
        found = self._decoders.get(key)
        if found is None:
            found = self._build_decoder(shape, key)
            self._decoders[key] = found
        return found

    def _build_decoder(self, shape: Shape, key: object) -> QueryDecoder:
        type_name = shape.type_name
        if type_name == "structure":
            return self._structure_decoder(cast(StructureShape, shape), key)
        if type_name == "list":
            return self._list_decoder(cast(ListShape, shape))
        if type_name == "map":
            return self._map_decoder(cast(MapShape, shape))
        if type_name in _INT_RANGES:
            return _integer_decoder(type_name)
        if type_name == "boolean":
            return _decode_boolean
        if type_name in ("float", "double"):
            return _decode_float
        if type_name == "blob":
            return _decode_blob
        if type_name == "timestamp":
            return _decode_timestamp
        return _decode_string

    def _structure_decoder(self, shape: StructureShape, key: object) -> QueryDecoder:
        table: list[tuple[str, str, QueryDecoder]] = []

        def decode(node: QueryNode) -> Any:
            out: dict[str, Any] = {}
            children = node.children
            if not children:
                return out
            for wire, name, member in table:
                child = children.get(wire)
                if child is None:
                    continue
                try:
                    value = member(child)
                except _Problem as exc:
                    exc.path.append(wire)
                    raise
                if value is not MISSING:
                    out[name] = value
            return out

        self._decoders[key] = decode  # before the members: recursive shapes find it
        seen: set[str] = set()
        for name, member in shape.members.items():
            wire = self._names.member(shape, name, member)
            if wire not in seen:  # two members on one wire name: the first one gets it
                seen.add(wire)
                table.append((wire, name, self.decoder(member)))
        return decode

    def _list_decoder(self, shape: ListShape) -> QueryDecoder:
        element = self.decoder(shape.member)
        nested = (
            None if self._names.flattened(shape) else (self._names.list_member(shape) or "member")
        )

        def decode(node: QueryNode) -> Any:
            holder = node if nested is None else node.children.get(nested)
            items = _indexed(holder)
            if not items:
                return [] if node.value == "" else MISSING
            out: list[Any] = []
            for index, child in items:
                try:
                    value = element(child)
                except _Problem as exc:
                    exc.path.append(index if nested is None else f"{nested}.{index}")
                    raise
                if value is not MISSING:
                    out.append(value)
            return out

        return decode

    def _map_decoder(self, shape: MapShape) -> QueryDecoder:
        key_name, value_name = self._names.map_entry(shape)
        element = self.decoder(shape.value)
        structured = shape.value.type_name == "structure"
        nested = None if self._names.flattened(shape) else "entry"

        def decode(node: QueryNode) -> Any:
            holder = node if nested is None else node.children.get(nested)
            items = _indexed(holder)
            if not items:
                return MISSING
            out: dict[str, Any] = {}
            for index, entry in items:
                segment = index if nested is None else f"{nested}.{index}"
                key_node = entry.children.get(key_name)
                if key_node is None or key_node.value is None:
                    problem = _Problem("missing key", missing=True)
                    problem.path += [key_name, segment]
                    raise problem
                value_node = entry.children.get(value_name)
                value: Any = MISSING
                if value_node is not None:
                    try:
                        value = element(value_node)
                    except _Problem as exc:
                        exc.path += [value_name, segment]
                        raise
                if value is MISSING:
                    if not structured:
                        problem = _Problem("missing value", missing=True)
                        problem.path += [value_name, segment]
                        raise problem
                    value = {}
                out[key_node.value] = value
            return out

        return decode

    # responses --------------------------------------------------------------------------

    def encode_response(
        self, operation: OperationModel, output: Mapping[str, Any] | None, request_id: str
    ) -> bytes:
        plan = self._responses.get(operation.name)
        if plan is None:
            plan = self._response_plan(operation)
            self._responses[operation.name] = plan
        head, tail, open_, close, encoder = plan
        parts = [head]
        if encoder is not None:
            encoder(output or {}, open_, close, parts)
        elif output:
            raise ValueError(f"{operation.name} has no output, got {sorted(output)}")
        parts.append("<ResponseMetadata><RequestId>")
        parts.append(xml_text(request_id))
        parts.append(tail)
        return "".join(parts).encode("utf-8")

    def _response_plan(
        self, operation: OperationModel
    ) -> tuple[str, str, str, str, XmlEncoder | None]:
        root = f"{operation.name}Response"
        namespace = self._names.xml_namespace
        xmlns = f' xmlns="{xml_text(namespace).replace(chr(34), "&quot;")}"' if namespace else ""
        head = f'<?xml version="1.0"?><{root}{xmlns}>'
        tail = f"</RequestId></ResponseMetadata></{root}>"
        shape = operation.output_shape
        if shape is None:
            return head, tail, "", "", None
        wrapper = self._names.result_wrapper(operation.name, shape)
        open_, close = (f"<{wrapper}>", f"</{wrapper}>") if wrapper else ("", "")
        return head, tail, open_, close, self.encoder(shape)

    def encoder(self, shape: Shape) -> XmlEncoder:
        key = shape_key(shape)
        found = self._encoders.get(key)
        if found is None:
            found = self._build_encoder(shape, key)
            self._encoders[key] = found
        return found

    def _build_encoder(self, shape: Shape, key: object) -> XmlEncoder:
        type_name = shape.type_name
        if type_name == "structure":
            return self._structure_encoder(cast(StructureShape, shape), key)
        if type_name == "list":
            return self._list_encoder(cast(ListShape, shape))
        if type_name == "map":
            return self._map_encoder(cast(MapShape, shape))
        if type_name in _INT_RANGES:
            return _encode_number
        if type_name == "boolean":
            return _encode_boolean
        if type_name in ("float", "double"):
            return _encode_float
        if type_name == "blob":
            return _encode_blob
        if type_name == "timestamp":
            fmt = str(shape.serialization.get("timestampFormat") or "iso8601")

            def encode_timestamp(value: Any, open_: str, close: str, parts: list[str]) -> None:
                parts.extend((open_, str(format_timestamp(value, fmt)), close))

            return encode_timestamp
        return _encode_string

    def _structure_encoder(self, shape: StructureShape, key: object) -> XmlEncoder:
        table: dict[str, tuple[str, str, XmlEncoder]] = {}
        shape_name = shape.name

        def encode(value: Any, open_: str, close: str, parts: list[str]) -> None:
            parts.append(open_)
            for name, item in value.items():
                if item is None:
                    continue
                entry = table.get(name)
                if entry is None:
                    raise ValueError(f"{shape_name} has no member {name!r}")
                entry[2](item, entry[0], entry[1], parts)
            parts.append(close)

        self._encoders[key] = encode
        for name, member in shape.members.items():
            wire = self._names.member(shape, name, member)
            table[name] = (f"<{wire}>", f"</{wire}>", self.encoder(member))
        return encode

    def _list_encoder(self, shape: ListShape) -> XmlEncoder:
        element = self.encoder(shape.member)
        if self._names.flattened(shape):

            def encode_flat(value: Any, open_: str, close: str, parts: list[str]) -> None:
                for item in value:
                    if item is not None:
                        element(item, open_, close, parts)

            return encode_flat
        name = self._names.list_member(shape) or "member"
        item_open, item_close = f"<{name}>", f"</{name}>"

        def encode(value: Any, open_: str, close: str, parts: list[str]) -> None:
            parts.append(open_)
            for item in value:
                if item is not None:
                    element(item, item_open, item_close, parts)
            parts.append(close)

        return encode

    def _map_encoder(self, shape: MapShape) -> XmlEncoder:
        key_name, value_name = self._names.map_entry(shape)
        key_open, key_close = f"<{key_name}>", f"</{key_name}>"
        value_open, value_close = f"<{value_name}>", f"</{value_name}>"
        element = self.encoder(shape.value)
        if self._names.flattened(shape):

            def encode_flat(value: Any, open_: str, close: str, parts: list[str]) -> None:
                for name, item in value.items():
                    if item is not None:
                        parts.extend((open_, key_open, xml_text(name), key_close))
                        element(item, value_open, value_close, parts)
                        parts.append(close)

            return encode_flat

        def encode(value: Any, open_: str, close: str, parts: list[str]) -> None:
            parts.append(open_)
            for name, item in value.items():
                if item is not None:
                    parts.extend(("<entry>", key_open, xml_text(name), key_close))
                    element(item, value_open, value_close, parts)
                    parts.append("</entry>")
            parts.append(close)

        return encode
