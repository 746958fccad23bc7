"""A local OIDC issuer for push-authentication tests: an RSA key, its certificate served over
HTTP in Google's v1 certs format, and Google-style ID tokens signed with it. The tokens are
verified by google-auth exactly as Google's would be, only against these certificates."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

KEY_ID = "test-key-1"
AUDIENCE = "https://gate.example.com/push"
ACCOUNT = "push-invoker@project.iam.gserviceaccount.com"


class Issuer:
    """Signs ID tokens; ``certs_url`` serves the matching certificate."""

    def __init__(self, certs_url: str, private_pem: bytes) -> None:
        self.certs_url = certs_url
        self._signer = crypt.RSASigner.from_string(private_pem, key_id=KEY_ID)

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "email": ACCOUNT,
            "email_verified": True,
            "iat": now,
            "exp": now + 600,
            "sub": "1234567890",
            **overrides,
        }
        return jwt.encode(self._signer, {k: v for k, v in claims.items() if v is not None}).decode()


def _key_and_certificate() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "phaseactors test issuer")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private, certificate.public_bytes(serialization.Encoding.PEM)


@contextmanager
def issuer() -> Iterator[Issuer]:
    private, certificate = _key_and_certificate()
    body = json.dumps({KEY_ID: certificate.decode()}).encode()

    class Certs(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Certs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Issuer(f"http://127.0.0.1:{server.server_port}/certs", private)
    finally:
        server.shutdown()
        server.server_close()
