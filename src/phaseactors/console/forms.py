"""The console's forms: signing in with the local token, and the two steps of an action
(review, then confirm). Every post is CSRF-checked; actions run only when the console was
started with them allowed."""

from __future__ import annotations

from flask import Flask, Response, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ..core.untrusted import printable
from ..errors import PhaseactorsError
from .actions import ACTIONS, ActionRefused, carry_out, review
from .context import Console
from .respond import json_response, refuse, wants_json
from .security import csrf_refusal

__all__ = ["register_forms"]


def _origin() -> str:
    return request.host_url.rstrip("/")


def register_forms(app: Flask, console: Console) -> None:
    authenticator = console.options.authenticator

    def checked() -> Response | None:
        why = csrf_refusal(session, request.form, request.headers, _origin())
        return None if why is None else refuse(403, why)

    @app.get("/login")
    def login() -> ResponseReturnValue:
        if not authenticator.signs_in:
            return refuse(404, "this console does not sign people in")
        return render_template("login.html", failed=False)

    @app.post("/login")
    def login_post() -> ResponseReturnValue:
        if not authenticator.signs_in:
            return refuse(404, "this console does not sign people in")
        refused = checked()
        if refused is not None:
            return refused
        identity = authenticator.sign_in(request.form.get("token", ""), session)
        if identity is None:
            return Response(render_template("login.html", failed=True), status=403)
        session.pop("csrf", None)  # the signed-in session gets a form token of its own
        return redirect(url_for("grid"), 303)

    @app.post("/logout")
    def logout() -> ResponseReturnValue:
        refused = checked()
        if refused is not None:
            return refused
        session.clear()
        return redirect(url_for("grid"), 303)

    @app.post("/gates/<gate>/keys/<key>/actions/<action>")
    def action_review(gate: str, key: str, action: str) -> ResponseReturnValue:
        if not console.options.allow_actions:
            return refuse(403, "actions are disabled: start the console with --allow-actions")
        refused = checked()
        if refused is not None:
            return refused
        lane = console.gates.get(gate)
        if lane is None:
            return refuse(404, f"no gate {printable(gate)!r} in this console")
        try:
            summary = review(lane, action, key, request.form.get("reason", ""), g.identity)
        except ActionRefused as error:
            return refuse(error.status, error.message)
        token = console.confirmations.sign(summary)
        return render_template("confirm.html", summary=summary, action=ACTIONS[action], token=token)

    @app.post("/gates/<gate>/keys/<key>/actions/<action>/confirm")
    def action_confirm(gate: str, key: str, action: str) -> ResponseReturnValue:
        if not console.options.allow_actions:
            return refuse(403, "actions are disabled: start the console with --allow-actions")
        refused = checked()
        if refused is not None:
            return refused
        lane = console.gates.get(gate)
        if lane is None:
            return refuse(404, f"no gate {printable(gate)!r} in this console")
        summary = console.confirmations.check(request.form.get("confirmation", ""))
        if summary is None or (summary.get("action"), summary.get("key")) != (action, key):
            return refuse(400, "the confirmation is missing, altered or older than 5 minutes")
        try:
            delivery = carry_out(lane, summary, g.identity)
        except ActionRefused as error:
            return refuse(error.status, error.message)
        except PhaseactorsError as error:
            return refuse(409, printable(str(error)))
        snapshot = delivery.snapshot
        if wants_json():
            return json_response(
                {
                    "gate": lane.name,
                    "key": delivery.key,
                    "state": snapshot.state,
                    "generation": snapshot.generation,
                    "by": summary["by"],
                    "reason": summary["reason"],
                    "trigger_id": snapshot.data.trigger.trigger_id
                    if snapshot.data.trigger
                    else None,
                    "published": list(delivery.published),
                }
            )
        flash(
            f"{ACTIONS[action].label}: {lane.name}/{delivery.key} is now {snapshot.state}"
            f" (by {summary['by']})"
        )
        return redirect(url_for("key", gate=gate, key=delivery.key), 303)
