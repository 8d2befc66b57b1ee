"""Signing SNS messages as SNS does, so subscribers can check that a message came from the
broker: RSA (PKCS#1 v1.5) over a canonical string of the message's fields, SHA1 for
``SignatureVersion`` 1 and SHA256 for 2, with the certificate published at
``SigningCertURL`` (``GET /SimpleNotificationService-<id>.pem`` on the broker server).

The key and its self-signed certificate are made once per Redis, on first use, and kept
in Redis (``rc:sns:signing``), so every broker process and in-process engine on that
Redis signs with the same key. ``verify`` is what a subscriber runs.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from broker.engine.keys import PREFIX
from broker.engine.scripts import AnyRedis

SIGNING_KEY = f"{PREFIX}:sns:signing"
#: the fields signed, in order, per message type (as SNS documents them)
_SIGNED: Mapping[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp",
                                 "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp",
                                "Token", "TopicArn", "Type"),
}


def string_to_sign(message: Mapping[str, Any]) -> str:
    """The canonical text SNS signs: ``name\\nvalue\\n`` for each signed field present."""
    names = _SIGNED.get(str(message.get("Type")), _SIGNED["Notification"])
    return "".join(f"{n}\n{message[n]}\n" for n in names if message.get(n) is not None)


def _hash(version: str) -> hashes.HashAlgorithm:
    return hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 (SNS v1)


def verify(message: Mapping[str, Any], certificate_pem: bytes) -> bool:
    """True when ``message`` (an SNS envelope as a dict) carries a valid signature by the
    certificate's key."""
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem)
        signature = base64.b64decode(str(message["Signature"]))
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        key.verify(signature, string_to_sign(message).encode(), padding.PKCS1v15(),
                   _hash(str(message.get("SignatureVersion", "1"))))
    except (KeyError, ValueError, InvalidSignature):
        return False
    return True


class MessageSigner:
    """Signs with the Redis-wide key; ``await ready()`` before ``sign``."""

    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis
        self._key: rsa.RSAPrivateKey | None = None
        self.cert_id = ""
        self.cert_pem = b""

    async def ready(self) -> None:
        if self._key is not None:
            return
        raw = await self._redis.get(SIGNING_KEY)
        if raw is None:
            await self._redis.set(SIGNING_KEY, _new_bundle(), nx=True)
            raw = await self._redis.get(SIGNING_KEY)
        if raw is None:
            raise RuntimeError("the SNS signing key could not be stored in Redis")
        bundle = json.loads(raw)
        key = serialization.load_pem_private_key(bundle["key"].encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the SNS signing key in Redis is not an RSA key")
        self._key = key
        self.cert_pem = bundle["cert"].encode()
        self.cert_id = bundle["id"]

    def sign(self, message: Mapping[str, Any], version: str) -> str:
        if self._key is None:
            raise RuntimeError("MessageSigner.sign before ready()")
        return base64.b64encode(self._key.sign(
            string_to_sign(message).encode(), padding.PKCS1v15(), _hash(version))).decode()

    def cert_url(self, public_url: str) -> str:
        return f"{public_url}/SimpleNotificationService-{self.cert_id}.pem"


def _new_bundle() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.redcurrent.local")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return json.dumps({"key": key_pem.decode(), "cert": cert_pem.decode(),
                       "id": hashlib.sha256(cert_pem).hexdigest()[:32]})
