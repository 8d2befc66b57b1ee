"""The access keys the server accepts for AWS Signature Version 4.

A :class:`CredentialStore` is an immutable mapping from access key id to
:class:`Credential`. It is built from a JSON file, from ``BROKER_*`` variables, or
both (:meth:`CredentialStore.merged`); nothing here is global.

The file format::

    {"credentials": [
        {"access_key_id": "AKIDEXAMPLE",
         "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
         "account_id": "000000000000"}
    ]}

``account_id`` is optional (the caller's default applies). Error messages name the
offending entry and field, never a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from broker.engine.settings import DEFAULT_ACCOUNT_ID

__all__ = [
    "ENV_ACCESS_KEY_ID",
    "ENV_ACCOUNT_ID",
    "ENV_SECRET_ACCESS_KEY",
    "Credential",
    "CredentialStore",
]

#: environment variable holding the one access key id configured without a file
ENV_ACCESS_KEY_ID = "BROKER_ACCESS_KEY_ID"
#: environment variable holding that key's secret
ENV_SECRET_ACCESS_KEY = "BROKER_SECRET_ACCESS_KEY"
#: optional environment variable: the account that key acts as
ENV_ACCOUNT_ID = "BROKER_CREDENTIAL_ACCOUNT_ID"

# An access key id travels in ``Credential=<id>/<date>/<region>/<service>/aws4_request``,
# so it cannot hold '/', ',', '=' or whitespace; AWS's own ids are [A-Z0-9]{16,128}.
_ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9_+.@-]{1,128}")
# The same shape ``broker.engine.validation`` accepts in queue ARNs.
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIELDS = frozenset({"access_key_id", "secret_access_key", "account_id"})


@dataclass(frozen=True, slots=True)
class Credential:
    """One access key the server accepts. Its ``repr`` leaves out the secret."""

    access_key_id: str
    """The public half, sent in every request's credential scope."""
    secret_access_key: str = field(repr=False)
    """The shared secret the request signature is derived from; never logged."""
    account_id: str
    """The account requests signed with this key act as (it owns the queues they make)."""

    def __post_init__(self) -> None:
        if not isinstance(self.access_key_id, str) or not _ACCESS_KEY_ID.fullmatch(
            self.access_key_id
        ):
            raise ValueError(
                "access_key_id must be 1-128 characters of letters, digits and _+.@-"
            )
        if not isinstance(self.secret_access_key, str) or not self.secret_access_key:
            raise ValueError(f"secret_access_key of {self.access_key_id!r} must be non-empty")
        if not isinstance(self.account_id, str) or not _ACCOUNT_ID.fullmatch(self.account_id):
            raise ValueError(
                f"account_id of {self.access_key_id!r} must be 1-64 letters, digits, '_' or '-'"
            )


class CredentialStore(Mapping[str, Credential]):
    """An immutable mapping ``access key id -> Credential``.

    ``get(access_key_id)`` returns the :class:`Credential` or None for an unknown key.
    An empty store is falsy: the server then runs without authentication.
    """

    __slots__ = ("_by_key",)

    _by_key: Mapping[str, Credential]

    def __init__(self, credentials: Iterable[Credential] = ()) -> None:
        by_key: dict[str, Credential] = {}
        for cred in credentials:
            if not isinstance(cred, Credential):
                raise TypeError(f"expected Credential, got {type(cred).__name__}")
            if cred.access_key_id in by_key:
                raise ValueError(f"access key {cred.access_key_id!r} is defined twice")
            by_key[cred.access_key_id] = cred
        self._by_key = MappingProxyType(by_key)

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def empty(cls) -> CredentialStore:
        """A store with no keys (authentication off)."""
        return cls()

    @classmethod
    def from_file(
        cls, path: str | Path, default_account: str = DEFAULT_ACCOUNT_ID
    ) -> CredentialStore:
        """Load ``{"credentials": [...]}`` from ``path`` (UTF-8 JSON).

        Raises:
            OSError: the file cannot be read.
            ValueError: the file is not valid JSON or not of the documented shape; the
                message names the entry and field but never includes a secret.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: credentials file is not UTF-8 text") from None
        try:
            doc: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            # exc.doc / str(exc) could quote the file's content: report the position only
            raise ValueError(
                f"{path}: credentials file is not valid JSON "
                f"({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
        return cls._from_document(doc, str(path), default_account)

    @classmethod
    def _from_document(cls, doc: Any, where: str, default_account: str) -> CredentialStore:
        if not isinstance(doc, dict) or "credentials" not in doc:
            raise ValueError(f'{where}: expected a JSON object {{"credentials": [...]}}')
        extra = sorted(str(k) for k in doc if k != "credentials")
        if extra:
            raise ValueError(f"{where}: unknown top-level field(s): {', '.join(extra)}")
        entries = doc["credentials"]
        if not isinstance(entries, list):
            raise ValueError(f'{where}: "credentials" must be a list')
        if not entries:
            raise ValueError(f'{where}: "credentials" is empty')
        creds: list[Credential] = []
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            at = f"{where}: credentials[{i}]"
            if not isinstance(entry, dict):
                raise ValueError(f"{at}: expected an object")
            unknown = sorted(str(k) for k in entry if k not in _FIELDS)
            if unknown:
                raise ValueError(
                    f"{at}: unknown field(s) {', '.join(unknown)} "
                    "(allowed: access_key_id, secret_access_key, account_id)"
                )
            key_id = entry.get("access_key_id")
            if not isinstance(key_id, str) or not _ACCESS_KEY_ID.fullmatch(key_id):
                raise ValueError(
                    f"{at}: access_key_id must be a string of 1-128 letters, digits and _+.@-"
                )
            secret = entry.get("secret_access_key")
            if not isinstance(secret, str) or not secret:
                raise ValueError(f"{at} ({key_id}): secret_access_key must be a non-empty string")
            account = entry.get("account_id", default_account)
            if not isinstance(account, str) or not _ACCOUNT_ID.fullmatch(account):
                raise ValueError(
                    f"{at} ({key_id}): account_id must be 1-64 letters, digits, '_' or '-'"
                )
            if key_id in seen:
                raise ValueError(f"{at}: access key {key_id!r} is defined twice")
            seen.add(key_id)
            creds.append(Credential(key_id, secret, account))
        return cls(creds)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], default_account: str = DEFAULT_ACCOUNT_ID
    ) -> CredentialStore:
        """One key from ``BROKER_ACCESS_KEY_ID`` + ``BROKER_SECRET_ACCESS_KEY`` (and the
        optional ``BROKER_CREDENTIAL_ACCOUNT_ID``); an empty store when neither is set.

        An empty value counts as unset. Setting only one of the pair is an error.
        """
        key_id = env.get(ENV_ACCESS_KEY_ID) or ""
        secret = env.get(ENV_SECRET_ACCESS_KEY) or ""
        account = env.get(ENV_ACCOUNT_ID) or ""
        if not key_id and not secret:
            if account:
                raise ValueError(f"{ENV_ACCOUNT_ID} is set but {ENV_ACCESS_KEY_ID} is not")
            return cls()
        if not key_id:
            raise ValueError(f"{ENV_SECRET_ACCESS_KEY} is set but {ENV_ACCESS_KEY_ID} is not")
        if not secret:
            raise ValueError(f"{ENV_ACCESS_KEY_ID} is set but {ENV_SECRET_ACCESS_KEY} is not")
        if not _ACCESS_KEY_ID.fullmatch(key_id):
            raise ValueError(
                f"{ENV_ACCESS_KEY_ID} must be 1-128 letters, digits and _+.@-"
            )
        account = account or default_account
        if not _ACCOUNT_ID.fullmatch(account):
            raise ValueError(
                f"{ENV_ACCOUNT_ID} (or the default account) must be 1-64 letters, "
                "digits, '_' or '-'"
            )
        return cls([Credential(key_id, secret, account)])

    def merged(self, other: CredentialStore) -> CredentialStore:
        """The union of both stores.

        A key present in both must be identical there (secret and account); a key
        defined differently in two places is refused rather than silently picked.
        """
        combined = dict(self._by_key)
        for key_id, cred in other.items():
            mine = combined.get(key_id)
            if mine is not None and mine != cred:
                raise ValueError(f"access key {key_id!r} is defined differently in two sources")
            combined[key_id] = cred
        return CredentialStore(list(combined.values()))

    # -- mapping --------------------------------------------------------------------

    def __getitem__(self, access_key_id: str) -> Credential:
        return self._by_key[access_key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def __contains__(self, access_key_id: object) -> bool:
        return access_key_id in self._by_key

    def __repr__(self) -> str:
        return f"CredentialStore(access_key_ids={sorted(self._by_key)!r})"
