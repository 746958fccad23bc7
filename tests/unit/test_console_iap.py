"""The console behind Identity-Aware Proxy: the signed assertion is the identity, verified
with google-auth; without a valid one every page but /healthz is refused."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console_support import Sample, form_token, json_of, make_sample
from iap import AUDIENCE, EMAIL, Proxy, proxy
from phaseactors.errors import ConfigurationError
from phaseactors.gcp.console import ASSERTION_HEADER, IapAuthenticator, create_app

KEY_PAGE = "/gates/phase2_to_phase3/keys/2025-12-10"


@pytest.fixture
def iap() -> Iterator[Proxy]:
    with proxy() as running:
        yield running


@pytest.fixture
def sample(tmp_path: Path, iap: Proxy) -> Sample:
    return make_sample(
        tmp_path,
        allow_actions=True,
        authenticator=IapAuthenticator(AUDIENCE, certs_url=iap.certs_url),
    )


def test_a_valid_assertion_is_the_identity(sample: Sample, iap: Proxy) -> None:
    client = sample.app.test_client()
    answer = client.get("/", headers={ASSERTION_HEADER: iap.assertion()})
    assert answer.status_code == 200
    assert f"signed in as <strong>{EMAIL}</strong>" in answer.get_data(as_text=True)
    for _ in range(3):
        client.get("/", headers={ASSERTION_HEADER: iap.assertion()})
    assert iap.requests == 1  # IAP's keys are fetched once, not per request


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "/projects/1/global/backendServices/2"},
        {"iss": "https://accounts.google.com"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000},
        {"email": None},
    ],
    ids=["audience", "issuer", "expired", "no email"],
)
def test_an_invalid_assertion_is_refused(sample: Sample, iap: Proxy, claims: dict) -> None:
    client = sample.app.test_client()
    for path in ("/", KEY_PAGE, "/quarantine", f"{KEY_PAGE}?format=json"):
        answer = client.get(path, headers={ASSERTION_HEADER: iap.assertion(**claims)})
        assert answer.status_code == 403, path


def test_no_assertion_or_a_forged_one_is_refused_but_health_answers(
    sample: Sample, iap: Proxy
) -> None:
    client = sample.app.test_client()
    assert client.get("/").status_code == 403
    assert json_of(client.get("/?format=json").data) == {"error": "unauthorized"}
    forged = iap.assertion()[:-4] + "AAAA"
    assert client.get("/", headers={ASSERTION_HEADER: forged}).status_code == 403
    with proxy() as other:  # signed by a key IAP does not have
        assert client.get("/", headers={ASSERTION_HEADER: other.assertion()}).status_code == 403
    assert client.get("/healthz").status_code == 200


def test_an_action_records_the_proxy_identity(sample: Sample, iap: Proxy) -> None:
    client = sample.app.test_client()
    headers = {ASSERTION_HEADER: iap.assertion()}
    csrf = form_token(client.get(KEY_PAGE, headers=headers).get_data(as_text=True))
    review = client.post(
        f"{KEY_PAGE}/actions/fail", data={"csrf": csrf, "reason": "bad feed"}, headers=headers
    )
    assert review.status_code == 200
    confirmation = re.search(r'name="confirmation" value="([^"]+)"', review.get_data(as_text=True))
    assert confirmation
    done = client.post(
        f"{KEY_PAGE}/actions/fail/confirm",
        data={"csrf": csrf, "confirmation": confirmation[1]},
        headers=headers,
    )
    assert done.status_code == 303
    snapshot = sample.runtimes["phase2_to_phase3"].load("2025-12-10")
    assert snapshot.state == "failed"
    assert (snapshot.history[-1].by, snapshot.history[-1].cause) == (EMAIL, "bad feed")


def test_cloud_run_settings_are_checked_at_start(tmp_path: Path) -> None:
    base = {"PHASEACTORS_STORE": "memory://", "PHASEACTORS_PUBLISHER": "log://"}
    with pytest.raises(ConfigurationError, match="PHASEACTORS_CONSOLE_IAP_AUDIENCE"):
        create_app(base)
    with pytest.raises(ConfigurationError, match="PHASEACTORS_CONSOLE_SECRET"):
        create_app(
            {
                **base,
                "PHASEACTORS_CONSOLE_IAP_AUDIENCE": AUDIENCE,
                "PHASEACTORS_CONSOLE_ALLOW_ACTIONS": "1",
            }
        )
    app = create_app(
        {
            **base,
            "PHASEACTORS_CONSOLE_IAP_AUDIENCE": AUDIENCE,
            "PHASEACTORS_CONSOLE_GATES": "phase2_to_phase3,phase3_to_phase4",
        }
    )
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 403
    assert app.config["SESSION_COOKIE_SECURE"] is True
    console = app.extensions["phaseactors_console"]
    assert list(console.gates) == ["phase2_to_phase3", "phase3_to_phase4"]
    assert console.options.allow_actions is False
