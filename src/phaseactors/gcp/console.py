"""The operator console on Cloud Run, behind Identity-Aware Proxy (extras ``gcp`` and
``console``)::

    gunicorn --bind :$PORT --workers 1 --threads 8 'phaseactors.gcp.console:create_app()'

IAP signs every request it lets through with an ES256 JWT in the ``x-goog-iap-jwt-assertion``
header. :class:`IapAuthenticator` verifies it with google-auth against IAP's public keys
(signature, audience, issuer, expiry) and takes its ``email`` as the identity, recorded as
``by`` in the history of every key an action changes. Every page but ``/healthz`` needs a
valid assertion: a request without one did not come through the proxy.

Configuration (``docs/console.md``): ``PHASEACTORS_CONSOLE_IAP_AUDIENCE`` (required),
``PHASEACTORS_CONSOLE_GATES``, ``PHASEACTORS_STORE`` (default ``firestore://$PROJECT``),
``PHASEACTORS_PUBLISHER`` (default ``pubsub://$PROJECT``), and for actions
``PHASEACTORS_CONSOLE_ALLOW_ACTIONS=1`` with ``PHASEACTORS_CONSOLE_SECRET``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ..config import Settings
from ..console.auth import Headers
from ..console.context import ConsoleOptions
from ..console.setup import discover_gates, open_console
from ..errors import ConfigurationError
from .cloud_logging import configure_cloud_logging

__all__ = ["ASSERTION_HEADER", "IAP_CERTS_URL", "IAP_ISSUER", "IapAuthenticator", "create_app"]

ASSERTION_HEADER = "x-goog-iap-jwt-assertion"
IAP_CERTS_URL = "https://www.gstatic.com/iap/verify/public_key"
IAP_ISSUER = "https://cloud.google.com/iap"
_CERTS_MAX_AGE = 3600.0  # IAP rotates its keys slowly; an unknown key id refreshes sooner
_REFRESH_AFTER = 60.0
_CLOCK_SKEW = 30

log = logging.getLogger("phaseactors.console")


class IapAuthenticator:
    """The identity in the IAP-signed assertion of each request, or nobody."""

    signs_in = False
    required = True

    def __init__(self, audience: str, certs_url: str = IAP_CERTS_URL) -> None:
        if not audience:
            raise ConfigurationError("the IAP audience must not be empty")
        self.audience = audience
        self.certs_url = certs_url
        self._certs: Mapping[str, str] = {}
        self._fetched = 0.0
        self._lock = threading.Lock()

    def identify(self, headers: Headers, session: Mapping[str, Any]) -> str | None:
        token = headers.get(ASSERTION_HEADER)
        if not token:
            return None
        try:
            claims = self.verify(token)
        except Exception as error:  # any verification failure refuses the request
            log.warning("refused an IAP assertion: %s: %s", type(error).__name__, error)
            return None
        email = claims.get("email")
        return email if isinstance(email, str) and email else None

    def sign_in(self, given: str, session: MutableMapping[str, Any]) -> str | None:
        return None

    def verify(self, token: str) -> Mapping[str, Any]:
        """The claims of a valid assertion; raises for any other."""
        from google.auth import jwt

        decode: Any = jwt.decode
        certs = self._keys(refresh=False)
        try:
            claims = decode(
                token, certs=certs, audience=self.audience, clock_skew_in_seconds=_CLOCK_SKEW
            )
        except ValueError as error:
            if "Certificate for key id" not in str(error):
                raise
            claims = decode(  # a key IAP started using since the last fetch
                token,
                certs=self._keys(refresh=True),
                audience=self.audience,
                clock_skew_in_seconds=_CLOCK_SKEW,
            )
        if claims.get("iss") != IAP_ISSUER:
            raise ValueError(f"issuer {claims.get('iss')!r} is not IAP")
        return dict(claims)

    def _keys(self, *, refresh: bool) -> Mapping[str, str]:
        """IAP's public keys by key id, fetched at most once a minute."""
        with self._lock:
            age = time.monotonic() - self._fetched
            if self._certs and age < (_REFRESH_AFTER if refresh else _CERTS_MAX_AGE):
                return self._certs
            from google.auth.transport import requests as google_requests

            response = google_requests.Request()(url=self.certs_url, method="GET")
            if response.status != 200:
                raise ValueError(f"IAP keys: HTTP {response.status} from {self.certs_url}")
            keys = json.loads(response.data)
            if not isinstance(keys, dict) or not keys:
                raise ValueError(f"IAP keys: no key in the answer of {self.certs_url}")
            self._certs, self._fetched = keys, time.monotonic()
            return self._certs


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """The console from the environment, for gunicorn on Cloud Run."""
    settings = Settings.from_env(environ)
    audience = settings.console_iap_audience
    if not audience:
        raise ConfigurationError(
            "PHASEACTORS_CONSOLE_IAP_AUDIENCE is not set: the console on Cloud Run serves only"
            " requests that came through Identity-Aware Proxy, for this audience"
        )
    allow = settings.console_allow_actions == "1"
    if allow and not settings.console_secret:
        raise ConfigurationError(
            "PHASEACTORS_CONSOLE_ALLOW_ACTIONS=1 needs PHASEACTORS_CONSOLE_SECRET, shared by"
            " every instance, to sign form tokens and confirmations"
        )
    store, publisher = settings.cloud_urls()
    configure_cloud_logging()
    options = ConsoleOptions(
        allow_actions=allow,
        authenticator=IapAuthenticator(audience),
        secure_cookies=True,
        secret_key=settings.console_secret,
    )
    gates = discover_gates(dict(environ) if environ is not None else None)
    app = open_console(gates, store=store, publisher=publisher, options=options)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1)  # type: ignore[method-assign]
    return app
