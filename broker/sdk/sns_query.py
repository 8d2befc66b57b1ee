"""The SNS query protocol, as much of it as the SDK's HTTP transport needs: form fields
for requests (``Attributes.entry.N.key``, ``MessageAttributes.entry.N.Value.DataType``,
``Tags.member.N.Key``, ...) and the ``<{Action}Result>`` element of XML responses."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from broker.types import MessageAttributes

VERSION = "2010-03-31"
XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
_NS = f"{{{XMLNS}}}"


def attribute_fields(prefix: str, attrs: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for i, (k, v) in enumerate(attrs.items(), 1):
        out[f"{prefix}.entry.{i}.key"] = k
        out[f"{prefix}.entry.{i}.value"] = v
    return out


def tag_fields(tags: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for i, (k, v) in enumerate(tags.items(), 1):
        out[f"Tags.member.{i}.Key"] = k
        out[f"Tags.member.{i}.Value"] = v
    return out


def message_attribute_fields(prefix: str, attrs: MessageAttributes) -> dict[str, str]:
    out = {}
    for i, (name, value) in enumerate(attrs.items(), 1):
        base = f"{prefix}.entry.{i}"
        out[f"{base}.Name"] = name
        out[f"{base}.Value.DataType"] = value["DataType"]
        if "BinaryValue" in value:
            out[f"{base}.Value.BinaryValue"] = base64.b64encode(
                bytes(value["BinaryValue"])).decode()
        else:
            out[f"{base}.Value.StringValue"] = str(value.get("StringValue", ""))
    return out


def result(body: bytes, action: str) -> ET.Element:
    """The ``<{action}Result>`` of a successful response (an empty one when absent)."""
    root = ET.fromstring(body)
    found = root.find(f"{_NS}{action}Result")
    return found if found is not None else ET.Element(f"{action}Result")


def error(body: bytes) -> tuple[str, str]:
    """(code, message) of an ``<ErrorResponse>`` ('' when the body is not one)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", body.decode(errors="replace")
    code = root.findtext(f".//{_NS}Code") or root.findtext(".//Code") or ""
    message = root.findtext(f".//{_NS}Message") or root.findtext(".//Message") or ""
    return code, message


def text(element: ET.Element, path: str) -> str | None:
    return element.findtext("/".join(f"{_NS}{p}" for p in path.split("/")))


def members(element: ET.Element, path: str) -> list[ET.Element]:
    """The ``<member>`` elements of a list at ``path``."""
    parent = element.find("/".join(f"{_NS}{p}" for p in path.split("/")))
    return [] if parent is None else parent.findall(f"{_NS}member")


def entries(element: ET.Element, path: str) -> dict[str, str]:
    """A ``<entry><key/><value/></entry>`` map at ``path``."""
    parent = element.find(f"{_NS}{path}")
    out: dict[str, str] = {}
    if parent is not None:
        for e in parent.findall(f"{_NS}entry"):
            out[e.findtext(f"{_NS}key") or ""] = e.findtext(f"{_NS}value") or ""
    return out


def fields(params: Mapping[str, Any]) -> dict[str, str]:
    """Scalar parameters as form fields (booleans as ``true``/``false``, None left out)."""
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out
