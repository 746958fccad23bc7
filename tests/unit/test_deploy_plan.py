"""The deploy plan: every resource once, least-privilege roles, dead letters kept, retry on the
trigger, and idempotence shown against an in-memory cloud (``fake_cloud``)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from fake_cloud import NUMBER, FakeCloud
from phaseactors import load_spec
from phaseactors.cli import deploy as deploy_cli
from phaseactors.gate.spec import GateSpec
from phaseactors.gate.spec_loader import gate_files
from phaseactors.gcp.deploy import (
    MAX_DELIVERY_ATTEMPTS,
    SERVICES,
    Binding,
    Command,
    Completed,
    DeployFailed,
    GateResources,
    Plan,
    PrerequisiteMissing,
    Target,
    build_plan,
    check_source,
    execute,
    index_config,
    render_index_config,
)
from phaseactors.pipeline import PipelineSpec, load_pipeline, pipeline_files
from support import REPO

PROJECT = "my-project"
GATES = [p.stem for p in gate_files(REPO / "machines")]
PIPELINES = [p.stem for p in pipeline_files([REPO / "machines"])]
AGENT = f"serviceAccount:service-{NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"


def account(name: str) -> str:
    return f"serviceAccount:{name}@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture
def specs() -> list[GateSpec]:
    return [load_spec(REPO / "machines" / f"{gate}.toml") for gate in GATES]


@pytest.fixture
def pipelines() -> list[PipelineSpec]:
    return [load_pipeline(REPO / "machines" / f"{name}.toml") for name in PIPELINES]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A staged function source: what deploy.sh puts next to main.py."""
    staged = tmp_path / "cloud_function"
    shutil.copytree(
        REPO / "examples" / "cloud_function",
        staged,
        ignore=shutil.ignore_patterns("vendor", "machines"),
    )
    (staged / "vendor").mkdir()
    (staged / "vendor" / "phaseactors-0.1.0-py3-none-any.whl").write_bytes(b"wheel")
    shutil.copytree(REPO / "machines", staged / "machines")
    return staged


@pytest.fixture
def target(source: Path) -> Target:
    return Target(
        project=PROJECT, region="us-west2", source=source, rules=REPO / "stores" / "firestore.rules"
    )


@pytest.fixture
def plan(target: Target, specs: list[GateSpec], pipelines: list[PipelineSpec]) -> Plan:
    return build_plan(target, specs, pipelines)


def grants(plan: Plan) -> dict[str, set[tuple[str, str]]]:
    """Per member: (role, where) for every grant in the plan."""
    found: dict[str, set[tuple[str, str]]] = {}
    for step in plan.steps:
        for check in step.present:
            if isinstance(check, Binding):
                where = step.resource.name.split(" ")[0]
                found.setdefault(check.member, set()).add(
                    (check.role, f"{step.resource.kind} {where}")
                )
    return found


# -- the dry-run plan ----------------------------------------------------------------------


def test_the_docs_count_the_resources_of_the_shipped_gates(plan: Plan) -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    total = len(plan.resources())
    assert re.search(r"the plan has (\d+) resources", text).group(1) == str(total)  # type: ignore[union-attr]
    assert f"describes all {total} resources" in text


def test_every_resource_is_in_the_plan_once(plan: Plan) -> None:
    counts = Counter(plan.resources())
    assert [r for r, n in counts.items() if n > 1] == []
    kinds = Counter(r.kind for r in plan.resources())
    assert kinds["service"] == len(SERVICES)
    assert kinds["database"] == 1
    actors = len(GATES) + len(PIPELINES)  # each with a handle and a sweep function
    assert kinds["service-account"] == 1 + 2 * actors  # the invoker, handle and sweep
    # per gate input, output, dead letters; the shared lifecycle and alerts topics; per
    # pipeline the dead letters of its lifecycle topic
    assert kinds["topic"] == 3 * len(GATES) + 2 + len(PIPELINES)
    assert kinds["subscription"] == actors + 1  # dead letters, and the alerts
    assert kinds["function"] == 2 * actors
    assert kinds["scheduler-job"] == actors
    assert kinds["trigger-subscription"] == actors
    assert kinds["rules"] == 1
    assert kinds["composite-index"] == 2  # the quarantine's (gate, at), and its resolutions'
    assert kinds["ttl-policy"] == 1 + actors  # inbox documents and each gate's or run's keys


def test_a_shared_topic_is_one_resource(target: Target, specs: list[GateSpec]) -> None:
    twin = specs[0].__class__(**{**_fields(specs[0]), "name": "twin"})
    plan = build_plan(target, [specs[0], twin])
    topics = [r.name for r in plan.resources() if r.kind == "topic"]
    assert sorted(topics) == sorted(
        {
            specs[0].input_topic,
            specs[0].output_topic,
            f"{specs[0].input_topic}-dead-letter",
            specs[0].lifecycle_topic,
            specs[0].alerts_topic,
        }
    )


def _fields(spec: GateSpec) -> dict[str, object]:
    import attrs

    return {a.name: getattr(spec, a.name) for a in attrs.fields(type(spec)) if a.init}


def test_roles_per_account_are_exactly_what_each_needs(
    plan: Plan, specs: list[GateSpec], pipelines: list[PipelineSpec]
) -> None:
    found = grants(plan)
    for spec in specs:
        names = GateResources.of(spec)
        for runtime in (names.handle_account, names.sweep_account):
            assert found.pop(account(runtime)) == {
                ("roles/datastore.user", "project-binding roles/datastore.user"),
                ("roles/pubsub.publisher", f"topic-binding {spec.output_topic}"),
                ("roles/pubsub.publisher", f"topic-binding {names.dead_letter_topic}"),
                ("roles/pubsub.publisher", f"topic-binding {spec.lifecycle_topic}"),
                ("roles/pubsub.publisher", f"topic-binding {spec.alerts_topic}"),
            }
    for run in pipelines:
        names = GateResources.of_pipeline(run)
        for runtime in (names.handle_account, names.sweep_account):
            assert found.pop(account(runtime)) == {
                ("roles/datastore.user", "project-binding roles/datastore.user"),
                ("roles/pubsub.publisher", f"topic-binding {run.alerts_topic}"),
                ("roles/pubsub.publisher", f"topic-binding {names.dead_letter_topic}"),
            }
    everyone = [GateResources.of(s) for s in specs] + [
        GateResources.of_pipeline(p) for p in pipelines
    ]
    invoker = found.pop(account("phaseactors-invoker"))
    assert invoker == {
        ("roles/run.invoker", f"invoker-binding {fn}")
        for names in everyone
        for fn in (names.function, names.sweep_function)
    }
    agent = found.pop(AGENT.replace(NUMBER, "${PROJECT_NUMBER}"))
    assert (
        "roles/iam.serviceAccountTokenCreator",
        f"account-binding phaseactors-invoker@{PROJECT}.iam.gserviceaccount.com",
    ) in agent
    for names in everyone:
        assert ("roles/pubsub.publisher", f"topic-binding {names.dead_letter_topic}") in agent
        key = names.function.upper().replace("-", "_")
        assert ("roles/pubsub.subscriber", f"subscription-binding ${{SUBSCRIPTION_{key}}}") in agent
    assert len(agent) == 1 + 2 * len(everyone)
    assert found == {}, "nobody else is granted anything"


def test_project_wide_roles_are_only_firestore_user(plan: Plan) -> None:
    roles = {
        s.resource.name.split(" ")[0] for s in plan.steps if s.resource.kind == "project-binding"
    }
    assert roles == {"roles/datastore.user"}


def test_the_trigger_retries_and_dead_letters_into_a_subscribed_topic(
    plan: Plan, specs: list[GateSpec]
) -> None:
    for spec in specs:
        names = GateResources.of(spec)
        [deploy] = plan.step("function", names.function).create
        argv = deploy.argv
        assert "--retry" in argv
        assert f"--trigger-topic={spec.input_topic}" in argv
        assert "--entry-point=handle" in argv
        assert f"--service-account={account(names.handle_account).split(':')[1]}" in argv
        [update] = plan.step("trigger-subscription", names.function).update
        dead_letter = f"projects/{PROJECT}/topics/{names.dead_letter_topic}"
        assert f"--dead-letter-topic={dead_letter}" in update.argv
        assert f"--max-delivery-attempts={MAX_DELIVERY_ATTEMPTS}" in update.argv
        subscription = plan.step("subscription", names.dead_letter_subscription)
        [create] = subscription.create
        assert f"--topic={names.dead_letter_topic}" in create.argv
        assert "--expiration-period=never" in create.argv


def test_the_sweep_is_private_and_scheduled_with_oidc(plan: Plan, specs: list[GateSpec]) -> None:
    for spec in specs:
        names = GateResources.of(spec)
        [deploy] = plan.step("function", names.sweep_function).create
        assert {"--entry-point=sweep", "--trigger-http", "--no-allow-unauthenticated"} <= set(
            deploy.argv
        )
        [job] = plan.step("scheduler-job", names.sweep_function).create
        assert (
            f"--oidc-service-account-email=phaseactors-invoker@{PROJECT}.iam.gserviceaccount.com"
            in job.argv
        )


def test_the_pipeline_run_is_a_function_on_the_lifecycle_topic_with_its_sweep(
    plan: Plan, pipelines: list[PipelineSpec]
) -> None:
    assert pipelines, "machines/ has a pipeline"
    for run in pipelines:
        names = GateResources.of_pipeline(run)
        [deploy] = plan.step("function", names.function).create
        assert {
            f"--trigger-topic={run.lifecycle_topic}",
            "--retry",
            "--entry-point=handle_lifecycle",
        } <= set(deploy.argv)
        [env] = [a for a in deploy.argv if a.startswith("--set-env-vars=")]
        assert f"PHASEACTORS_PIPELINE={run.name}" in env
        assert "PHASEACTORS_GATE" not in env
        [sweep] = plan.step("function", names.sweep_function).create
        assert "--entry-point=sweep_pipeline" in sweep.argv
        assert plan.step("scheduler-job", names.sweep_function).create
        [update] = plan.step("trigger-subscription", names.function).update
        assert f"--dead-letter-topic=projects/{PROJECT}/topics/{names.dead_letter_topic}" in (
            update.argv
        )
        [kept] = plan.step("subscription", f"{run.alerts_topic}-sub").create
        assert {f"--topic={run.alerts_topic}", "--expiration-period=never"} <= set(kept.argv)


def test_limits_are_set_on_every_function(plan: Plan) -> None:
    for step in plan.steps:
        if step.resource.kind == "function":
            flags = {a.split("=")[0] for a in step.create[0].argv}
            assert {
                "--memory",
                "--cpu",
                "--concurrency",
                "--max-instances",
                "--min-instances",
                "--timeout",
            } <= flags


def test_the_dry_run_text_lists_every_step_and_hides_the_token(plan: Plan) -> None:
    text = plan.text()
    assert text.count("\n[") == len(plan.steps)
    assert "${ACCESS_TOKEN}" in text
    assert "Bearer ya29" not in text


# -- executing against the fake cloud ------------------------------------------------------


def test_a_second_run_changes_nothing(
    target: Target, specs: list[GateSpec], pipelines: list[PipelineSpec]
) -> None:
    cloud = FakeCloud(PROJECT)
    first = execute(build_plan(target, specs, pipelines), cloud)
    assert {o.action for o in first.outcomes} == {"created", "updated"}
    assert cloud.databases["(default)"]["type"] == "FIRESTORE_NATIVE"
    changes = len(cloud.changes)
    second = execute(build_plan(target, specs, pipelines), cloud)
    assert second.changed == ()
    assert second.summary() == f"0 created, 0 updated, {len(second.outcomes)} unchanged"
    assert len(cloud.changes) == changes, "the second run only described"


def test_the_first_run_leaves_a_cloud_that_keeps_dead_letters(
    target: Target, specs: list[GateSpec]
) -> None:
    cloud = FakeCloud(PROJECT)
    execute(build_plan(target, specs), cloud)
    for spec in specs:
        names = GateResources.of(spec)
        function = cloud.functions[names.function]
        assert function["eventTrigger"]["retryPolicy"] == "RETRY_POLICY_RETRY"
        trigger_sub = cloud.triggers[function["eventTrigger"]["trigger"]].rsplit("/", 1)[1]
        policy = cloud.subscriptions[trigger_sub]["deadLetterPolicy"]
        assert policy == {
            "deadLetterTopic": f"projects/{PROJECT}/topics/{names.dead_letter_topic}",
            "maxDeliveryAttempts": MAX_DELIVERY_ATTEMPTS,
        }
        held = [
            s
            for s in cloud.subscriptions.values()
            if s["topic"].endswith(f"/{names.dead_letter_topic}")
        ]
        assert len(held) == 1
        assert held[0]["expirationPolicy"] == {}
        assert AGENT in cloud.policies[("subscription", trigger_sub)]["roles/pubsub.subscriber"]
        assert AGENT in cloud.policies[("topic", names.dead_letter_topic)]["roles/pubsub.publisher"]
    assert (
        cloud.rulesets[cloud.releases[f"projects/{PROJECT}/releases/cloud.firestore"]]
        == (REPO / "stores" / "firestore.rules").read_text()
    )


def test_what_differs_is_updated_and_nothing_else(target: Target, specs: list[GateSpec]) -> None:
    cloud = FakeCloud(PROJECT)
    execute(build_plan(target, specs), cloud)
    names = GateResources.of(specs[0])
    trigger = cloud.functions[names.function]["eventTrigger"]["trigger"]
    del cloud.subscriptions[cloud.triggers[trigger].rsplit("/", 1)[1]]["deadLetterPolicy"]
    cloud.functions[names.function]["serviceConfig"]["maxInstanceCount"] = 100
    cloud.topics.discard(specs[1].output_topic)
    report = execute(build_plan(target, specs), cloud)
    changed = {(o.resource.kind, o.resource.name): o.action for o in report.changed}
    assert changed == {
        ("topic", specs[1].output_topic): "created",
        ("function", names.function): "updated",
        ("trigger-subscription", names.function): "updated",
    }
    assert execute(build_plan(target, specs), cloud).changed == ()


def test_a_new_source_redeploys_the_functions(
    target: Target, specs: list[GateSpec], source: Path
) -> None:
    cloud = FakeCloud(PROJECT)
    execute(build_plan(target, specs), cloud)
    (source / "vendor" / "phaseactors-0.1.0-py3-none-any.whl").write_bytes(b"a new release")
    report = execute(build_plan(target, specs), cloud)
    assert {o.resource.kind for o in report.changed} == {"function"}
    assert len(report.changed) == 2 * len(specs)


def test_a_datastore_mode_database_is_a_conflict(target: Target, specs: list[GateSpec]) -> None:
    cloud = FakeCloud(PROJECT)
    cloud.databases["(default)"] = {"name": "(default)", "type": "DATASTORE_MODE"}
    with pytest.raises(DeployFailed, match="cannot be changed in place"):
        execute(build_plan(target, specs), cloud)


def test_missing_prerequisites_are_named_before_anything_runs(plan: Plan) -> None:
    calls: list[tuple[str, ...]] = []

    def no_tools(command: Command) -> Completed:
        calls.append(command.argv)
        return Completed(127, "", f"{command.argv[0]}: command not found")

    with pytest.raises(PrerequisiteMissing, match=r"gcloud .*curl"):
        execute(plan, no_tools)
    assert {c[:2] for c in calls} <= {
        ("gcloud", "--version"),
        ("curl", "--version"),
        ("gcloud", "auth"),
        ("gcloud", "projects"),
    }


def test_a_failed_command_stops_the_run_and_a_rerun_resumes(
    target: Target, specs: list[GateSpec]
) -> None:
    cloud = FakeCloud(PROJECT)

    def flaky(command: Command) -> Completed:
        if command.argv[:4] == ("gcloud", "scheduler", "jobs", "create"):
            return Completed(1, "", "ERROR: PERMISSION_DENIED: cloudscheduler.jobs.create")
        return cloud(command)

    with pytest.raises(DeployFailed, match="PERMISSION_DENIED"):
        execute(build_plan(target, specs), flaky)
    report = execute(build_plan(target, specs), cloud)
    assert {o.resource.kind for o in report.changed if o.action == "created"} >= {"scheduler-job"}
    assert execute(build_plan(target, specs), cloud).changed == ()


# -- the staged source, the index file, the script ---------------------------------------


def test_an_unstaged_source_is_refused(tmp_path: Path, specs: list[GateSpec]) -> None:
    shutil.copytree(
        REPO / "examples" / "cloud_function",
        tmp_path / "src",
        ignore=shutil.ignore_patterns("vendor", "machines"),
    )
    problems = check_source(tmp_path / "src", specs)
    assert any("vendor/phaseactors-0.1.0-py3-none-any.whl is missing" in p for p in problems)
    assert sum("machines" in p for p in problems) == len(specs)


@pytest.mark.parametrize("gate", GATES)
def test_the_generated_index_file_covers_every_shipped_gate(
    gate: str, specs: list[GateSpec]
) -> None:
    config = index_config(specs)
    group = f"phaseactors.{gate}"
    assert not [i for i in config["indexes"] if i["collectionGroup"] == group]  # none needed
    quarantine, resolved = config["indexes"]
    assert (quarantine["collectionGroup"], resolved["collectionGroup"]) == (
        "phaseactors.quarantine",
        "phaseactors.quarantine_resolved",
    )
    for index in (quarantine, resolved):
        assert [(f["fieldPath"], f["order"]) for f in index["fields"]] == [
            ("gate", "ASCENDING"),
            ("at", "DESCENDING"),
        ]
    overrides = {
        o["fieldPath"]: o for o in config["fieldOverrides"] if o["collectionGroup"] == group
    }
    assert set(overrides) == {"data", "seen", "outbox", "history", "expire_at"}
    assert all(o["indexes"] == [] for o in overrides.values())
    assert overrides["expire_at"]["ttl"] is True


def test_the_checked_in_index_file_is_the_generated_one(
    specs: list[GateSpec], pipelines: list[PipelineSpec]
) -> None:
    checked_in = (REPO / "stores" / "firestore.indexes.json").read_text()
    assert checked_in == render_index_config(specs, pipelines), (
        "regenerate: phaseactors deploy --write-indexes stores/firestore.indexes.json"
    )


def test_the_cli_prints_the_plan_as_json(capsys: pytest.CaptureFixture[str], source: Path) -> None:
    parser = argparse.ArgumentParser()
    deploy_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "deploy",
            "--project",
            PROJECT,
            "--region",
            "us-west2",
            "--gate",
            GATES[0],
            "--dry-run",
            "--json",
            "--machines",
            str(REPO / "machines"),
            "--rules",
            str(REPO / "stores" / "firestore.rules"),
            "--source",
            str(source),
        ]
    )
    assert args.run(args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert {"function", "scheduler-job", "trigger-subscription"} <= {
        s["kind"] for s in plan["steps"]
    }


def test_the_deploy_script_is_shellcheck_clean() -> None:
    """shellcheck comes from scripts/setup-system; missing, this fails rather than skips."""
    scripts = sorted((REPO / "examples").rglob("*.sh"))
    assert scripts, "no shell script left to check"
    assert shutil.which("shellcheck"), "shellcheck is missing: run scripts/setup-system"
    result = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_a_retention_reaches_every_function_s_store_url(
    target: Target, specs: list[GateSpec], pipelines: list[PipelineSpec]
) -> None:
    from attrs import evolve

    def store_urls(plan: Plan) -> set[str]:
        text = json.dumps(plan.to_json())
        return set(re.findall(r"PHASEACTORS_STORE=([^,'\" ]+)", text))

    assert store_urls(build_plan(target, specs, pipelines)) == {f"firestore://{PROJECT}"}
    kept = build_plan(evolve(target, retention_days=90), specs, pipelines)
    assert store_urls(kept) == {f"firestore://{PROJECT}?retention_days=90"}
