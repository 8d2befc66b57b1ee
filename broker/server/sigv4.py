"""Verify AWS Signature Version 4, byte for byte as botocore's ``SigV4Auth`` signs.

Two forms are accepted:

* the ``Authorization: AWS4-HMAC-SHA256 Credential=<key>/<YYYYMMDD>/<region>/<service>/
  aws4_request, SignedHeaders=<a;b;c>, Signature=<hex>`` header, with the time in
  ``X-Amz-Date`` (or, failing that, ``Date``);
* presigned URLs (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-SignedHeaders``, ``X-Amz-Signature`` and optionally ``X-Amz-Expires`` in the
  query), as ``botocore.auth.SigV4QueryAuth`` makes them.

The canonical request follows botocore (non-S3 services):

* path: dot segments and empty segments removed (``botocore.utils.normalize_url_path``),
  then percent-encoded once more with ``/`` and ``~`` kept. The path given here must be
  the *raw* path as it came off the wire (still percent-encoded), so a segment is
  encoded twice, as AWS specifies for every service but S3. Because of that
  normalisation ``/a//b/./c`` and ``/a/b/c`` carry the same signature, so the router
  must treat paths with equal :func:`canonical_path` alike (or refuse non-normal ones);
* query: each ``name=value`` decoded (``+`` is a space) and re-encoded with only
  ``A-Za-z0-9-_.~`` left as they are, sorted by name then value. botocore signs a query
  it finds already in the URL without re-encoding it; when that differs, that form is
  tried as well;
* headers: the ``SignedHeaders`` ones, lower-cased and sorted, values trimmed with
  inner whitespace runs collapsed, repeated headers joined with ``,``;
* payload: SHA-256 of the body. An ``X-Amz-Content-Sha256`` header, when sent, must
  equal it (``UNSIGNED-PAYLOAD`` and streaming payloads are refused, since the body would
  then be unauthenticated).

Errors are the ones AWS answers with (see ``broker.errors``):
:class:`MissingAuthenticationToken`, :class:`IncompleteSignature`,
:class:`InvalidClientTokenId`, :class:`SignatureDoesNotMatch`, :class:`RequestExpired`.
botocore neither retries nor corrects the clock on ``RequestExpired``: the caller sees
``ClientError`` with code ``RequestExpired``.

Checks run in this order: authentication present and well formed, request time, the
scope's date against the request time, clock skew / expiry, access key known, ``host``
(and ``x-amz-target`` when sent) among the signed headers, payload hash, signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from broker.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
)
from broker.server.credentials import Credential, CredentialStore

__all__ = [
    "ALGORITHM",
    "DEFAULT_MAX_SKEW",
    "MAX_PRESIGN_EXPIRES",
    "SIGNATURE_MISMATCH_MESSAGE",
    "Verifier",
    "canonical_path",
    "service_from_authorization",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
#: how far a request's time may be from the server's, either side (AWS: 15 minutes)
DEFAULT_MAX_SKEW = timedelta(minutes=15)
#: the longest a presigned URL may live (AWS: 7 days)
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
#: AWS's text for a signature that does not verify
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_MISSING_TOKEN_MESSAGE = "Request is missing Authentication Token"
_INVALID_KEY_MESSAGE = "The security token included in the request is invalid."
_EXPIRED_MESSAGE = "Request has expired."

_SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_TIMESTAMP_RE = re.compile(r"\d{8}T\d{6}Z")
_DATE_RE = re.compile(r"\d{8}")
_SCOPE_PART_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEADER_NAME_RE = re.compile(r"[^\s:;]+")
_SHA256_HEX_RE = re.compile(r"[0-9a-fA-F]{64}")
_TERMINATOR = "aws4_request"
_QUERY_SAFE = "-_.~"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_Q_ALGORITHM = "X-Amz-Algorithm"
_Q_CREDENTIAL = "X-Amz-Credential"
_Q_DATE = "X-Amz-Date"
_Q_SIGNED_HEADERS = "X-Amz-SignedHeaders"
_Q_SIGNATURE = "X-Amz-Signature"
_Q_EXPIRES = "X-Amz-Expires"
_PRESIGN_MARKERS = frozenset({_Q_ALGORITHM, _Q_CREDENTIAL, _Q_SIGNATURE})
_PRESIGN_REQUIRED = (_Q_ALGORITHM, _Q_CREDENTIAL, _Q_SIGNATURE, _Q_DATE, _Q_SIGNED_HEADERS)

#: headers that, when present, must be covered by the signature: ``host`` always (AWS
#: requires it), ``x-amz-target`` because it names the operation of a JSON request and
#: an unsigned one could turn a captured ReceiveMessage into a PurgeQueue
_MUST_SIGN_IF_PRESENT = ("x-amz-target",)

_Headers = dict[str, list[str]]
_KeyDeriver = Callable[[str, str, str, str], bytes]


# -- public helpers -------------------------------------------------------------------


def canonical_path(raw_path: str) -> str:
    """The path as it enters the canonical request (dot/empty segments removed, then
    percent-encoded again). Two raw paths with the same canonical path share signatures."""
    return quote(_remove_dot_segments(raw_path) if raw_path else "/", safe="/~",
                 errors="surrogateescape")


def service_from_authorization(
    headers: Mapping[str, str], query: str | None = None
) -> str | None:
    """The service named in the credential scope (``sqs``, ``sns``, ``kinesis``, ...),
    read without verifying anything, for dispatch. Looks at the ``Authorization`` header,
    then (when ``query`` is given) a presigned URL's ``X-Amz-Credential``. None when
    neither holds a well-formed scope."""
    h = _normalize_headers(headers)
    credential: str | None = None
    authz = h.get("authorization")
    if authz and len(authz) == 1:
        algorithm, rest = _split_authorization(authz[0])
        if algorithm == ALGORITHM:
            try:
                credential = _parse_authorization_params(rest).get("Credential")
            except IncompleteSignature:
                return None
    elif query:
        params = _decoded_params(_split_query(query))
        values = params.get(_Q_CREDENTIAL)
        if values and len(values) == 1:
            credential = values[0]
    if credential is None:
        return None
    try:
        return _parse_scope(credential)[3]
    except IncompleteSignature:
        return None


def verify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    store: CredentialStore,
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> Credential:
    """Verify one request's SigV4 signature and return the credential that signed it.

    A one-off convenience: it keeps no signing-key cache. A server should hold one
    :class:`Verifier` and call its :meth:`Verifier.verify` instead.

    Args:
        method: the HTTP method (``GET``, ``POST``...).
        path: the raw request path as sent, still percent-encoded, without the query.
        query: the raw query string as sent, without the ``?`` (``""`` when none).
        headers: the request headers; any mapping (a ``CIMultiDict`` keeps repeats).
        body: the request body, exactly as received.
        store: the accepted access keys.
        now: the current time, timezone-aware.
        max_skew: how far the request's time may be from ``now``, either side.

    Raises:
        MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId,
        SignatureDoesNotMatch, RequestExpired.
    """
    return Verifier(store, max_skew, cache_size=0).verify(
        method, path, query, headers, body, now
    )


# -- the verifier -------------------------------------------------------------------------


class Verifier:
    """Verifies SigV4 requests against one :class:`CredentialStore`.

    Derived signing keys (four HMACs each) are cached per (secret, date, region,
    service) in a small dict owned by this instance; when it fills up it is emptied,
    which keeps memory bounded whatever scopes clients send.
    """

    __slots__ = ("_cache_size", "_keys", "_max_skew", "_store")

    def __init__(
        self,
        store: CredentialStore,
        max_skew: timedelta = DEFAULT_MAX_SKEW,
        *,
        cache_size: int = 256,
    ) -> None:
        if max_skew < timedelta(0):
            raise ValueError("max_skew must not be negative")
        if cache_size < 0:
            raise ValueError("cache_size must not be negative")
        self._store = store
        self._max_skew = max_skew
        self._cache_size = cache_size
        self._keys: dict[tuple[str, str, str, str], bytes] = {}

    @property
    def store(self) -> CredentialStore:
        """The access keys this verifier accepts."""
        return self._store

    @property
    def max_skew(self) -> timedelta:
        """How far a request's time may be from the server's, either side."""
        return self._max_skew

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime | None = None,
    ) -> Credential:
        """Verify one request; see the module-level :func:`verify` for the arguments.
        ``now`` defaults to the current UTC time."""
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        if "?" in path:
            raise ValueError("path must not include the query string")
        return _verify(method, path, query, headers, body, self._store, now,
                       self._max_skew, self._signing_key)

    def _signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        cache_key = (secret, date, region, service)
        key = self._keys.get(cache_key)
        if key is None:
            key = _derive_key(secret, date, region, service)
            if self._cache_size:
                if len(self._keys) >= self._cache_size:
                    self._keys.clear()
                self._keys[cache_key] = key
        return key


# -- verification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Signed:
    """What the request claims: scope, signed headers, signature and time."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    """The request time in ``YYYYMMDD'T'HHMMSS'Z'`` form, as it goes into the string to sign."""
    when: datetime
    expires: int | None
    """Presigned URLs only: seconds the URL stays valid after ``when``."""


def _verify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    store: CredentialStore,
    now: datetime,
    max_skew: timedelta,
    signing_key: _KeyDeriver,
) -> Credential:
    h = _normalize_headers(headers)
    pairs = _split_query(query)
    params = _decoded_params(pairs)
    authz = h.get("authorization")
    if authz is not None and not any(v.strip() for v in authz):
        authz = None  # an empty Authorization header is no authentication at all
    presigned = any(name in params for name in _PRESIGN_MARKERS)

    if authz is not None and presigned:
        raise IncompleteSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
            "or the Authorization header should be specified."
        )
    if authz is None and not presigned:
        raise MissingAuthenticationToken(_MISSING_TOKEN_MESSAGE)
    signed = _from_query(params) if presigned else _from_header(authz or [], h)

    if signed.scope_date != signed.timestamp[:8]:
        raise SignatureDoesNotMatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
            f"date from HTTP: '{signed.scope_date}' != '{signed.timestamp[:8]}', "
            f"from '{signed.timestamp}'."
        )
    _check_time(signed, now.astimezone(UTC), max_skew)

    credential = store.get(signed.access_key_id)
    if credential is None:
        raise InvalidClientTokenId(_INVALID_KEY_MESSAGE)

    if "host" not in signed.signed_headers:
        raise IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    for name in _MUST_SIGN_IF_PRESENT:
        if name in h and name not in signed.signed_headers:
            raise IncompleteSignature(f"'{name}' must be a 'SignedHeader' when it is sent.")

    payload_hash = _payload_hash(h, body)
    key = signing_key(credential.secret_access_key, signed.scope_date, signed.region,
                      signed.service)
    scope = f"{signed.scope_date}/{signed.region}/{signed.service}/{_TERMINATOR}"
    head = f"{method.upper()}\n{canonical_path(path)}\n"
    tail = (
        f"\n{_canonical_headers(signed.signed_headers, h)}\n"
        f"{';'.join(signed.signed_headers)}\n{payload_hash}"
    )
    if presigned:
        pairs = [(k, v) for k, v in pairs if _decode(k) != _Q_SIGNATURE.encode()]
    provided = signed.signature.encode("utf-8", "surrogateescape")

    canonical_query = _canonical_query(pairs)
    if _matches(key, signed, scope, head + canonical_query + tail, provided):
        return credential
    # botocore signs a query already in the URL as it finds it, only sorted
    as_sent = "&".join(f"{k}={v}" for k, v in sorted(pairs)) if query else ""
    if as_sent != canonical_query and _matches(key, signed, scope, head + as_sent + tail,
                                               provided):
        return credential
    raise SignatureDoesNotMatch(SIGNATURE_MISMATCH_MESSAGE)


def _matches(key: bytes, signed: _Signed, scope: str, canonical_request: str,
             provided: bytes) -> bool:
    digest = hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape")).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{signed.timestamp}\n{scope}\n{digest}"
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), provided)


def _derive_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    k = hmac.digest(k, region.encode(), "sha256")
    k = hmac.digest(k, service.encode(), "sha256")
    return hmac.digest(k, _TERMINATOR.encode(), "sha256")


def _check_time(signed: _Signed, now: datetime, max_skew: timedelta) -> None:
    if signed.when - now > max_skew:  # from the future
        raise RequestExpired(_EXPIRED_MESSAGE)
    window = max_skew if signed.expires is None else timedelta(seconds=signed.expires)
    if now - signed.when > window:
        raise RequestExpired(_EXPIRED_MESSAGE)


# -- the Authorization header --------------------------------------------------------------


def _from_header(authz: list[str], h: _Headers) -> _Signed:
    if len(authz) != 1:
        raise IncompleteSignature("Only one Authorization header may be sent.")
    algorithm, rest = _split_authorization(authz[0])
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported authorization type; only {ALGORITHM} (Signature Version 4) "
            "is accepted."
        )
    fields = _parse_authorization_params(rest)
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    timestamp, when = _request_time(h, missing)
    if missing or timestamp is None or when is None:
        raise IncompleteSignature(" ".join(missing))
    key_id, date, region, service = _parse_scope(fields["Credential"])
    return _Signed(
        access_key_id=key_id,
        scope_date=date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(fields["SignedHeaders"]),
        signature=fields["Signature"].lower(),
        timestamp=timestamp,
        when=when,
        expires=None,
    )


def _split_authorization(value: str) -> tuple[str, str]:
    """``"AWS4-HMAC-SHA256 Credential=..., ..."`` -> algorithm, parameters."""
    parts = value.strip().split(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (value.strip(), "")


def _parse_authorization_params(rest: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        name, eq, val = part.partition("=")
        name = name.strip()
        if not eq:
            raise IncompleteSignature(
                f"Authorization header parameter '{name[:32]}' must have the form name=value."
            )
        if name in fields:
            raise IncompleteSignature(f"Authorization header repeats the '{name[:32]}' parameter.")
        fields[name] = val.strip()
    return fields


def _request_time(h: _Headers, problems: list[str]) -> tuple[str | None, datetime | None]:
    """``X-Amz-Date`` (basic ISO 8601) or else ``Date`` (RFC 1123). Problems are added to
    ``problems`` so they are reported with the other missing pieces."""
    amz = h.get("x-amz-date")
    if amz is not None:
        if len(amz) != 1:
            problems.append("Only one X-Amz-Date header may be sent.")
            return None, None
        parsed = _parse_timestamp(amz[0].strip())
        if parsed is None:
            problems.append(
                "X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'."
            )
            return None, None
        return amz[0].strip(), parsed
    date = h.get("date")
    if date is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a "
            "'Date' header."
        )
        return None, None
    try:
        if len(date) != 1:
            raise ValueError
        when = parsedate_to_datetime(date[0])
    except (TypeError, ValueError, IndexError, OverflowError):
        problems.append("Date must be an RFC 1123 date (e.g. Thu, 01 Jan 2026 00:00:00 GMT).")
        return None, None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime(_SIGV4_TIMESTAMP), when


# -- presigned URLs ------------------------------------------------------------------------


def _from_query(params: dict[str, list[str]]) -> _Signed:
    missing = [name for name in _PRESIGN_REQUIRED if not params.get(name)]
    repeated = [name for name in (*_PRESIGN_REQUIRED, _Q_EXPIRES)
                if len(params.get(name, ())) > 1]
    if missing or repeated:
        raise IncompleteSignature(
            "AWS query-string parameters must include 'X-Amz-Algorithm', "
            "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', "
            "each once. Re-examine the query-string parameters."
        )
    if params[_Q_ALGORITHM][0] != ALGORITHM:
        raise IncompleteSignature(
            f"X-Amz-Algorithm only supports '{ALGORITHM}'."
        )
    expires: int | None = None
    if _Q_EXPIRES in params:
        raw = params[_Q_EXPIRES][0]
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PRESIGN_EXPIRES:
            raise IncompleteSignature(
                f"X-Amz-Expires must be a whole number of seconds from 1 to "
                f"{MAX_PRESIGN_EXPIRES}."
            )
        expires = int(raw)
    timestamp = params[_Q_DATE][0]
    when = _parse_timestamp(timestamp)
    if when is None:
        raise IncompleteSignature(
            "X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'."
        )
    key_id, date, region, service = _parse_scope(params[_Q_CREDENTIAL][0])
    return _Signed(
        access_key_id=key_id,
        scope_date=date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(params[_Q_SIGNED_HEADERS][0]),
        signature=params[_Q_SIGNATURE][0].strip().lower(),
        timestamp=timestamp,
        when=when,
        expires=expires,
    )


# -- pieces ----------------------------------------------------------------------------------


def _parse_scope(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    shape = (
        "Credential must have the form "
        "<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request."
    )
    if len(parts) != 5:
        raise IncompleteSignature(shape)
    key_id, date, region, service, terminator = parts
    if not key_id or not _DATE_RE.fullmatch(date):
        raise IncompleteSignature(shape)
    if not _SCOPE_PART_RE.fullmatch(region):
        raise IncompleteSignature("Credential should be scoped to a valid region.")
    if not _SCOPE_PART_RE.fullmatch(service):
        raise IncompleteSignature("Credential should be scoped to correct service.")
    if terminator != _TERMINATOR:
        raise IncompleteSignature(
            "Credential should be scoped with a valid terminator: 'aws4_request'."
        )
    return key_id, date, region, service


def _parse_signed_headers(value: str) -> tuple[str, ...]:
    names = [n.strip().lower() for n in value.split(";")]
    if not all(_HEADER_NAME_RE.fullmatch(n) for n in names):
        raise IncompleteSignature("SignedHeaders must be header names separated by ';'.")
    return tuple(sorted(set(names)))


def _parse_timestamp(value: str) -> datetime | None:
    if not _TIMESTAMP_RE.fullmatch(value):
        return None
    try:  # the regex guarantees the digits; datetime() checks the ranges
        return datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[9:11]),
                        int(value[11:13]), int(value[13:15]), tzinfo=UTC)
    except ValueError:
        return None


def _normalize_headers(headers: Mapping[str, str]) -> _Headers:
    """Lower-cased name -> every value sent. ``items()`` of a multidict yields repeats."""
    out: _Headers = {}
    for name, value in headers.items():
        out.setdefault(name.lower(), []).append(value)
    return out


def _canonical_headers(names: tuple[str, ...], h: _Headers) -> str:
    # a signed header that is absent canonicalises to "name:" and then fails to match
    return "".join(
        f"{name}:{','.join(' '.join(v.split()) for v in h.get(name, ()))}\n" for name in names
    )


def _payload_hash(h: _Headers, body: bytes) -> str:
    actual = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    claimed = h.get("x-amz-content-sha256")
    if claimed is None:
        return actual
    if len(claimed) != 1 or not _SHA256_HEX_RE.fullmatch(claimed[0].strip()):
        raise IncompleteSignature(
            "X-Amz-Content-Sha256 must be the hex SHA-256 of the body; unsigned and "
            "streaming payloads are not accepted."
        )
    value = claimed[0].strip()
    if not hmac.compare_digest(value.lower().encode("ascii"), actual.encode("ascii")):
        raise SignatureDoesNotMatch(SIGNATURE_MISMATCH_MESSAGE)
    return value


def _split_query(query: str) -> list[tuple[str, str]]:
    """Raw ``(name, value)`` pairs as botocore splits them (``a`` gives ``("a", "")``)."""
    if not query:
        return []
    pairs: list[tuple[str, str]] = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        pairs.append((name, value))
    return pairs


def _decode(part: str) -> bytes:
    return unquote_to_bytes(part.replace("+", " "))


def _decoded_params(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        if name or value:
            key = _decode(name).decode("utf-8", "surrogateescape")
            out.setdefault(key, []).append(_decode(value).decode("utf-8", "surrogateescape"))
    return out


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    encoded = sorted(
        (quote(_decode(name), safe=_QUERY_SAFE), quote(_decode(value), safe=_QUERY_SAFE))
        for name, value in pairs
        if name or value
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _remove_dot_segments(path: str) -> str:
    """``botocore.utils.remove_dot_segments``: RFC 3986 5.2.4 plus empty segments removed."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment and segment != ".":
            if segment == "..":
                if out:
                    out.pop()
            else:
                out.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last
