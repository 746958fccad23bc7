"""What keeps the console's pages inert and its actions deliberate.

* Response headers: a Content-Security-Policy that allows scripts, styles and images from the
  console itself only (no inline script or style, no framing, forms post only back to it),
  ``nosniff``, no referrer to other sites (a same-origin one, so that forms carry their
  ``Origin``), and no caching of pages that carry a form token.
* CSRF: every form carries the session's random token, compared in constant time; a request
  whose ``Origin`` or ``Sec-Fetch-Site`` says it came from another site is refused as well.
* Confirmation: reviewing an action signs what will be done (action, key, reason, who, the
  key's version) with the app's secret; only that signed summary, younger than five minutes
  and for a key that has not changed since, is carried out.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, MutableMapping
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from .auth import Headers

__all__ = [
    "CONFIRM_SECONDS",
    "CONTENT_SECURITY_POLICY",
    "Confirmations",
    "csrf_refusal",
    "csrf_token",
    "security_headers",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: An SVG diagram opened on its own runs nothing and loads nothing; Graphviz styles inline.
DIAGRAM_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"
CONFIRM_SECONDS = 300
_CSRF = "csrf"


def security_headers(*, diagram: bool = False) -> dict[str, str]:
    return {
        "Content-Security-Policy": DIAGRAM_POLICY if diagram else CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "SAMEORIGIN" if diagram else "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's form token, made on first use."""
    token = session.get(_CSRF)
    if not isinstance(token, str):
        token = session[_CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_refusal(
    session: Mapping[str, Any], form: Mapping[str, str], headers: Headers, origin: str
) -> str | None:
    """None when a form post is the console's own, else why not."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"the form was posted from another site ({site})"
    sent_from = headers.get("Origin")
    if sent_from is not None and sent_from != origin:
        return "the form was posted from another origin"
    expected = session.get(_CSRF)
    given = form.get(_CSRF, "")
    if not isinstance(expected, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        return "the form token is missing or stale: reload the page and try again"
    return None


class Confirmations:
    """Signs and checks the summary of an action a person reviewed."""

    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="phaseactors-console-confirm")

    def sign(self, summary: Mapping[str, Any]) -> str:
        return str(self._serializer.dumps(dict(summary)))

    def check(self, token: str) -> dict[str, Any] | None:
        """The summary, or None when the token is forged, altered or too old."""
        try:
            summary = self._serializer.loads(token, max_age=CONFIRM_SECONDS)
        except BadSignature:
            return None
        return summary if isinstance(summary, dict) else None
