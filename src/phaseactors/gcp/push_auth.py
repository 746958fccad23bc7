"""Who may call the ``push`` entry point: a shared token, or a Google-signed OIDC token of one
service account.

``PHASEACTORS_PUSH_TOKEN``            a shared secret, given as ``?token=`` (all a Pub/Sub push
                                      subscription can send) or the ``X-Phaseactors-Push-Token``
                                      header; compared in constant time, never logged
``PHASEACTORS_PUSH_AUDIENCE``         the audience an OIDC bearer token must carry (the push
                                      subscription's ``--push-auth-token-audience``)
``PHASEACTORS_PUSH_SERVICE_ACCOUNT``  the one service account whose tokens are accepted
                                      (``--push-auth-service-account``); required with an
                                      audience, since any Google-signed token for the audience
                                      would otherwise pass

A configuration with an audience but no service account is refused when the function starts.
A refused request gets 403 with the body ``unauthorized``; why goes to the log.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from ..config import Settings
from ..errors import ConfigurationError

__all__ = [
    "GOOGLE_CERTS_URL",
    "TOKEN_HEADER",
    "PushAuth",
    "RedactTokens",
    "redact_access_logs",
    "redact_tokens",
]

TOKEN_HEADER = "X-Phaseactors-Push-Token"
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
_GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"']*")


@frozen(kw_only=True)
class PushAuth:
    """The push entry point's credentials, from ``PHASEACTORS_PUSH_*``."""

    token: str | None = None
    audience: str | None = None
    service_account: str | None = None
    certs_url: str = GOOGLE_CERTS_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PushAuth:
        """Read the settings; raise :class:`ConfigurationError` for a configuration that
        would accept requests it should not, or none at all."""
        settings = Settings.from_env(environ)
        auth = cls(
            token=settings.push_token,
            audience=settings.push_audience,
            service_account=settings.push_service_account,
        )
        if auth.audience and not auth.service_account:
            raise ConfigurationError(
                "PHASEACTORS_PUSH_AUDIENCE is set but PHASEACTORS_PUSH_SERVICE_ACCOUNT is not:"
                " name the push subscription's service account, or any Google-signed token"
                " for the audience would be accepted"
            )
        if not auth.token and not auth.audience:
            raise ConfigurationError(
                "the push entry point needs PHASEACTORS_PUSH_TOKEN, or"
                " PHASEACTORS_PUSH_AUDIENCE with PHASEACTORS_PUSH_SERVICE_ACCOUNT"
            )
        return auth

    def refusal(self, headers: Mapping[str, str], args: Mapping[str, str]) -> str | None:
        """None when the request is allowed, else why it is not (for the log)."""
        if self.token:
            given = headers.get(TOKEN_HEADER) or args.get("token") or ""
            if hmac.compare_digest(given.encode(), self.token.encode()):
                return None
            if not self.audience:
                return "push token missing or wrong"
        bearer = headers.get("Authorization", "")
        if not bearer.startswith("Bearer "):
            return "no push token and no bearer token"
        try:
            claims = self._verify(bearer[len("Bearer ") :])
        except Exception as exc:  # any verification failure refuses the request
            return f"invalid OIDC token: {type(exc).__name__}: {exc}"
        if claims.get("email_verified") is not True:
            return f"OIDC token for {claims.get('email')!r} without a verified email"
        if claims.get("email") != self.service_account:
            return f"OIDC token is for {claims.get('email')!r}, not {self.service_account!r}"
        return None

    def _verify(self, token: str) -> Mapping[str, Any]:
        from google.auth.transport import requests as google_requests
        from google.oauth2 import id_token

        claims: Mapping[str, Any] = id_token.verify_token(
            token, google_requests.Request(), audience=self.audience, certs_url=self.certs_url
        )
        if claims.get("iss") not in _GOOGLE_ISSUERS:
            raise ValueError(f"issuer {claims.get('iss')!r} is not Google")
        return claims


def redact_tokens(text: str) -> str:
    """``text`` with the value of every ``token=`` URL parameter replaced by ``***``."""
    return _TOKEN_IN_URL.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """Removes push tokens from access-log lines (werkzeug's, gunicorn's), which quote the
    request URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        return True


def redact_access_logs() -> None:
    """Install :class:`RedactTokens` on the access loggers (idempotent)."""
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
