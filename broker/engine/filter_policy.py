"""SNS subscription filter policies: validated and compiled once, then matched per
message.

A policy is a JSON object. Keys name message attributes (``MessageAttributes`` scope)
or paths into a JSON message body (``MessageBody`` scope, where objects nest and dotted
keys are the same as nesting); values are arrays of conditions, any of which may match
(OR), and every key must match (AND). ``{"$or": [policy, policy, ...]}`` matches when
one of its policies does. Conditions: exact strings, numbers, ``true``/``false``/``null``;
``{"prefix": s}``, ``{"suffix": s}``, ``{"equals-ignore-case": s}``;
``{"anything-but": value | [values] | {"prefix": s}}``; ``{"numeric": [op, n, (op, n)]}``;
``{"exists": true | false}``; ``{"cidr": "10.0.0.0/24"}``. An attribute of type
``String.Array`` (or an array in the body) matches element-wise.

``compile_policy(text, scope)`` raises ``InvalidParameter`` ("Invalid parameter:
FilterPolicy: ...") for a policy SNS would refuse, and returns a ``Matcher``;
``Matcher.matches_attributes(attrs)`` / ``matches_body(body)`` evaluate it.
"""

from __future__ import annotations

import ipaddress
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from broker.errors import InvalidParameter

MAX_KEYS: Final = 5
MAX_COMBINATIONS: Final = 150
_CACHE_MAX: Final = 4096

_NUMERIC_OPS: Final = ("=", "<", "<=", ">", ">=")

Condition = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class _Leaf:
    path: str
    strings: frozenset[str]
    """Exact string values (the common case: a set lookup, not a call per value)."""
    numbers: frozenset[float]
    """Exact numbers."""
    conditions: tuple[Condition, ...]
    """The other conditions on the values (any may match one value)."""
    if_present: bool
    """``{"exists": true}`` is among the conditions: any value matches."""
    if_absent: bool
    """``{"exists": false}`` is among the conditions: no value matches."""
    count: int
    """How many conditions the policy listed (for the combinations limit)."""


@dataclass(frozen=True, slots=True)
class _All:
    parts: tuple[_Leaf | _Any, ...]


@dataclass(frozen=True, slots=True)
class _Any:
    options: tuple[_All, ...]


class Matcher:
    """A compiled filter policy."""

    __slots__ = ("_root", "scope")

    def __init__(self, root: _All, scope: str) -> None:
        self._root = root
        self.scope = scope

    def matches_attributes(self, attributes: Mapping[str, Mapping[str, Any]]) -> bool:
        """Against message attributes in boto3's shape (``{"DataType", "StringValue"}``).
        Binary attributes are ignored, as SNS does; a message without attributes matches
        no policy (not even ``exists: false``)."""
        if not attributes:
            return False
        return _eval(self._root, AttributeValues(attributes))

    def matches_parsed(self, attributes: AttributeValues, body: str) -> bool:
        """``matches`` with the attributes parsed once for every subscription."""
        if self.scope == "MessageBody":
            return self.matches_body(body)
        return attributes.nonempty and _eval(self._root, attributes)

    def matches_body(self, body: str) -> bool:
        """Against a message body; a body that is not a JSON object matches nothing."""
        try:
            parsed = json.loads(body)
            if not isinstance(parsed, dict):
                return False
            values: dict[str, list[Any]] = {}
            _flatten(parsed, "", values)
        except (ValueError, RecursionError):  # not JSON, or nested beyond any policy
            return False
        return _eval(self._root, values)

    def matches(self, attributes: Mapping[str, Mapping[str, Any]], body: str) -> bool:
        if self.scope == "MessageBody":
            return self.matches_body(body)
        return self.matches_attributes(attributes)


_cache: dict[tuple[str, str], Matcher] = {}


class _Invalid(Exception):
    """A validation failure; ``bare`` reasons take no "FilterPolicy: " prefix."""

    def __init__(self, reason: str, bare: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.bare = bare


def is_empty(text: str | None) -> bool:
    """'' or ``{}`` removes a subscription's policy (everything matches)."""
    if not text:
        return True
    try:
        return bool(json.loads(text) == {})
    except (ValueError, RecursionError):
        return False


def compile_policy(text: str, scope: str = "MessageAttributes",
                   prefix: str = "Invalid parameter: ") -> Matcher:
    """Validate and compile a policy (cached by its text and scope). ``prefix`` starts
    the error message: ``Invalid parameter: `` (SetSubscriptionAttributes) or
    ``Invalid parameter: Attributes Reason: `` (Subscribe)."""
    key = (text, scope)
    found = _cache.get(key)
    if found is not None:
        return found
    try:
        try:
            root = _compile(text, scope == "MessageBody")
        except RecursionError:
            raise _Invalid("Filter policy is too complex") from None
    except _Invalid as exc:
        raise InvalidParameter(prefix + (exc.reason if exc.bare
                                         else f"FilterPolicy: {exc.reason}")) from None
    matcher = Matcher(root, scope)
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[key] = matcher
    return matcher


def _compile(text: str, nested_ok: bool) -> _All:
    try:
        policy = json.loads(text)
    except ValueError:
        raise _Invalid("failed to parse JSON.") from None
    if not isinstance(policy, dict) or not policy:
        raise _Invalid("failed to parse JSON.")
    if len(policy) > MAX_KEYS:
        raise _Invalid("Filter policy can not have more than 5 keys")
    _check_shape(policy)
    if not nested_ok and any(isinstance(v, dict) for v in policy.values()):
        raise _Invalid("Filter policy scope MessageAttributes does not support nested "
                       "filter policy", bare=True)
    if _count(policy) > MAX_COMBINATIONS:
        raise _Invalid("Filter policy is too complex")
    return _compile_object(policy, "")


def _is_or(key: str, value: Any) -> bool:
    return key == "$or" and isinstance(value, list) and len(value) >= 2 and all(
        isinstance(v, dict) and v and not (set(v) & _OPERATORS) for v in value)


def _check_shape(policy: Mapping[str, Any]) -> None:
    """Every value is an object or a non-empty array ("... must be an object or an
    array" wins over the nested-scope error)."""
    for key, value in policy.items():
        if _is_or(key, value):
            for branch in value:
                _check_shape(branch)
        elif isinstance(value, dict):
            _check_shape(value)
        elif not isinstance(value, list):
            raise _Invalid(f"\"{key}\" must be an object or an array")
        elif not value:
            raise _Invalid("Empty arrays are not allowed")


def _count(obj: Mapping[str, Any], depth: int = 1, acc: int = 1) -> int:
    """Combinations: rule counts multiplied (times the nesting depth), ``$or`` branches
    summed."""
    for key, value in obj.items():
        if _is_or(key, value):
            acc = sum(_count(branch, depth, acc) for branch in value)
        elif isinstance(value, dict):
            acc = _count(value, depth + 1, acc)
        else:
            acc = acc * len(value) * depth
    return acc


_OPERATORS: Final = frozenset({"prefix", "suffix", "equals-ignore-case", "anything-but",
                               "numeric", "exists", "cidr"})


def _compile_object(policy: Mapping[str, Any], prefix: str) -> _All:
    parts: list[_Leaf | _Any] = []
    for key, value in policy.items():
        if _is_or(key, value):
            parts.append(_Any(tuple(_compile_object(v, prefix) for v in value)))
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            parts.extend(_compile_object(value, path).parts)
        else:
            parts.append(_compile_leaf(path, value))
    return _All(tuple(parts))


def _compile_leaf(path: str, values: Sequence[Any]) -> _Leaf:
    conditions: list[Condition] = []
    strings: set[str] = set()
    numbers: set[float] = set()
    if_present = if_absent = False
    for v in values:
        if isinstance(v, dict):
            if len(v) != 1:
                raise _Invalid("Only one key allowed in match expression")
            (op, arg), = v.items()
            if op == "exists":
                if not isinstance(arg, bool):
                    raise _Invalid("exists match pattern must be either true or false.")
                if arg:
                    if_present = True
                else:
                    if_absent = True
            else:
                conditions.append(_operator(op, arg))
        elif isinstance(v, str):
            strings.add(v)
        elif v is None or isinstance(v, bool):
            conditions.append(_equals(v))
        elif isinstance(v, (int, float)):
            numbers.add(float(v))
        else:
            raise _Invalid("Match value must be String, number, true, false, or null")
    return _Leaf(path, frozenset(strings), frozenset(numbers), tuple(conditions), if_present,
                 if_absent, len(values))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _string_arg(op: str, arg: Any) -> str:
    if not isinstance(arg, str):
        raise _Invalid(f"{op} match pattern must be a string")
    return arg


def _operator(op: str, arg: Any) -> Condition:
    if op == "prefix":
        p = _string_arg(op, arg)
        return lambda x: isinstance(x, str) and x.startswith(p)
    if op == "suffix":
        p = _string_arg(op, arg)
        return lambda x: isinstance(x, str) and x.endswith(p)
    if op == "equals-ignore-case":
        low = _string_arg(op, arg).lower()
        return lambda x: isinstance(x, str) and x.lower() == low
    if op == "anything-but":
        return _anything_but(arg)
    if op == "numeric":
        return _numeric(arg)
    if op == "cidr":
        return _cidr(_string_arg("prefix", arg))
    raise _Invalid(f"Unrecognized match type {op}")


def _anything_but(arg: Any) -> Condition:
    if isinstance(arg, dict):
        if len(arg) != 1:
            raise _Invalid("Only one key allowed in match expression")
        (op, value), = arg.items()
        if op != "prefix":
            raise _Invalid(f"Unsupported anything-but pattern: {op}")
        p = _string_arg("prefix", value)
        return lambda x: isinstance(x, str) and not x.startswith(p)
    if isinstance(arg, list):
        items = arg
    elif isinstance(arg, str) or _is_number(arg):
        items = [arg]
    else:
        raise _Invalid("Value of anything-but must be an array or single string/number "
                       "value.")
    if any(i is None or isinstance(i, bool) for i in items):
        raise _Invalid("Inside anything but list, start|null|boolean is not supported.")
    if not all(isinstance(i, str) or _is_number(i) for i in items):
        raise _Invalid("Value of anything-but must be an array or single string/number "
                       "value.")
    if len({isinstance(i, str) for i in items}) > 1:
        raise _Invalid("Inside anything but list, either all values are number or string, "
                       "mixed type is not supported")
    strings = {i for i in items if isinstance(i, str)}
    numbers = {float(i) for i in items if not isinstance(i, str)}

    def condition(x: Any) -> bool:
        if isinstance(x, str):
            return x not in strings
        if isinstance(x, float):
            return x not in numbers
        return False
    return condition


def _numeric(arg: Any) -> Condition:
    if not isinstance(arg, list):
        raise _Invalid("Value of numeric must be an array.")
    if not arg:
        raise _Invalid("Invalid member in numeric match: ]")
    first = arg[0]
    if not isinstance(first, str):
        raise _Invalid(f"Invalid member in numeric match: {_text(first)}")
    if first not in _NUMERIC_OPS:
        raise _Invalid(f"Unrecognized numeric range operator: {first}")
    if len(arg) < 2 or not _is_number(arg[1]):
        raise _Invalid(f"Value of {'equals' if first == '=' else first} must be numeric")
    checks = [(first, float(arg[1]))]
    if len(arg) > 2:
        if first not in (">", ">="):
            raise _Invalid("Too many elements in numeric expression")
        second = arg[2]
        if not isinstance(second, str):
            raise _Invalid(f"Bad value in numeric range: {_text(second)}")
        if second not in ("<", "<="):
            raise _Invalid(f"Bad numeric range operator: {second}")
        if len(arg) < 4 or not _is_number(arg[3]):
            raise _Invalid(f"Value of {second} must be numeric")
        if float(arg[3]) <= checks[0][1]:
            raise _Invalid("Bottom must be less than top")
        if len(arg) > 4:
            raise _Invalid("Too many terms in numeric range expression")
        checks.append((second, float(arg[3])))

    (op1, v1), *rest = checks
    f1 = _COMPARE[op1]
    if not rest:
        return lambda x: type(x) is float and f1(x, v1)
    (op2, v2), = rest
    f2 = _COMPARE[op2]
    return lambda x: type(x) is float and f1(x, v1) and f2(x, v2)


def _text(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else str(v)


_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge}


def _cidr(arg: str) -> Condition:
    if arg.count("/") != 1:
        raise _Invalid("Malformed CIDR, one '/' required")
    address, _, bits = arg.partition("/")
    if not bits.isdigit():
        raise _Invalid("Malformed CIDR, mask bits must be an integer")
    try:
        network = ipaddress.ip_network(arg, strict=False)
    except ValueError:
        raise _Invalid(f"Nonstandard IP address: {address}") from None

    def condition(x: Any) -> bool:
        if not isinstance(x, str):
            return False
        try:
            return ipaddress.ip_address(x) in network
        except ValueError:
            return False
    return condition


def _equals(v: Any) -> Condition:
    """``true``, ``false`` or ``null``: the same JSON value (not 1, 0 or a string)."""
    return lambda x: x is v


# -- matching ----------------------------------------------------------------------------


def _attribute_values(attr: Mapping[str, Any]) -> list[Any]:
    data_type = attr.get("DataType")
    text = attr.get("StringValue")
    if data_type == "String":
        return [text]
    if data_type == "Number":
        try:
            return [float(text)]  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return []
    if data_type == "String.Array":
        try:
            items = json.loads(text)  # type: ignore[arg-type]
        except (TypeError, ValueError, RecursionError):
            return []
        return [_scalar(i) for i in items] if isinstance(items, list) else []
    data_type = str(data_type)
    if data_type.startswith("String"):
        return [text]
    if data_type.startswith("Number"):
        return _attribute_values({"DataType": "Number", "StringValue": text})
    return []  # Binary: ignored, as SNS does


def _scalar(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    return json.dumps(v)


def _flatten(obj: Mapping[str, Any], prefix: str, out: dict[str, list[Any]]) -> None:
    for key, value in obj.items():
        _flatten_value(value, f"{prefix}.{key}" if prefix else key, out)


def _flatten_value(value: Any, path: str, out: dict[str, list[Any]]) -> None:
    """Objects nest paths; arrays (of arrays, of objects) give one candidate per leaf."""
    if isinstance(value, dict):
        _flatten(value, path, out)
    elif isinstance(value, list):
        for item in value:
            _flatten_value(item, path, out)
    else:
        out.setdefault(path, []).append(_scalar(value))


class AttributeValues:
    """An attribute map's values for matching, each parsed on first use (a policy names
    few of them); one per message, shared by every subscription's policy."""

    __slots__ = ("_attrs", "_parsed", "nonempty")

    def __init__(self, attributes: Mapping[str, Mapping[str, Any]]) -> None:
        self._attrs = attributes
        self._parsed: dict[str, list[Any]] = {}
        self.nonempty = bool(attributes)

    def get(self, name: str) -> list[Any] | None:
        try:
            return self._parsed[name]
        except KeyError:
            attr = self._attrs.get(name)
            found = self._parsed[name] = _attribute_values(attr) if attr is not None else []
            return found


def _eval(node: _All, values: Any) -> bool:
    """``values``: a dict of path -> values, or an ``AttributeValues``."""
    for part in node.parts:
        if isinstance(part, _Any):
            if not any(_eval(o, values) for o in part.options):
                return False
            continue
        present = values.get(part.path)
        if not present:
            if not part.if_absent:
                return False
            continue
        if part.if_present and any(x is not None for x in present):
            continue
        if part.strings or part.numbers:
            hit = False
            for x in present:
                if (type(x) is str and x in part.strings) or (
                        type(x) is float and x in part.numbers):
                    hit = True
                    break
            if hit:
                continue
        if not any(c(x) for x in present for c in part.conditions):
            return False
    return True
