"""The deploy plan of phaseactors gates (and pipeline runs) on Google Cloud, and an executor
that can run it twice.

:func:`build_plan` turns a :class:`Target` (project, region, function source), the gate
definitions and the pipeline definitions into a :class:`Plan` without touching the cloud: an
ordered list of :class:`Step` s, each naming the resource it ensures, the command that
describes it (JSON on stdout), the commands that create or update it and the checks that tell
which is needed.
:func:`execute` runs a plan through a :data:`Runner`: it describes every resource first,
creates what is missing, updates what differs and reports the rest unchanged, so a second run
against the state the first one left changes nothing.

Some values exist only once something else does (the project number, the subscription that
Eventarc made for a trigger, the sweep function's URL): they are :class:`Lookup` s, written
``${NAME}`` in commands and looked up when a command needs them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from attrs import field, frozen

from ..errors import ConfigurationError, DeployFailed, PrerequisiteMissing
from ..gate.spec import GateSpec
from ..pipeline.spec import PipelineSpec

__all__ = [
    "DEAD_LETTER_RETENTION",
    "HANDLE_SIZING",
    "MAX_DELIVERY_ATTEMPTS",
    "SERVICES",
    "SWEEP_SIZING",
    "Binding",
    "Check",
    "Command",
    "Completed",
    "DeployFailed",
    "FieldIndexes",
    "GateResources",
    "HasIndex",
    "Listed",
    "Lookup",
    "Outcome",
    "Plan",
    "Prerequisite",
    "PrerequisiteMissing",
    "Report",
    "Resource",
    "Runner",
    "Sizing",
    "Step",
    "Target",
    "TtlEnabled",
    "Value",
    "build_plan",
    "check_source",
    "execute",
    "index_config",
    "render_index_config",
    "source_digest",
    "subprocess_runner",
]

#: Every API the deployment uses. Cloud Build and Artifact Registry build the function's
#: container; Resource Manager serves the project's IAM policy; Firebase Rules holds the
#: Firestore security rules; Logging receives the functions' JSON log lines.
SERVICES = (
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
)
RUNTIME = "python311"
#: Deliveries of one message before Pub/Sub moves it to the dead-letter topic.
MAX_DELIVERY_ATTEMPTS = 10
#: Back-off between redeliveries on the trigger's subscription.
MIN_RETRY_DELAY = "10s"
MAX_RETRY_DELAY = "600s"
#: How long the dead-letter subscription keeps a message nobody has pulled (the maximum).
DEAD_LETTER_RETENTION = "7d"
DEAD_LETTER_RETENTION_SECONDS = f"{7 * 86400}s"
SCHEDULE = "*/5 * * * *"
COLLECTION_PREFIX = "phaseactors."
#: Snapshot fields no query reads: exempt from automatic indexing (see stores/README.md).
UNINDEXED_FIELDS = ("data", "seen", "outbox", "history")
#: The TTL field of inbox documents and of finished keys.
TTL_FIELD = "expire_at"  # stores.firestore.client.EXPIRE_FIELD, without loading the client
PUBSUB_AGENT = "serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
_RULES_API = "https://firebaserules.googleapis.com/v1"
_FIRESTORE_API = "https://firestore.googleapis.com/v1"
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_NOT_FOUND = re.compile(r"NOT_FOUND|[Nn]ot [Ff]ound|does not exist|\b404\b")
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")


# -- commands and lookups ------------------------------------------------------------------


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@frozen
class Command:
    """One process to run: its arguments, optionally text on stdin, and optionally the name
    of a lookup to set from the ``name`` field of the JSON it prints."""

    argv: tuple[str, ...] = field(converter=_strings)
    stdin: str | None = None
    capture: str | None = None

    def text(self) -> str:
        line = shlex.join(self.argv)
        return f"{line} <<< {shlex.quote(self.stdin)}" if self.stdin is not None else line


@frozen
class Completed:
    """What a :data:`Runner` reports of one command."""

    returncode: int
    stdout: str = ""
    stderr: str = ""


#: Runs one command (placeholders already resolved). Tests pass a fake cloud.
Runner = Callable[[Command], Completed]


def subprocess_runner(command: Command) -> Completed:
    """The real runner: the command as a child process, its output captured."""
    try:
        done = subprocess.run(
            list(command.argv), input=command.stdin, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return Completed(127, "", f"{command.argv[0]}: command not found")
    return Completed(done.returncode, done.stdout, done.stderr)


@frozen
class Lookup:
    """A value known only at run time: the stripped stdout of ``command``, or one ``field``
    of its JSON. A secret one (an access token) is never printed."""

    name: str
    command: Command
    about: str
    field: str | None = None
    secret: bool = False


@frozen
class Prerequisite:
    """A named condition checked before anything runs: ``command`` succeeds and, when
    ``nonempty``, prints something."""

    name: str
    command: Command
    hint: str
    nonempty: bool = False


# -- checks on what a describe command printed ---------------------------------------------

_ABSENT = object()


def _dig(document: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(document, Mapping) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return _ABSENT
    return document


@frozen
class Value:
    """The field at a dotted ``path`` equals ``value`` (``default`` when the field is absent,
    as the APIs omit zero values)."""

    path: str
    value: Any
    default: Any = None

    def holds(self, document: Any) -> bool:
        found = _dig(document, self.path)
        return bool((self.default if found is _ABSENT else found) == self.value)

    def __str__(self) -> str:
        return f"{self.path} = {json.dumps(self.value)}"


@frozen
class Binding:
    """An IAM policy grants ``role`` to ``member`` without a condition."""

    role: str
    member: str

    def holds(self, document: Any) -> bool:
        bindings = document.get("bindings", []) if isinstance(document, Mapping) else []
        return any(
            b.get("role") == self.role
            and self.member in b.get("members", [])
            and not b.get("condition")
            for b in bindings
        )

    def __str__(self) -> str:
        return f"{self.role} for {self.member}"


@frozen
class Listed:
    """The describe command listed at least one item (``gcloud services list --filter``)."""

    def holds(self, document: Any) -> bool:
        return isinstance(document, list) and bool(document)

    def __str__(self) -> str:
        return "listed"


@frozen
class HasIndex:
    """A composite index on ``fields`` (path, order) exists for a collection group."""

    collection_group: str
    query_scope: str
    fields: tuple[tuple[str, str], ...]

    def holds(self, document: Any) -> bool:
        marker = f"/collectionGroups/{self.collection_group}/indexes/"
        for index in document if isinstance(document, list) else []:
            fields = tuple(
                (f.get("fieldPath"), f.get("order"))
                for f in index.get("fields", [])
                if f.get("fieldPath") != "__name__"
            )
            if (
                marker in index.get("name", "")
                and index.get("queryScope") == self.query_scope
                and fields == self.fields
            ):
                return True
        return False

    def __str__(self) -> str:
        return f"index on {', '.join(p for p, _ in self.fields)}"


@frozen
class FieldIndexes:
    """A field's own single-field indexes are exactly these (order, query scope) pairs; an
    empty set is an exemption from automatic indexing."""

    indexes: frozenset[tuple[str, str]]

    def holds(self, document: Any) -> bool:
        config = document.get("indexConfig", {}) if isinstance(document, Mapping) else {}
        if config.get("usesAncestorConfig"):
            return False
        found = set()
        for index in config.get("indexes", []):
            for f in index.get("fields", []):
                found.add((f.get("order") or f.get("arrayConfig"), index.get("queryScope")))
        return found == self.indexes

    def __str__(self) -> str:
        return f"indexes {sorted(self.indexes)}" if self.indexes else "not indexed"


@frozen
class TtlEnabled:
    """A field is the collection group's TTL field (policy being created or active)."""

    def holds(self, document: Any) -> bool:
        ttl = document.get("ttlConfig", {}) if isinstance(document, Mapping) else {}
        return ttl.get("state") in ("CREATING", "ACTIVE")

    def __str__(self) -> str:
        return "TTL policy on"


Check = Value | Binding | Listed | HasIndex | FieldIndexes | TtlEnabled


# -- steps and plans -----------------------------------------------------------------------


@frozen
class Resource:
    """What a step ensures: a kind (``topic``, ``function``, ``topic-binding`` ...) and a name
    unique within the kind."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@frozen(kw_only=True)
class Step:
    """Ensure one resource. ``present`` failing means missing (run ``create``); ``fixed``
    failing is a conflict nothing here can change; ``desired`` failing means it differs (run
    ``update``). A describe command that fails with "not found" also means missing."""

    resource: Resource
    describe: Command
    create: tuple[Command, ...] = ()
    update: tuple[Command, ...] = ()
    present: tuple[Check, ...] = ()
    fixed: tuple[Check, ...] = ()
    desired: tuple[Check, ...] = ()
    why: str = ""


@frozen
class Plan:
    """Everything a deployment ensures, in order, with the look-ups and prerequisites."""

    project: str
    region: str
    steps: tuple[Step, ...]
    lookups: tuple[Lookup, ...]
    prerequisites: tuple[Prerequisite, ...]

    def resources(self) -> list[Resource]:
        return [s.resource for s in self.steps]

    def step(self, kind: str, name: str) -> Step:
        """The step ensuring one resource (KeyError when the plan has none)."""
        for s in self.steps:
            if s.resource == Resource(kind, name):
                return s
        raise KeyError(f"{kind} {name}")

    def text(self) -> str:
        """The dry run: each resource with its describe (``?``), create (``+``) and update
        (``~``) commands, after the prerequisites and the values looked up while applying."""
        lines = [
            f"# phaseactors deploy plan: project {self.project}, region {self.region},"
            f" {len(self.steps)} resources",
            "# prerequisites, checked before anything runs:",
        ]
        lines += [f"#   {p.name}: {p.command.text()}" for p in self.prerequisites]
        lines.append("# values looked up while applying:")
        lines += [f"#   ${{{v.name}}}: {v.about}: {v.command.text()}" for v in self.lookups]
        for number, s in enumerate(self.steps, 1):
            lines.append(f"[{number}] {s.resource}" + (f"  # {s.why}" if s.why else ""))
            lines.append(f"  ? {s.describe.text()}")
            lines += [f"  + {c.text()}" for c in s.create]
            lines += [f"  ~ {c.text()}" for c in s.update]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "region": self.region,
            "prerequisites": [
                {"name": p.name, "command": list(p.command.argv)} for p in self.prerequisites
            ],
            "lookups": {v.name: list(v.command.argv) for v in self.lookups},
            "steps": [
                {
                    "kind": s.resource.kind,
                    "name": s.resource.name,
                    "why": s.why,
                    "describe": list(s.describe.argv),
                    "create": [list(c.argv) for c in s.create],
                    "update": [list(c.argv) for c in s.update],
                }
                for s in self.steps
            ],
        }


# -- what gets deployed --------------------------------------------------------------------


@frozen(kw_only=True)
class Sizing:
    """Instance limits, concurrency, memory and timeout of one function (docs/deploy.md says
    why these values)."""

    memory: str
    cpu: str
    concurrency: int
    max_instances: int
    min_instances: int = 0
    timeout_seconds: int

    def flags(self) -> tuple[str, ...]:
        return (
            f"--memory={self.memory}",
            f"--cpu={self.cpu}",
            f"--concurrency={self.concurrency}",
            f"--max-instances={self.max_instances}",
            f"--min-instances={self.min_instances}",
            f"--timeout={self.timeout_seconds}s",
        )

    def checks(self) -> tuple[Check, ...]:
        return (
            Value("serviceConfig.availableMemory", self.memory),
            Value("serviceConfig.availableCpu", self.cpu),
            Value("serviceConfig.maxInstanceRequestConcurrency", self.concurrency),
            Value("serviceConfig.maxInstanceCount", self.max_instances),
            Value("serviceConfig.minInstanceCount", self.min_instances, default=0),
            Value("serviceConfig.timeoutSeconds", self.timeout_seconds),
        )


HANDLE_SIZING = Sizing(
    memory="512Mi", cpu="1", concurrency=16, max_instances=10, timeout_seconds=60
)
SWEEP_SIZING = Sizing(memory="512Mi", cpu="1", concurrency=1, max_instances=1, timeout_seconds=300)


def _project_id(_: object, attribute: Any, value: str) -> None:
    if not _PROJECT.fullmatch(value):
        raise ConfigurationError(f"{value!r} is not a Google Cloud project id")


@frozen(kw_only=True)
class Target:
    """Where and what to deploy: the project, the region, the staged function source (with
    ``main.py``, ``requirements.txt``, ``vendor/`` and ``machines/``) and the rules file."""

    project: str = field(validator=_project_id)
    region: str
    source: Path
    rules: Path
    database: str = "(default)"
    firestore_location: str | None = None
    handle: Sizing = HANDLE_SIZING
    sweep: Sizing = SWEEP_SIZING
    schedule: str = SCHEDULE
    retention_days: int | None = None
    """How long finished keys are kept before the TTL policy deletes them (None: for ever)."""

    @property
    def store_url(self) -> str:
        suffix = "" if self.database == "(default)" else f"/{self.database}"
        retention = f"?retention_days={self.retention_days}" if self.retention_days else ""
        return f"firestore://{self.project}{suffix}{retention}"

    def email(self, account_id: str) -> str:
        return f"{account_id}@{self.project}.iam.gserviceaccount.com"


def _slug(name: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", name.lower())).strip("-")


def _bounded(base: str, suffix: str, limit: int) -> str:
    """``base-suffix`` cut to ``limit`` characters, a hash of ``base`` keeping it unique."""
    whole = f"{base}-{suffix}"
    if len(whole) <= limit:
        return whole
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-')}-{digest}-{suffix}"


INVOKER_ACCOUNT = "phaseactors-invoker"


@frozen
class GateResources:
    """The names of one gate's resources (or a pipeline's: its input is the lifecycle topic,
    its output the alerts topic, see :meth:`of_pipeline`)."""

    gate: str
    input_topic: str
    output_topic: str
    dead_letter_topic: str
    dead_letter_subscription: str
    function: str
    sweep_function: str
    handle_account: str
    sweep_account: str

    @classmethod
    def of(cls, spec: GateSpec) -> GateResources:
        if spec.input_topic is None:
            raise ConfigurationError(f"gate {spec.name!r} has no [topics] input to deploy on")
        slug = _slug(spec.name)
        dead_letter = f"{spec.input_topic}-dead-letter"
        function = _bounded("phaseactors", slug, 49)  # room for "-sweep" within 63
        return cls(
            gate=spec.name,
            input_topic=spec.input_topic,
            output_topic=spec.output_topic,
            dead_letter_topic=dead_letter,
            dead_letter_subscription=f"{dead_letter}-sub",
            function=function,
            sweep_function=f"{function}-sweep",
            handle_account=_bounded(f"pa-{slug}", "handle", 30),
            sweep_account=_bounded(f"pa-{slug}", "sweep", 30),
        )

    @classmethod
    def of_pipeline(cls, spec: PipelineSpec) -> GateResources:
        slug = _slug(spec.name)
        dead_letter = f"{spec.lifecycle_topic}-dead-letter"
        function = _bounded("phaseactors", slug, 49)
        return cls(
            gate=spec.name,
            input_topic=spec.lifecycle_topic,
            output_topic=spec.alerts_topic,
            dead_letter_topic=dead_letter,
            dead_letter_subscription=f"{dead_letter}-sub",
            function=function,
            sweep_function=f"{function}-sweep",
            handle_account=_bounded(f"pa-{slug}", "handle", 30),
            sweep_account=_bounded(f"pa-{slug}", "sweep", 30),
        )


def source_digest(source: Path) -> str:
    """A digest of what the function runs (``main.py``, ``requirements.txt``, ``vendor/``,
    ``machines/``), set as a label so that a changed source redeploys and an unchanged one
    does not."""
    digest = hashlib.sha256()
    files = [source / "main.py", source / "requirements.txt"]
    for folder in ("vendor", "machines"):
        if (source / folder).is_dir():
            files += sorted(p for p in (source / folder).rglob("*") if p.is_file())
    for path in files:
        if path.is_file():
            digest.update(path.relative_to(source).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def check_source(
    source: Path, specs: Sequence[GateSpec], pipelines: Sequence[PipelineSpec] = ()
) -> list[str]:
    """What is missing from a staged function source: each problem as a sentence."""
    problems = []
    for name in ("main.py", "requirements.txt"):
        if not (source / name).is_file():
            problems.append(f"{source / name} is missing")
    if (source / "requirements.txt").is_file():
        for line in (source / "requirements.txt").read_text().splitlines():
            wheel = line.split("#")[0].strip().split("[")[0]
            if wheel.startswith("./") and not (source / wheel).is_file():
                problems.append(f"{source / wheel} is missing: build the wheel (deploy.sh does)")
    definitions: list[GateSpec | PipelineSpec] = [*specs, *pipelines]
    for spec in definitions:
        copy = source / "machines" / f"{spec.name}.toml"
        if not copy.is_file():
            problems.append(f"{copy} is missing: copy machines/*.toml into the source")
        elif Path(spec.source).is_file() and copy.read_bytes() != Path(spec.source).read_bytes():
            problems.append(f"{copy} differs from {spec.source}: copy it again")
    return problems


# -- the index file ------------------------------------------------------------------------


def index_config(
    specs: Iterable[GateSpec], pipelines: Iterable[PipelineSpec] = ()
) -> dict[str, Any]:
    """The Firestore index configuration for these gates, in ``firestore.indexes.json``
    form: the ``(gate, at)`` indexes behind the newest-first listings of one gate's quarantine
    and of its resolved (purged or replayed) messages;
    per gate (and pipeline) the snapshot's fields exempt from indexing and the TTL of finished
    keys (the store's queries each filter on one field, which single-field indexes serve); for the
    inbox the ``status`` and ``pending`` indexes of the stranded-event queries, its ``event``
    and ``events`` exempt and its TTL."""
    gates = sorted({spec.name for spec in specs} | {spec.name for spec in pipelines})
    groups = [f"{COLLECTION_PREFIX}{gate}" for gate in gates]
    indexes = [
        {
            "collectionGroup": f"{COLLECTION_PREFIX}{collection}",
            "queryScope": "COLLECTION",
            "fields": [
                {"fieldPath": "gate", "order": "ASCENDING"},
                {"fieldPath": "at", "order": "DESCENDING"},
            ],
        }
        for collection in ("quarantine", "quarantine_resolved")
    ]
    overrides: list[dict[str, Any]] = [
        {
            "collectionGroup": "inbox",
            "fieldPath": "status",
            "indexes": [
                {"order": "ASCENDING", "queryScope": "COLLECTION"},
                {"order": "ASCENDING", "queryScope": "COLLECTION_GROUP"},
            ],
        },
        {
            "collectionGroup": "inbox",
            "fieldPath": "pending",
            "indexes": [{"order": "ASCENDING", "queryScope": "COLLECTION_GROUP"}],
        },
        {"collectionGroup": "inbox", "fieldPath": "event", "indexes": []},
        {"collectionGroup": "inbox", "fieldPath": "events", "indexes": []},
        {"collectionGroup": "inbox", "fieldPath": TTL_FIELD, "ttl": True, "indexes": []},
    ]
    for group in groups:
        overrides += [
            {"collectionGroup": group, "fieldPath": name, "indexes": []}
            for name in UNINDEXED_FIELDS
        ]
        overrides.append(
            {"collectionGroup": group, "fieldPath": TTL_FIELD, "ttl": True, "indexes": []}
        )
    return {"indexes": indexes, "fieldOverrides": overrides}


def render_index_config(specs: Iterable[GateSpec], pipelines: Iterable[PipelineSpec] = ()) -> str:
    """:func:`index_config` as the text of ``stores/firestore.indexes.json``."""
    return json.dumps(index_config(specs, pipelines), indent=2) + "\n"


# -- building the plan ---------------------------------------------------------------------


def _gcloud(*argv: str) -> Command:
    return Command(("gcloud", *argv))


class _Builder:
    """Collects steps in order, each resource once; the same resource defined two different
    ways (two gates disagreeing) is refused."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.steps: dict[Resource, Step] = {}
        self.lookups: dict[str, Lookup] = {}
        self.p = f"--project={target.project}"
        self.db = (f"--database={target.database}", self.p)

    def add(self, step: Step) -> None:
        known = self.steps.get(step.resource)
        if known is not None and known != step:
            raise ConfigurationError(f"{step.resource} is defined twice, differently")
        self.steps.setdefault(step.resource, step)

    def lookup(self, lookup: Lookup) -> str:
        """Register a value looked up at run time; return its placeholder."""
        self.lookups.setdefault(lookup.name, lookup)
        return f"${{{lookup.name}}}"

    # the project -------------------------------------------------------------------------

    def service(self, api: str) -> None:
        self.add(
            Step(
                resource=Resource("service", api),
                describe=_gcloud(
                    "services",
                    "list",
                    "--enabled",
                    self.p,
                    f"--filter=config.name={api}",
                    "--format=json",
                ),
                create=(_gcloud("services", "enable", api, self.p),),
                present=(Listed(),),
            )
        )

    def database(self) -> None:
        t = self.target
        self.add(
            Step(
                resource=Resource("database", t.database),
                describe=_gcloud("firestore", "databases", "describe", *self.db, "--format=json"),
                create=(
                    _gcloud(
                        "firestore",
                        "databases",
                        "create",
                        *self.db,
                        f"--location={t.firestore_location or t.region}",
                        "--type=firestore-native",
                    ),
                ),
                fixed=(Value("type", "FIRESTORE_NATIVE"),),
                why="the store; a Datastore-mode database cannot serve it",
            )
        )

    def account(self, account_id: str, title: str) -> str:
        email = self.target.email(account_id)
        name = f"--display-name={title}"
        self.add(
            Step(
                resource=Resource("service-account", email),
                describe=_gcloud(
                    "iam", "service-accounts", "describe", email, self.p, "--format=json"
                ),
                create=(_gcloud("iam", "service-accounts", "create", account_id, self.p, name),),
                update=(_gcloud("iam", "service-accounts", "update", email, self.p, name),),
                desired=(Value("displayName", title),),
            )
        )
        return f"serviceAccount:{email}"

    def project_role(self, member: str, role: str, why: str) -> None:
        p = self.target.project
        self.add(
            Step(
                resource=Resource("project-binding", f"{role} {member}"),
                describe=_gcloud("projects", "get-iam-policy", p, "--format=json"),
                create=(
                    _gcloud(
                        "projects",
                        "add-iam-policy-binding",
                        p,
                        f"--member={member}",
                        f"--role={role}",
                        "--condition=None",
                    ),
                ),
                present=(Binding(role, member),),
                why=why,
            )
        )

    def role_on(
        self, kind: str, group: tuple[str, str], name: str, member: str, role: str, why: str
    ) -> None:
        """A grant on one resource: ``group`` is the gcloud command group of its kind
        (``pubsub topics``, ``run services`` ...)."""
        where = (self.p, f"--region={self.target.region}") if group[0] == "run" else (self.p,)
        self.add(
            Step(
                resource=Resource(kind, f"{name} {role} {member}"),
                describe=_gcloud(*group, "get-iam-policy", name, *where, "--format=json"),
                create=(
                    _gcloud(
                        *group,
                        "add-iam-policy-binding",
                        name,
                        *where,
                        f"--member={member}",
                        f"--role={role}",
                    ),
                ),
                present=(Binding(role, member),),
                why=why,
            )
        )

    # Pub/Sub -----------------------------------------------------------------------------

    def topic(self, topic: str, why: str) -> None:
        self.add(
            Step(
                resource=Resource("topic", topic),
                describe=_gcloud("pubsub", "topics", "describe", topic, self.p, "--format=json"),
                create=(_gcloud("pubsub", "topics", "create", topic, self.p),),
                why=why,
            )
        )

    def dead_letter_subscription(self, names: GateResources, ack_deadline: int) -> None:
        self.kept_subscription(
            names.dead_letter_subscription,
            names.dead_letter_topic,
            ack_deadline,
            "Pub/Sub drops messages published to a topic without subscriptions;"
            " this one keeps dead letters 7 days and never expires",
        )

    def kept_subscription(self, sub: str, topic: str, ack_deadline: int, why: str) -> None:
        """A pull subscription that keeps a topic's messages 7 days and never expires."""
        settings = (
            f"--ack-deadline={ack_deadline}",
            f"--message-retention-duration={DEAD_LETTER_RETENTION}",
            "--expiration-period=never",
        )
        self.add(
            Step(
                resource=Resource("subscription", sub),
                describe=_gcloud(
                    "pubsub", "subscriptions", "describe", sub, self.p, "--format=json"
                ),
                create=(
                    _gcloud(
                        "pubsub",
                        "subscriptions",
                        "create",
                        sub,
                        f"--topic={topic}",
                        self.p,
                        *settings,
                    ),
                ),
                update=(_gcloud("pubsub", "subscriptions", "update", sub, self.p, *settings),),
                fixed=(Value("topic", f"projects/{self.target.project}/topics/{topic}"),),
                desired=(
                    Value("ackDeadlineSeconds", ack_deadline),
                    Value("messageRetentionDuration", DEAD_LETTER_RETENTION_SECONDS),
                    Value("expirationPolicy", {}),
                ),
                why=why,
            )
        )

    def trigger_subscription(self, names: GateResources, ack_deadline: int) -> str:
        """Dead-lettering and back-off on the subscription Eventarc made for the handle
        function's trigger, which is known only once the function exists (a lookup)."""
        key = names.function.upper().replace("-", "_")
        trigger = self.lookup(
            Lookup(
                f"TRIGGER_{key}",
                self.describe_function(names.function, "value(eventTrigger.trigger)"),
                f"the Eventarc trigger of {names.function}",
            )
        )
        subscription = self.lookup(
            Lookup(
                f"SUBSCRIPTION_{key}",
                _gcloud(
                    "eventarc",
                    "triggers",
                    "describe",
                    trigger,
                    "--format=value(transport.pubsub.subscription)",
                ),
                f"the Pub/Sub subscription of {names.function}'s trigger",
            )
        )
        dead_letter = f"projects/{self.target.project}/topics/{names.dead_letter_topic}"
        self.add(
            Step(
                resource=Resource("trigger-subscription", names.function),
                describe=_gcloud(
                    "pubsub", "subscriptions", "describe", subscription, "--format=json"
                ),
                update=(
                    _gcloud(
                        "pubsub",
                        "subscriptions",
                        "update",
                        subscription,
                        f"--dead-letter-topic={dead_letter}",
                        f"--max-delivery-attempts={MAX_DELIVERY_ATTEMPTS}",
                        f"--min-retry-delay={MIN_RETRY_DELAY}",
                        f"--max-retry-delay={MAX_RETRY_DELAY}",
                        f"--ack-deadline={ack_deadline}",
                    ),
                ),
                desired=(
                    Value("deadLetterPolicy.deadLetterTopic", dead_letter),
                    Value("deadLetterPolicy.maxDeliveryAttempts", MAX_DELIVERY_ATTEMPTS),
                    Value("retryPolicy.minimumBackoff", MIN_RETRY_DELAY),
                    Value("retryPolicy.maximumBackoff", MAX_RETRY_DELAY),
                    Value("ackDeadlineSeconds", ack_deadline),
                ),
                why=f"after {MAX_DELIVERY_ATTEMPTS} deliveries a message goes to the dead-letter"
                " topic; the ack deadline matches the function's timeout",
            )
        )
        return subscription

    # functions and the schedule ----------------------------------------------------------

    def describe_function(self, name: str, output: str) -> Command:
        return _gcloud(
            "functions",
            "describe",
            name,
            f"--region={self.target.region}",
            self.p,
            "--v2",
            f"--format={output}",
        )

    def function(self, spec: FunctionSpec) -> None:
        t = self.target
        env = {**spec.env, "THREADS": str(spec.sizing.concurrency)}
        labels = {"phaseactors-function": _slug(spec.name), "phaseactors-source": spec.digest}
        deploy = _gcloud(
            "functions",
            "deploy",
            spec.name,
            "--gen2",
            f"--region={t.region}",
            self.p,
            f"--runtime={RUNTIME}",
            f"--source={t.source}",
            f"--entry-point={spec.entry_point}",
            *spec.trigger,
            f"--service-account={spec.account}",
            *spec.sizing.flags(),
            "--set-env-vars=" + ",".join(f"{k}={v}" for k, v in env.items()),
            "--update-labels=" + ",".join(f"{k}={v}" for k, v in labels.items()),
        )
        self.add(
            Step(
                resource=Resource("function", spec.name),
                describe=self.describe_function(spec.name, "json"),
                create=(deploy,),
                update=(deploy,),
                desired=(
                    Value("state", "ACTIVE"),
                    Value("buildConfig.runtime", RUNTIME),
                    Value("buildConfig.entryPoint", spec.entry_point),
                    Value("serviceConfig.serviceAccountEmail", spec.account),
                    *spec.sizing.checks(),
                    *(Value(f"serviceConfig.environmentVariables.{k}", v) for k, v in env.items()),
                    *(Value(f"labels.{k}", v) for k, v in labels.items()),
                    *spec.checks,
                ),
                why=spec.why,
            )
        )

    def scheduler_job(self, names: GateResources, invoker: str) -> None:
        t = self.target
        url = self.lookup(
            Lookup(
                "SWEEP_URL_" + names.function.upper().replace("-", "_"),
                self.describe_function(names.sweep_function, "value(serviceConfig.uri)"),
                f"the URL of {names.sweep_function}",
            )
        )
        deadline = f"{t.sweep.timeout_seconds}s"
        job, where = names.sweep_function, f"--location={t.region}"
        flags = (
            where,
            self.p,
            f"--schedule={t.schedule}",
            "--time-zone=Etc/UTC",
            f"--uri={url}",
            "--http-method=POST",
            f"--oidc-service-account-email={invoker}",
            f"--oidc-token-audience={url}",
            f"--attempt-deadline={deadline}",
        )
        self.add(
            Step(
                resource=Resource("scheduler-job", job),
                describe=_gcloud(
                    "scheduler", "jobs", "describe", job, where, self.p, "--format=json"
                ),
                create=(_gcloud("scheduler", "jobs", "create", "http", job, *flags),),
                update=(_gcloud("scheduler", "jobs", "update", "http", job, *flags),),
                desired=(
                    Value("schedule", t.schedule),
                    Value("timeZone", "Etc/UTC"),
                    Value("httpTarget.uri", url),
                    Value("httpTarget.httpMethod", "POST"),
                    Value("httpTarget.oidcToken.serviceAccountEmail", invoker),
                    Value("httpTarget.oidcToken.audience", url),
                    Value("attemptDeadline", deadline),
                ),
                why="deadlines, stuck triggers and stranded inbox events are re-driven by a"
                " sweep, called with an OIDC token of the invoker account",
            )
        )

    # Firestore ---------------------------------------------------------------------------

    def composite_index(self, index: Mapping[str, Any]) -> None:
        group, scope = index["collectionGroup"], index["queryScope"]
        fields = tuple((f["fieldPath"], f["order"]) for f in index["fields"])
        self.add(
            Step(
                resource=Resource(
                    "composite-index", f"{group} ({', '.join(p for p, _ in fields)})"
                ),
                describe=_gcloud(
                    "firestore", "indexes", "composite", "list", *self.db, "--format=json"
                ),
                create=(
                    _gcloud(
                        "firestore",
                        "indexes",
                        "composite",
                        "create",
                        f"--collection-group={group}",
                        f"--query-scope={scope.lower()}",
                        *(f"--field-config=field-path={p},order={o.lower()}" for p, o in fields),
                        *self.db,
                        "--async",
                    ),
                ),
                present=(HasIndex(group, scope, fields),),
                why=f"the newest-first listing of {group} per gate (phaseactors quarantine list)",
            )
        )

    def field_override(self, override: Mapping[str, Any]) -> None:
        group, path = override["collectionGroup"], override["fieldPath"]
        wanted = frozenset((i["order"], i["queryScope"]) for i in override["indexes"])
        in_group = (path, f"--collection-group={group}", *self.db)
        describe = _gcloud("firestore", "indexes", "fields", "describe", *in_group, "--format=json")
        if wanted:
            change = self.rest_patch_field(group, path, override["indexes"])
            why = "a collection-group query of phaseactors sweep (gcloud sets no such scope)"
        else:
            change = _gcloud(
                "firestore",
                "indexes",
                "fields",
                "update",
                *in_group,
                "--disable-indexes",
                "--async",
            )
            why = "never queried: exempt from automatic indexing"
        self.add(
            Step(
                resource=Resource("field-index", f"{group}.{path}"),
                describe=describe,
                update=(change,),
                desired=(FieldIndexes(wanted),),
                why=why,
            )
        )
        if override.get("ttl"):
            self.add(
                Step(
                    resource=Resource("ttl-policy", f"{group}.{path}"),
                    describe=describe,
                    create=(
                        _gcloud(
                            "firestore",
                            "fields",
                            "ttls",
                            "update",
                            *in_group,
                            "--enable-ttl",
                            "--async",
                        ),
                    ),
                    present=(TtlEnabled(),),
                    why="inbox documents a crashed handler left behind"
                    if group == "inbox"
                    else "finished keys, once their expire_at has passed",
                )
            )

    def rest(self, method: str, url: str, body: Any = None, capture: str | None = None) -> Command:
        """A REST call with curl; the bearer token goes on stdin, never in the arguments."""
        token = self.lookup(
            Lookup(
                "ACCESS_TOKEN",
                _gcloud("auth", "print-access-token"),
                "an access token of the gcloud account, never printed",
                secret=True,
            )
        )
        data = () if body is None else ("--data-binary", json.dumps(body, sort_keys=True))
        return Command(
            (
                "curl",
                "--silent",
                "--show-error",
                "--fail-with-body",
                "-X",
                method,
                "-H",
                "@-",
                "-H",
                "Content-Type: application/json",
                *data,
                url,
            ),
            stdin=f"Authorization: Bearer {token}",
            capture=capture,
        )

    def rest_patch_field(
        self, group: str, path: str, indexes: Sequence[Mapping[str, str]]
    ) -> Command:
        t = self.target
        url = (
            f"{_FIRESTORE_API}/projects/{t.project}/databases/{t.database}"
            f"/collectionGroups/{group}/fields/{path}?updateMask=indexConfig"
        )
        wanted = [
            {"queryScope": i["queryScope"], "fields": [{"fieldPath": path, "order": i["order"]}]}
            for i in indexes
        ]
        return self.rest("PATCH", url, {"indexConfig": {"indexes": wanted}})

    def rules(self) -> None:
        t = self.target
        release_id = "cloud.firestore" + ("" if t.database == "(default)" else f"/{t.database}")
        release = f"projects/{t.project}/releases/{release_id}"
        current = self.lookup(
            Lookup(
                "FIRESTORE_RULESET",
                self.rest("GET", f"{_RULES_API}/{release}"),
                "the ruleset released to Firestore",
                field="rulesetName",
            )
        )
        content = t.rules.read_text(encoding="utf-8")
        files = {"source": {"files": [{"name": "firestore.rules", "content": content}]}}
        upload = self.rest(
            "POST", f"{_RULES_API}/projects/{t.project}/rulesets", files, "NEW_RULESET"
        )
        new = {"name": release, "rulesetName": "${NEW_RULESET}"}
        self.add(
            Step(
                resource=Resource("rules", release_id),
                describe=self.rest("GET", f"{_RULES_API}/{current}"),
                create=(
                    upload,
                    self.rest("POST", f"{_RULES_API}/projects/{t.project}/releases", new),
                ),
                update=(upload, self.rest("PATCH", f"{_RULES_API}/{release}", {"release": new})),
                desired=(Value("source.files.0.content", content),),
                why=f"{t.rules.name}: no client-SDK access; only server code with IAM roles",
            )
        )


@frozen(kw_only=True)
class FunctionSpec:
    """One function to deploy: its entry point, trigger flags, sizing and runtime account."""

    name: str
    entry_point: str
    trigger: tuple[str, ...]
    sizing: Sizing
    account: str
    env: Mapping[str, str] = field(hash=False)
    digest: str
    checks: tuple[Check, ...] = ()
    why: str = ""


def _prerequisites(target: Target) -> tuple[Prerequisite, ...]:
    p = target.project
    return (
        Prerequisite(
            "gcloud", Command(("gcloud", "--version")), "install the Google Cloud CLI (gcloud)"
        ),
        Prerequisite("curl", Command(("curl", "--version")), "install curl (Debian: curl)"),
        Prerequisite(
            "gcloud login",
            Command(
                ("gcloud", "auth", "list", "--filter=status:ACTIVE", "--format=value(account)")
            ),
            "log in: gcloud auth login (or activate a service account)",
            nonempty=True,
        ),
        Prerequisite(
            f"project {p}",
            Command(("gcloud", "projects", "describe", p, "--format=value(projectId)")),
            f"the project {p} must exist and the gcloud account must see it",
            nonempty=True,
        ),
    )


LIFECYCLE_WHY = "the gates' lifecycle announcements: the pipeline runs' input"
ALERTS_WHY = "alerts of the gates and the pipeline runs"


def build_plan(
    target: Target, specs: Sequence[GateSpec], pipelines: Sequence[PipelineSpec] = ()
) -> Plan:
    """The deployment of these gates and pipeline runs to ``target``, in order; nothing
    runs."""
    if not specs and not pipelines:
        raise ConfigurationError("no gate to deploy")
    gates = [GateResources.of(spec) for spec in specs]
    runs = [GateResources.of_pipeline(spec) for spec in pipelines]
    digest = source_digest(target.source)
    b = _Builder(target)
    for api in SERVICES:
        b.service(api)
    b.database()

    b.lookup(
        Lookup(
            "PROJECT_NUMBER",
            _gcloud("projects", "describe", target.project, "--format=value(projectNumber)"),
            "the project number, in the Pub/Sub service agent's address",
        )
    )
    invoker_email = target.email(INVOKER_ACCOUNT)
    invoker = b.account(INVOKER_ACCOUNT, "phaseactors invoker (Eventarc and Scheduler)")
    b.role_on(
        "account-binding",
        ("iam", "service-accounts"),
        invoker_email,
        PUBSUB_AGENT,
        "roles/iam.serviceAccountTokenCreator",
        "the Pub/Sub service agent signs the OIDC tokens of Eventarc's push requests as the"
        " invoker (needed where the agent predates April 2021)",
    )
    for g in [*gates, *runs]:
        for account_id, function in (
            (g.handle_account, g.function),
            (g.sweep_account, g.sweep_function),
        ):
            member = b.account(account_id, f"phaseactors runtime of {function}")
            b.project_role(
                member,
                "roles/datastore.user",
                "reads and writes the gate's documents (Firestore has no narrower IAM scope)",
            )

    alerts_topics: set[str] = set()
    for g, spec in zip(gates, specs, strict=True):
        b.topic(g.input_topic, "the processors' completion messages")
        b.topic(g.output_topic, "the gate's trigger messages")
        outputs = [(g.output_topic, "triggers")]
        if spec.lifecycle_topic:
            b.topic(spec.lifecycle_topic, LIFECYCLE_WHY)
            outputs.append((spec.lifecycle_topic, "lifecycle announcements"))
        if spec.alerts_topic:
            b.topic(spec.alerts_topic, ALERTS_WHY)
            outputs.append((spec.alerts_topic, "alerts"))
            alerts_topics.add(spec.alerts_topic)
        _dead_letters(b, g, outputs)
    for g, run in zip(runs, pipelines, strict=True):
        b.topic(run.lifecycle_topic, LIFECYCLE_WHY)
        b.topic(run.alerts_topic, ALERTS_WHY)
        alerts_topics.add(run.alerts_topic)
        _dead_letters(b, g, [(run.alerts_topic, "alerts")])
    for topic in sorted(alerts_topics):
        b.kept_subscription(
            f"{topic}-sub",
            topic,
            target.handle.timeout_seconds,
            "alerts are read from here (a pager, a chat hook); Pub/Sub drops messages"
            " published to a topic without subscriptions",
        )

    b.rules()
    config = index_config(specs, pipelines)
    for index in config["indexes"]:
        b.composite_index(index)
    for override in config["fieldOverrides"]:
        b.field_override(override)

    for g, spec in zip(gates, specs, strict=True):
        _functions(
            b,
            g,
            env={"PHASEACTORS_GATE": spec.name},
            entry_points=("handle", "sweep"),
            digest=digest,
            invoker=invoker,
            why="applies completions; with --retry a raised (transient) error is redelivered",
            sweep_why="re-drives due deadlines, stuck triggers and stranded inbox events",
        )
    for g, run in zip(runs, pipelines, strict=True):
        _functions(
            b,
            g,
            env={"PHASEACTORS_PIPELINE": run.name},
            entry_points=("handle_lifecycle", "sweep_pipeline"),
            digest=digest,
            invoker=invoker,
            why="applies the gates' announcements to the pipeline runs; retried when it raises",
            sweep_why="passes due handoff and overall deadlines, re-drives stuck alerts",
        )

    return Plan(
        project=target.project,
        region=target.region,
        steps=tuple(b.steps.values()),
        lookups=tuple(b.lookups.values()),
        prerequisites=_prerequisites(target),
    )


def _dead_letters(b: _Builder, g: GateResources, outputs: Sequence[tuple[str, str]]) -> None:
    """The dead-letter topic and its subscription, and who may publish where: the runtime
    accounts on their outputs and the dead-letter topic, the Pub/Sub agent on the latter."""
    b.topic(g.dead_letter_topic, "quarantined and undeliverable messages")
    b.dead_letter_subscription(g, b.target.handle.timeout_seconds)
    for account_id in (g.handle_account, g.sweep_account):
        member = f"serviceAccount:{b.target.email(account_id)}"
        for topic, what in (*outputs, (g.dead_letter_topic, "quarantined messages")):
            b.role_on(
                "topic-binding",
                ("pubsub", "topics"),
                topic,
                member,
                "roles/pubsub.publisher",
                f"publishes {what}",
            )
    b.role_on(
        "topic-binding",
        ("pubsub", "topics"),
        g.dead_letter_topic,
        PUBSUB_AGENT,
        "roles/pubsub.publisher",
        "the Pub/Sub service agent forwards dead letters here",
    )


def _functions(
    b: _Builder,
    g: GateResources,
    *,
    env: Mapping[str, str],
    entry_points: tuple[str, str],
    digest: str,
    invoker: str,
    why: str,
    sweep_why: str,
) -> None:
    """The handle function on the input topic (retried, dead-lettered) and the sweep behind
    Cloud Scheduler, both invoked as the invoker account."""
    t = b.target
    invoker_email = t.email(INVOKER_ACCOUNT)
    handle, sweep = entry_points
    environment = {
        **env,
        "PHASEACTORS_MACHINES": "machines",
        "PHASEACTORS_STORE": t.store_url,
        "PHASEACTORS_PUBLISHER": f"pubsub://{t.project}",
        "PHASEACTORS_DEAD_LETTER_TOPIC": g.dead_letter_topic,
    }
    b.function(
        FunctionSpec(
            name=g.function,
            entry_point=handle,
            trigger=(
                f"--trigger-topic={g.input_topic}",
                "--retry",
                f"--trigger-service-account={invoker_email}",
            ),
            sizing=t.handle,
            account=t.email(g.handle_account),
            env=environment,
            digest=digest,
            checks=(
                Value("eventTrigger.pubsubTopic", f"projects/{t.project}/topics/{g.input_topic}"),
                Value("eventTrigger.retryPolicy", "RETRY_POLICY_RETRY"),
                Value("eventTrigger.serviceAccountEmail", invoker_email),
            ),
            why=why,
        )
    )
    b.role_on(
        "invoker-binding",
        ("run", "services"),
        g.function,
        invoker,
        "roles/run.invoker",
        "Eventarc pushes to the function as the invoker account",
    )
    subscription = b.trigger_subscription(g, t.handle.timeout_seconds)
    b.role_on(
        "subscription-binding",
        ("pubsub", "subscriptions"),
        subscription,
        PUBSUB_AGENT,
        "roles/pubsub.subscriber",
        "the Pub/Sub service agent acknowledges what it moves to the dead-letter topic",
    )
    b.function(
        FunctionSpec(
            name=g.sweep_function,
            entry_point=sweep,
            trigger=("--trigger-http", "--no-allow-unauthenticated"),
            sizing=t.sweep,
            account=t.email(g.sweep_account),
            env=environment,
            digest=digest,
            why=sweep_why,
        )
    )
    b.role_on(
        "invoker-binding",
        ("run", "services"),
        g.sweep_function,
        invoker,
        "roles/run.invoker",
        "Cloud Scheduler calls the sweep as the invoker account",
    )
    b.scheduler_job(g, invoker_email)


# -- executing a plan ----------------------------------------------------------------------

Action = Literal["created", "updated", "unchanged"]


@frozen
class Outcome:
    """What :func:`execute` did for one resource, and the checks that made it act."""

    resource: Resource
    action: Action
    differences: tuple[str, ...] = ()


@frozen
class Report:
    """The outcome of every step of a plan, in order."""

    outcomes: tuple[Outcome, ...]

    @property
    def changed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.action != "unchanged")

    def summary(self) -> str:
        counts = {a: sum(o.action == a for o in self.outcomes) for a in ("created", "updated")}
        unchanged = len(self.outcomes) - len(self.changed)
        return f"{counts['created']} created, {counts['updated']} updated, {unchanged} unchanged"

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "outcomes": [
                {
                    "kind": o.resource.kind,
                    "name": o.resource.name,
                    "action": o.action,
                    "differences": list(o.differences),
                }
                for o in self.outcomes
            ],
        }


class _Unresolved(Exception):
    """A lookup found nothing (the resource it reads does not exist yet)."""


class _Session:
    """One execution: the looked-up values, the runner and where progress is echoed."""

    def __init__(self, plan: Plan, runner: Runner, echo: Callable[[str], None]) -> None:
        self.plan = plan
        self.runner = runner
        self.echo = echo
        self.lookups = {v.name: v for v in plan.lookups}
        self.values: dict[str, str] = {}

    def value(self, name: str) -> str:
        if name not in self.values:
            lookup = self.lookups[name]
            done = self.call(lookup.command)
            if done.returncode != 0:
                if _NOT_FOUND.search(done.stdout + done.stderr):
                    raise _Unresolved(name)
                raise DeployFailed(f"looking up {lookup.about} failed: {_tail(done)}")
            text = done.stdout.strip()
            if lookup.field is not None and text:
                text = str(_dig(json.loads(text), lookup.field) or "")
            if not text:
                raise _Unresolved(name)
            self.values[name] = text
        return self.values[name]

    def resolve(self, text: str, *, masked: bool = False) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.lookups and name not in self.values:
                return match.group(0)
            if masked and name in self.lookups and self.lookups[name].secret:
                return match.group(0)
            return self.value(name)

        return _PLACEHOLDER.sub(one, text)

    def call(self, command: Command) -> Completed:
        resolved = Command(
            [self.resolve(a) for a in command.argv],
            None if command.stdin is None else self.resolve(command.stdin),
        )
        return self.runner(resolved)

    def change(self, step: Step, command: Command) -> None:
        try:
            shown = Command([self.resolve(a, masked=True) for a in command.argv]).text()
            self.echo(f"+ {shown}")
            done = self.call(command)
        except _Unresolved as missing:
            raise DeployFailed(f"{step.resource}: ${{{missing}}} is not available") from None
        if done.returncode != 0:
            raise DeployFailed(
                f"{step.resource}: {shlex.join(command.argv[:4])} failed: {_tail(done)}"
            )
        if command.capture is not None:
            self.values[command.capture] = str(json.loads(done.stdout)["name"])

    def observe(self, step: Step) -> tuple[Literal["missing", "differs", "same"], list[str]]:
        try:
            done = self.call(step.describe)
        except _Unresolved:
            return "missing", ["not there yet"]
        if done.returncode != 0:
            if _NOT_FOUND.search(done.stdout + done.stderr):
                return "missing", ["not found"]
            raise DeployFailed(f"describing {step.resource} failed: {_tail(done)}")
        document = json.loads(done.stdout) if done.stdout.strip() else None
        failed = [str(c) for c in step.present if not self.holds(c, document)]
        if failed:
            return "missing", failed
        conflicts = [str(c) for c in step.fixed if not self.holds(c, document)]
        if conflicts:
            raise DeployFailed(
                f"{step.resource} exists but differs in what cannot be changed in place:"
                f" {'; '.join(conflicts)}"
            )
        differences = [str(c) for c in step.desired if not self.holds(c, document)]
        return ("differs" if differences else "same"), differences

    def holds(self, check: Check, document: Any) -> bool:
        if isinstance(check, Value) and isinstance(check.value, str):
            check = Value(check.path, self.resolve(check.value), check.default)
        elif isinstance(check, Binding):
            check = Binding(check.role, self.resolve(check.member))
        return check.holds(document)

    def ensure(self, step: Step) -> Outcome:
        state, differences = self.observe(step)
        if state == "same":
            self.echo(f"unchanged {step.resource}")
            return Outcome(step.resource, "unchanged")
        commands = step.create if state == "missing" else step.update
        if not commands:
            raise DeployFailed(
                f"{step.resource} is {state} ({'; '.join(differences)}) and this plan has no"
                " command for that; a step before it should have made it"
            )
        for command in commands:
            self.change(step, command)
        action: Action = "created" if state == "missing" else "updated"
        self.echo(f"{action} {step.resource}: {'; '.join(differences)}")
        return Outcome(step.resource, action, tuple(differences))

    def check_prerequisites(self) -> None:
        missing = []
        for prerequisite in self.plan.prerequisites:
            done = self.call(prerequisite.command)
            if done.returncode != 0 or (prerequisite.nonempty and not done.stdout.strip()):
                missing.append(f"{prerequisite.name} ({prerequisite.hint})")
        if missing:
            raise PrerequisiteMissing("missing prerequisites: " + "; ".join(missing))


def _tail(done: Completed) -> str:
    text = (done.stderr or done.stdout).strip().splitlines()
    return " / ".join(text[-3:]) if text else f"exit status {done.returncode}"


def execute(plan: Plan, runner: Runner, *, echo: Callable[[str], None] | None = None) -> Report:
    """Check the prerequisites, then ensure every step in order: describe, then create what
    is missing, update what differs, leave what matches. Stops at the first failure
    (:class:`DeployFailed`); running again resumes, as everything done is then unchanged."""
    session = _Session(plan, runner, echo or (lambda _line: None))
    session.check_prerequisites()
    return Report(tuple(session.ensure(step) for step in plan.steps))
