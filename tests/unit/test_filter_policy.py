"""SNS filter policies: validation errors (texts from AWS-recorded responses) and matching
(cases AWS delivered or did not)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker import errors
from broker.engine.filter_policy import compile_policy, is_empty


def attrs(**values: Any) -> dict[str, dict[str, str]]:
    out = {}
    for name, value in values.items():
        if isinstance(value, list):
            out[name] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
        elif isinstance(value, (int, float)):
            out[name] = {"DataType": "Number", "StringValue": str(value)}
        else:
            out[name] = {"DataType": "String", "StringValue": value}
    return out


ERRORS = [
    ({"a": "x"}, '"a" must be an object or an array'),
    ({"key": {"suffix": "value"}}, '"suffix" must be an object or an array'),
    ({"k": [["v"]]}, "Match value must be String, number, true, false, or null"),
    ({"k": [{"wrong-operator": True}]}, "Unrecognized match type wrong-operator"),
    ({"k": [{"suffix": "v", "prefix": "w"}]}, "Only one key allowed in match expression"),
    ({"k": [{"suffix": 100}]}, "suffix match pattern must be a string"),
    ({"k": [{"exists": "no"}]}, "exists match pattern must be either true or false."),
    ({"k": [{"anything-but": {"suffix": "t"}}]}, "Unsupported anything-but pattern: suffix"),
    ({"k": [{"anything-but": {"prefix": False}}]}, "prefix match pattern must be a string"),
    ({"k": [{"numeric": []}]}, "Invalid member in numeric match: ]"),
    ({"k": [{"numeric": ["operator"]}]}, "Unrecognized numeric range operator: operator"),
    ({"k": [{"numeric": [1, "<="]}]}, "Invalid member in numeric match: 1"),
    ({"k": [{"numeric": ["=", "000"]}]}, "Value of equals must be numeric"),
    ({"k": [{"numeric": [">="]}]}, "Value of >= must be numeric"),
    ({"k": [{"numeric": ["<", 100, ">", 10]}]}, "Too many elements in numeric expression"),
    ({"k": [{"numeric": [">", 20, 30]}]}, "Bad value in numeric range: 30"),
    ({"k": [{"numeric": [">=", 1, ">", 2]}]}, "Bad numeric range operator: >"),
    ({"k": [{"numeric": [">", 20, "<="]}]}, "Value of <= must be numeric"),
    ({"k": [{"numeric": [">", 3, "<", 1]}]}, "Bottom must be less than top"),
    ({"k": [{"numeric": [">", 20, "<", 30, "<", 50]}]},
     "Too many terms in numeric range expression"),
    ({f"key_{i}": ["v"] for i in range(6)}, "Filter policy can not have more than 5 keys"),
    ({"key": [f"value{i}" for i in range(151)]}, "Filter policy is too complex"),
    ({"source": list(range(4)), "$or": [
        {"metricName": list(range(6))},
        {"metricType": list(range(4)),
         "$or": [{"metricId": list(range(4))}, {"spaceId": list(range(4))}]}]},
     "Filter policy is too complex"),
    ({"k": [{"cidr": "10.0.0.0"}]}, "Malformed CIDR, one '/' required"),
]


@pytest.mark.parametrize(("policy", "reason"), ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_validation_errors(policy: dict[str, Any], reason: str) -> None:
    with pytest.raises(errors.InvalidParameter) as exc:
        compile_policy(json.dumps(policy), "MessageBody")
    assert exc.value.message == f"Invalid parameter: FilterPolicy: {reason}"
    with pytest.raises(errors.InvalidParameter) as sub:
        compile_policy(json.dumps(policy), "MessageBody",
                       prefix="Invalid parameter: Attributes Reason: ")
    assert sub.value.message.startswith("Invalid parameter: Attributes Reason: FilterPolicy: ")


def test_scope_and_limits() -> None:
    with pytest.raises(errors.InvalidParameter) as exc:
        compile_policy('{"object":{"key":[{"prefix":"auto-"}]}}')
    assert exc.value.message == ("Invalid parameter: Filter policy scope MessageAttributes "
                                 "does not support nested filter policy")
    exactly_150 = {"source": list(range(3)), "$or": [
        {"metricName": list(range(6))},
        {"metricType": list(range(4)),
         "$or": [{"metricId": list(range(4))}, {"spaceId": list(range(7))}]}]}
    compile_policy(json.dumps(exactly_150))
    nested_160 = {"$or": [{"metricName": [1, 2, 3]}, {"namespace": [1, 2]}],
                  "detail": {"scope": [1, 2], "$or": [{"source": [1]}, {"type": [1, 2, 3]}]}}
    with pytest.raises(errors.InvalidParameter, match="too complex"):
        compile_policy(json.dumps(nested_160), "MessageBody")
    with pytest.raises(errors.InvalidParameter, match="failed to parse JSON"):
        compile_policy("{invalidjson}")
    assert is_empty("") and is_empty("{}") and not is_empty('{"a":["b"]}')


def test_attribute_matching() -> None:
    p = compile_policy(json.dumps({
        "store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}],
        "customer_interests": ["rugby", "football", "baseball"],
        "price_usd": [{"numeric": [">=", 100]}]}))
    good = attrs(store="example_corp", event="order_placed",
                 customer_interests=["soccer", "rugby", "hockey"], price_usd=210.75)
    assert p.matches_attributes(good)
    assert not p.matches_attributes({**good, **attrs(price_usd=99)})
    assert not p.matches_attributes({**good, **attrs(event="order_cancelled")})
    assert not p.matches_attributes({k: v for k, v in good.items() if k != "store"})

    numeric = compile_policy('{"n":[{"numeric":[">",0,"<=",100]}]}')
    assert numeric.matches_attributes(attrs(n=99))
    assert not numeric.matches_attributes(attrs(n=111))
    assert not numeric.matches_attributes(attrs(n="99"))  # a String is not a number
    exact = compile_policy('{"n":[5]}')
    assert exact.matches_attributes(attrs(n=5)) and not exact.matches_attributes(attrs(n="5"))

    assert compile_policy('{"k":[{"prefix":"bas"}]}').matches_attributes(attrs(k="baseball"))
    assert compile_policy('{"k":[{"suffix":"ball"}]}').matches_attributes(attrs(k="baseball"))
    assert compile_policy('{"k":[{"equals-ignore-case":"RuGbY"}]}').matches_attributes(
        attrs(k=["tennis", "rugby"]))
    but = compile_policy('{"k":[{"anything-but":["rugby","tennis"]}]}')
    assert but.matches_attributes(attrs(k=["rugby", "baseball"]))
    assert not but.matches_attributes(attrs(k="rugby"))
    assert compile_policy('{"k":[{"anything-but":{"prefix":"order-"}}]}').matches_attributes(
        attrs(k="order_number"))
    cidr = compile_policy('{"ip":[{"cidr":"10.0.0.0/24"}]}')
    assert cidr.matches_attributes(attrs(ip="10.0.0.255"))
    assert not cidr.matches_attributes(attrs(ip="10.0.1.255"))
    assert not cidr.matches_attributes(attrs(ip="10.0.0.256"))

    exists = compile_policy('{"store":[{"exists":false}]}')
    assert exists.matches_attributes(attrs(other="x"))
    assert not exists.matches_attributes(attrs(store="x", other="x"))
    assert not exists.matches_attributes({})  # no attributes: no policy matches
    binary = {"store": {"DataType": "Binary", "BinaryValue": b"x"}}
    assert not compile_policy('{"store":[{"exists":true}]}').matches_attributes(binary)
    null_or_but = compile_policy('{"attr1":[null,{"anything-but":"whatever"}]}')
    assert not null_or_but.matches_attributes({})

    either = compile_policy('{"f1":["v1"],"$or":[{"f2":["v2"]},{"f3":["v3"]}]}')
    assert either.matches_attributes(attrs(f1="v1", f3="v3"))
    assert not either.matches_attributes(attrs(f1="v2", f3="v3"))


def test_body_matching() -> None:
    p = compile_policy(json.dumps({
        "object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"],
                   "nested_key": [{"exists": False}]},
        "test": [{"exists": False}]}), "MessageBody")
    for body, expected in [
        ({"object": {"key": "auto-test"}}, True),
        ({"object": {"key": "hardcodedvalue"}}, True),
        ({"object": {"key": "test-auto"}}, False),
        ({"object": {"key": "auto-test"}, "test": "just-exists"}, False),
        ({"object": {"key": "auto-test", "nested_key": "just-exists"}}, False),
        ({"object": {"test": "auto-test"}}, False),
        ({"test": "auto-test"}, False),
    ]:
        assert p.matches_body(json.dumps(body)) is expected, body
    assert not p.matches_body("Regular string message")
    assert not p.matches_body('"Regular string message"')

    dotted = compile_policy('{"object.nested":["string.value"]}', "MessageBody")
    assert dotted.matches_body('{"object":{"nested":"string.value"}}')
    assert dotted.matches_body('{"object.nested":"string.value"}')
    routes = compile_policy('{"headers":{"route-to":["queue1"]}}', "MessageBody")
    assert routes.matches_body('{"headers":{"route-to":["queue1","queue2"]}}')
    assert not routes.matches_body('{"headers":{"route-to":["queue3"]}}')
    records = compile_policy(json.dumps({
        "Records": {"s3": {"object": {"key": [{"prefix": "auto-"}]}},
                    "eventName": [{"prefix": "ObjectCreated:"}]}}), "MessageBody")
    assert records.matches_body(json.dumps({"Records": [
        {"eventName": "ObjectCreated:Put",
         "s3": {"object": [[{"key": "auto-insurance-2314.xml"}]]}}]}))
    nested_or = compile_policy(json.dumps({
        "$or": [{"f1": ["v1", "v2"]}, {"f2": ["v3", "v4"]}],
        "f3": {"f4": ["v5"], "$or": [{"f5": ["v6"]}, {"f6": ["v7"]}]}}), "MessageBody")
    assert nested_or.matches_body('{"f1":"v1","f3":{"f4":"v5","f6":"v7"}}')
    assert not nested_or.matches_body('{"f1":"v1","f3":{"f4":"v5"}}')
    typed = compile_policy('{"n":[100],"b":[true],"z":[null]}', "MessageBody")
    assert typed.matches_body('{"n":100,"b":true,"z":null}')
    assert not typed.matches_body('{"n":"100","b":true,"z":null}')
    assert not typed.matches_body('{"n":100,"b":"true","z":null}')
