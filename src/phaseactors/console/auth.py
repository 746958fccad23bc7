"""Who is asking: an :class:`Authenticator` names the person behind a request, or nobody.

Locally (:class:`TokenSignIn`) the person who starts the console configures a token; a
browser that signs in with it acts as that person, remembered in the signed session cookie.
On Cloud Run, :class:`phaseactors.gcp.console.IapAuthenticator` reads the identity from the
header Identity-Aware Proxy signs, on every request. Without either (:class:`Nobody`) the
console is read-only.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol

__all__ = ["Authenticator", "Headers", "Nobody", "TokenSignIn"]

_SESSION_IDENTITY = "identity"


class Headers(Protocol):
    """A request's headers, looked up by name whatever its case."""

    def get(self, key: str) -> str | None: ...


class Authenticator(Protocol):
    """How the console learns who sends a request."""

    @property
    def signs_in(self) -> bool:
        """Whether people sign in with a form (a token), rather than arrive identified."""
        ...

    @property
    def required(self) -> bool:
        """Whether every page (but ``/healthz``) needs an identity, not only actions."""
        ...

    def identify(self, headers: Headers, session: Mapping[str, Any]) -> str | None:
        """The identity of the request's sender, or None."""
        ...

    def sign_in(self, given: str, session: MutableMapping[str, Any]) -> str | None:
        """Check a signing-in person's token; remember and return their identity, or None."""
        ...


class Nobody:
    """No identity for anyone: read-only."""

    signs_in = False
    required = False

    def identify(self, headers: Headers, session: Mapping[str, Any]) -> str | None:
        return None

    def sign_in(self, given: str, session: MutableMapping[str, Any]) -> str | None:
        return None


class TokenSignIn:
    """One configured token, one identity: the person who started the console."""

    signs_in = True
    required = False

    def __init__(self, token: str, identity: str) -> None:
        if len(token) < 16:
            raise ValueError("the console token must have at least 16 characters")
        self._token = token.encode()
        self.identity = identity

    def __repr__(self) -> str:  # the token never appears in a log or a traceback
        return f"TokenSignIn(identity={self.identity!r})"

    def identify(self, headers: Headers, session: Mapping[str, Any]) -> str | None:
        value = session.get(_SESSION_IDENTITY)
        return value if value == self.identity else None

    def sign_in(self, given: str, session: MutableMapping[str, Any]) -> str | None:
        if not hmac.compare_digest(given.encode(), self._token):
            return None
        session[_SESSION_IDENTITY] = self.identity
        return self.identity
