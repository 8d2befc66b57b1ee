"""AWS Signature Version 4 for the SDK's HTTP requests (header form, POST to a path).

Kept small and dependency-free so the SDK does not need botocore; tests check it against
the server's verifier and against botocore's signer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Signer:
    def __init__(self, access_key_id: str, secret_access_key: str, region: str,
                 service: str) -> None:
        self._key_id = access_key_id
        self._secret = secret_access_key
        self._region = region
        self._service = service

    def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes,
                now: datetime | None = None) -> dict[str, str]:
        """The headers to add (Host, X-Amz-Date, X-Amz-Content-Sha256, Authorization)."""
        now = now or datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        parts = urlsplit(url)
        payload_hash = hashlib.sha256(body).hexdigest()
        signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
        signed.update({"host": parts.netloc, "x-amz-date": amz_date,
                       "x-amz-content-sha256": payload_hash})
        names = sorted(signed)
        canonical = "\n".join([
            method.upper(),
            quote(parts.path or "/", safe="/-_.~"),
            "&".join(sorted(parts.query.split("&"))) if parts.query else "",
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload_hash,
        ])
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        to_sign = "\n".join([ALGORITHM, amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = _hmac(_hmac(_hmac(_hmac(f"AWS4{self._secret}".encode(), day), self._region),
                          self._service), "aws4_request")
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Host": parts.netloc,
            "X-Amz-Date": amz_date,
            "X-Amz-Content-Sha256": payload_hash,
            "Authorization": f"{ALGORITHM} Credential={self._key_id}/{scope}, "
                             f"SignedHeaders={';'.join(names)}, Signature={signature}",
        }
