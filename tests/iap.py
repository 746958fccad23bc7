"""A local Identity-Aware Proxy signer for the console's tests: an ES256 key, its public key
served over HTTP as IAP serves its keys (key id to PEM), and assertions signed as IAP signs
them. google-auth verifies them exactly as it would IAP's, only against this key."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import crypt, jwt

KEY_ID = "iap-test-key"
AUDIENCE = "/projects/123456789/locations/europe-west1/services/phaseactors-console"
EMAIL = "alice@example.com"


class Proxy:
    """Signs assertions; ``certs_url`` serves the public key."""

    def __init__(self, certs_url: str, private_pem: bytes) -> None:
        self.certs_url = certs_url
        self.requests = 0
        self._signer = crypt.ES256Signer.from_string(private_pem, key_id=KEY_ID)

    def assertion(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://cloud.google.com/iap",
            "aud": AUDIENCE,
            "email": EMAIL,
            "sub": "accounts.google.com:1234567890",
            "iat": now,
            "exp": now + 600,
            **overrides,
        }
        return jwt.encode(self._signer, {k: v for k, v in claims.items() if v is not None}).decode()


@contextmanager
def proxy() -> Iterator[Proxy]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = json.dumps({KEY_ID: public.decode()}).encode()
    served: list[Proxy] = []

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served[0].requests += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.append(Proxy(f"http://127.0.0.1:{server.server_port}/keys", private))
    try:
        yield served[0]
    finally:
        server.shutdown()
        server.server_close()
