"""A small in-memory Google Cloud for the deploy plan's tests (importable as ``fake_cloud``).

It keeps resources, not recorded answers: ``gcloud`` and ``curl`` commands are parsed and
applied to a model of services, the Firestore database, service accounts, IAM policies,
topics, subscriptions, functions with their Eventarc triggers, scheduler jobs, indexes, field
configurations and rules. A describe command prints the resource as the real one does (JSON,
zero values omitted, the fields the platform adds itself), or fails with NOT_FOUND. What the
model does not know is refused, so a plan that uses a command nobody modelled fails its test.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from phaseactors.gcp.deploy import Command, Completed

NUMBER = "123456789012"
TOKEN = "ya29.fake-token"
_DEFAULT_FIELD_INDEXES = [
    {"queryScope": "COLLECTION", "fields": [{"order": "ASCENDING"}]},
    {"queryScope": "COLLECTION", "fields": [{"order": "DESCENDING"}]},
    {"queryScope": "COLLECTION", "fields": [{"arrayConfig": "CONTAINS"}]},
]


def _duration(text: str) -> str:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return f"{int(text[:-1]) * units[text[-1]]}s"


def _split(argv: tuple[str, ...]) -> tuple[list[str], dict[str, list[str]]]:
    """Positional words and ``--flag=value`` flags (a bare flag is ``["true"]``)."""
    words: list[str] = []
    flags: dict[str, list[str]] = defaultdict(list)
    for arg in argv:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            flags[name].append(value if "=" in arg else "true")
        else:
            words.append(arg)
    return words, flags


class Refused(Exception):
    """A command the fake does not model, or malformed for the real tool."""


class NotFound(Exception):
    pass


class FakeCloud:
    """The state of one project; call it with a :class:`Command` like a runner."""

    def __init__(self, project: str = "my-project") -> None:
        self.project = project
        self.services: set[str] = set()
        self.databases: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.policies: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(dict)
        self.topics: set[str] = set()
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.functions: dict[str, dict[str, Any]] = {}
        self.triggers: dict[str, str] = {}  # trigger path -> subscription path
        self.jobs: dict[str, dict[str, Any]] = {}
        self.indexes: list[dict[str, Any]] = []
        self.fields: dict[tuple[str, str], dict[str, Any]] = {}
        self.rulesets: dict[str, str] = {}
        self.releases: dict[str, str] = {}
        self.calls: list[tuple[str, ...]] = []
        self.changes: list[str] = []

    # -- the runner ------------------------------------------------------------------------

    def __call__(self, command: Command) -> Completed:
        self.calls.append(command.argv)
        try:
            if command.argv[0] == "curl":
                out = self._curl(command)
            elif command.argv[0] == "gcloud":
                out = self._gcloud(*_split(command.argv[1:]))
            else:
                raise Refused(f"{command.argv[0]}: command not found")
        except NotFound as missing:
            return Completed(1, "", f"ERROR: NOT_FOUND: {missing} was not found")
        except Refused as refused:
            return Completed(2, "", f"ERROR: {refused}")
        if out is None:
            return Completed(0, "", "")
        return Completed(0, out if isinstance(out, str) else json.dumps(out), "")

    def _changed(self, what: str) -> None:
        self.changes.append(what)

    # -- gcloud ----------------------------------------------------------------------------

    def _gcloud(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        if words == [] and "version" in flags:
            return "Google Cloud SDK 0.0.0 (fake)"
        project = flags.get("project", [None])[0]
        if project not in (None, self.project):
            raise NotFound(f"project {project}")
        fmt = flags.get("format", ["json"])[0]
        group = " ".join(words[:2])
        handlers = {
            "auth list": self._auth,
            "auth print-access-token": lambda w, f: TOKEN,
            "projects describe": self._project,
            "services list": self._services_list,
            "services enable": self._services_enable,
            "firestore databases": self._database,
            "iam service-accounts": self._account,
            "pubsub topics": self._topic,
            "pubsub subscriptions": self._subscription,
            "functions describe": self._function_describe,
            "functions deploy": self._function_deploy,
            "eventarc triggers": self._trigger,
            "run services": self._run_service,
            "scheduler jobs": self._job,
            "firestore indexes": self._indexes,
            "firestore fields": self._ttl,
        }
        if words[:2] == ["projects", "get-iam-policy"]:
            return self._policy_of("project", words[2])
        if words[:2] == ["projects", "add-iam-policy-binding"]:
            if flags.get("condition") != ["None"]:
                raise Refused("add-iam-policy-binding may prompt for a condition")
            return self._grant("project", words[2], flags)
        handler = handlers.get(group)
        if handler is None:
            raise Refused(f"unmodelled command: gcloud {' '.join(words)}")
        result = handler(words, flags)
        if fmt.startswith("value(") and isinstance(result, dict):
            value: Any = result
            for part in fmt[6:-1].split("."):
                value = value.get(part, "") if isinstance(value, dict) else ""
            return f"{value}\n"
        return result

    def _auth(self, words: list[str], flags: dict[str, list[str]]) -> str:
        return "deployer@example.com\n"

    def _project(self, words: list[str], flags: dict[str, list[str]]) -> dict[str, Any]:
        if words[2] != self.project:
            raise NotFound(f"project {words[2]}")
        return {"projectId": self.project, "projectNumber": NUMBER}

    def _services_list(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        [wanted] = flags["filter"]
        name = wanted.removeprefix("config.name=")
        return [{"config": {"name": name}, "state": "ENABLED"}] if name in self.services else []

    def _services_enable(self, words: list[str], flags: dict[str, list[str]]) -> None:
        for api in words[2:]:
            self.services.add(api)
            self._changed(f"enabled {api}")

    def _database(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        name = flags["database"][0]
        if words[2] == "describe":
            if name not in self.databases:
                raise NotFound(f"database {name}")
            return self.databases[name]
        if words[2] == "create":
            if name in self.databases:
                raise Refused(f"ALREADY_EXISTS: database {name}")
            kind = flags.get("type", ["firestore-native"])[0].upper().replace("-", "_")
            self.databases[name] = {"name": name, "type": kind, "locationId": flags["location"][0]}
            self._changed(f"created database {name}")
            return None
        raise Refused(f"firestore databases {words[2]}")

    def _need_project(self, flags: dict[str, list[str]]) -> None:
        if "project" not in flags:
            raise Refused("no --project: gcloud would use whatever project is configured")

    def _account(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        self._need_project(flags)
        verb, name = words[2], words[3]
        if verb == "create":
            email = f"{name}@{self.project}.iam.gserviceaccount.com"
            if not 6 <= len(name) <= 30 or email in self.accounts:
                raise Refused(f"cannot create service account {name}")
            self.accounts[email] = {"email": email, "displayName": flags["display-name"][0]}
            self._changed(f"created service account {email}")
            return None
        if name not in self.accounts:
            raise NotFound(f"service account {name}")
        if verb == "describe":
            return self.accounts[name]
        if verb == "update":
            self.accounts[name]["displayName"] = flags["display-name"][0]
            self._changed(f"updated service account {name}")
            return None
        return self._iam("account", name, verb, flags)

    def _iam(self, kind: str, name: str, verb: str, flags: dict[str, list[str]]) -> Any:
        if verb == "get-iam-policy":
            return self._policy_of(kind, name)
        if verb == "add-iam-policy-binding":
            return self._grant(kind, name, flags)
        raise Refused(f"{kind} {verb}")

    def _policy_of(self, kind: str, name: str) -> dict[str, Any]:
        roles = self.policies[(kind, name)]
        return {
            "bindings": [{"role": r, "members": sorted(m)} for r, m in sorted(roles.items())],
            "etag": "BwX=",
        }

    def _grant(self, kind: str, name: str, flags: dict[str, list[str]]) -> None:
        [member], [role] = flags["member"], flags["role"]
        if "${" in member or "${" in name:
            raise Refused(f"unresolved placeholder in {member} on {name}")
        email = member.removeprefix("serviceAccount:")
        if not email.startswith("service-") and email not in self.accounts:
            raise Refused(f"INVALID_ARGUMENT: service account {email} does not exist")
        self.policies[(kind, name)].setdefault(role, set()).add(member)
        self._changed(f"granted {role} on {kind} {name} to {member}")

    def _short(self, name: str, kind: str) -> str:
        prefix = f"projects/{self.project}/{kind}/"
        if name.startswith("projects/") and not name.startswith(prefix):
            raise NotFound(name)
        return name.removeprefix(prefix)

    def _topic(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        self._need_project(flags)
        verb, name = words[2], self._short(words[3], "topics")
        if verb == "create":
            if name in self.topics:
                raise Refused(f"ALREADY_EXISTS: topic {name}")
            self.topics.add(name)
            self._changed(f"created topic {name}")
            return None
        if name not in self.topics:
            raise NotFound(f"topic {name}")
        if verb == "describe":
            return {"name": f"projects/{self.project}/topics/{name}"}
        return self._iam("topic", name, verb, flags)

    def _subscription(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        verb, name = words[2], self._short(words[3], "subscriptions")
        if verb == "create":
            self._need_project(flags)
            topic = self._short(flags["topic"][0], "topics")
            if name in self.subscriptions or topic not in self.topics:
                raise Refused(f"cannot create subscription {name}")
            self.subscriptions[name] = {
                "name": f"projects/{self.project}/subscriptions/{name}",
                "topic": f"projects/{self.project}/topics/{topic}",
                "ackDeadlineSeconds": 10,
                "messageRetentionDuration": "604800s",
                "expirationPolicy": {"ttl": "2678400s"},
            }
            self._configure(name, flags)
            self._changed(f"created subscription {name}")
            return None
        if name not in self.subscriptions:
            raise NotFound(f"subscription {name}")
        if verb == "describe":
            return self.subscriptions[name]
        if verb == "update":
            self._configure(name, flags)
            self._changed(f"updated subscription {name}")
            return None
        return self._iam("subscription", name, verb, flags)

    def _configure(self, name: str, flags: dict[str, list[str]]) -> None:
        sub = self.subscriptions[name]
        if "ack-deadline" in flags:
            sub["ackDeadlineSeconds"] = int(flags["ack-deadline"][0])
        if "message-retention-duration" in flags:
            sub["messageRetentionDuration"] = _duration(flags["message-retention-duration"][0])
        if "expiration-period" in flags:
            period = flags["expiration-period"][0]
            sub["expirationPolicy"] = {} if period == "never" else {"ttl": _duration(period)}
        if "max-delivery-attempts" in flags:
            if "dead-letter-topic" not in flags:
                raise Refused("--max-delivery-attempts needs --dead-letter-topic")
            topic = self._short(flags["dead-letter-topic"][0], "topics")
            sub["deadLetterPolicy"] = {
                "deadLetterTopic": f"projects/{self.project}/topics/{topic}",
                "maxDeliveryAttempts": int(flags["max-delivery-attempts"][0]),
            }
        if "min-retry-delay" in flags:
            sub["retryPolicy"] = {
                "minimumBackoff": flags["min-retry-delay"][0],
                "maximumBackoff": flags["max-retry-delay"][0],
            }

    def _function_describe(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        self._need_project(flags)
        if "v2" not in flags:
            raise Refused("without --v2 a 1st-gen shape may come back")
        name = words[2]
        if name not in self.functions:
            raise NotFound(f"function {name}")
        return self.functions[name]

    def _function_deploy(self, words: list[str], flags: dict[str, list[str]]) -> None:
        self._need_project(flags)
        name, region = words[2], flags["region"][0]
        one = {k: v[-1] for k, v in flags.items()}
        env = dict(pair.split("=", 1) for pair in one["set-env-vars"].split(","))
        labels = dict(
            pair.split("=", 1) for pair in one.get("update-labels", "").split(",") if pair
        )
        old = self.functions.get(name, {})
        function: dict[str, Any] = {
            "name": f"projects/{self.project}/locations/{region}/functions/{name}",
            "environment": "GEN_2",
            "state": "ACTIVE",
            "labels": {**old.get("labels", {}), **labels, "deployment-tool": "cli-gcloud"},
            "buildConfig": {"runtime": one["runtime"], "entryPoint": one["entry-point"]},
            "serviceConfig": {
                "availableMemory": one["memory"],
                "availableCpu": one["cpu"],
                "maxInstanceRequestConcurrency": int(one["concurrency"]),
                "maxInstanceCount": int(one["max-instances"]),
                "timeoutSeconds": int(one["timeout"].removesuffix("s")),
                "serviceAccountEmail": one["service-account"],
                "environmentVariables": {**env, "LOG_EXECUTION_ID": "true"},
                "uri": f"https://{name}-x7y2-uw.a.run.app",
            },
        }
        if int(one.get("min-instances", "0")):
            function["serviceConfig"]["minInstanceCount"] = int(one["min-instances"])
        if one["service-account"] not in self.accounts:
            raise Refused(f"service account {one['service-account']} does not exist")
        if "trigger-topic" in one:
            topic = one["trigger-topic"]
            if topic not in self.topics:
                raise Refused(f"topic {topic} does not exist")
            trigger = f"projects/{self.project}/locations/{region}/triggers/{name}-123456"
            if trigger not in self.triggers:  # Eventarc makes the trigger and its subscription
                sub = f"eventarc-{region}-{name}-123456-sub-042"
                self.subscriptions[sub] = {
                    "name": f"projects/{self.project}/subscriptions/{sub}",
                    "topic": f"projects/{self.project}/topics/{topic}",
                    "ackDeadlineSeconds": 10,
                    "pushConfig": {"pushEndpoint": function["serviceConfig"]["uri"]},
                    "messageRetentionDuration": "86400s",
                }
                self.triggers[trigger] = f"projects/{self.project}/subscriptions/{sub}"
            function["eventTrigger"] = {
                "trigger": trigger,
                "eventType": "google.cloud.pubsub.topic.v1.messagePublished",
                "pubsubTopic": f"projects/{self.project}/topics/{topic}",
                "serviceAccountEmail": one["trigger-service-account"],
                "retryPolicy": "RETRY_POLICY_RETRY"
                if "retry" in flags
                else "RETRY_POLICY_DO_NOT_RETRY",
            }
        self.functions[name] = function
        self._changed(f"{'updated' if old else 'created'} function {name}")

    def _trigger(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        if words[2] != "describe" or words[3] not in self.triggers:
            raise NotFound(f"trigger {words[3]}")
        return {
            "name": words[3],
            "transport": {"pubsub": {"subscription": self.triggers[words[3]]}},
        }

    def _run_service(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        self._need_project(flags)
        if words[3] not in self.functions:
            raise NotFound(f"service {words[3]}")
        return self._iam("run-service", words[3], words[2], flags)

    def _job(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        self._need_project(flags)
        verb = words[2]
        name = words[4] if verb in ("create", "update") else words[3]
        if verb == "describe":
            if name not in self.jobs:
                raise NotFound(f"job {name}")
            return self.jobs[name]
        if (verb == "create") == (name in self.jobs):
            raise Refused(f"scheduler jobs {verb} {name}")
        uri = flags["uri"][0]
        if "${" in uri:
            raise Refused(f"unresolved placeholder in {uri}")
        self.jobs[name] = {
            "name": f"projects/{self.project}/locations/{flags['location'][0]}/jobs/{name}",
            "schedule": flags["schedule"][0],
            "timeZone": flags.get("time-zone", ["Etc/UTC"])[0],
            "attemptDeadline": flags["attempt-deadline"][0],
            "state": "ENABLED",
            "httpTarget": {
                "uri": uri,
                "httpMethod": flags["http-method"][0].upper(),
                "oidcToken": {
                    "serviceAccountEmail": flags["oidc-service-account-email"][0],
                    "audience": flags["oidc-token-audience"][0],
                },
            },
        }
        self._changed(f"{verb}d scheduler job {name}")
        return None

    def _indexes(self, words: list[str], flags: dict[str, list[str]]) -> Any:
        self._need_project(flags)
        kind, verb = words[2], words[3]
        if kind == "composite" and verb == "list":
            return self.indexes
        if kind == "composite" and verb == "create":
            group = flags["collection-group"][0]
            fields = []
            for config in flags["field-config"]:
                parts = dict(p.split("=") for p in config.split(","))
                fields.append({"fieldPath": parts["field-path"], "order": parts["order"].upper()})
            number = len(self.indexes) + 1
            path = f"projects/{self.project}/databases/(default)/collectionGroups/{group}"
            self.indexes.append(
                {
                    "name": f"{path}/indexes/CICAgJim{number}",
                    "queryScope": flags["query-scope"][0].upper(),
                    "fields": [*fields, {"fieldPath": "__name__", "order": "ASCENDING"}],
                    "state": "CREATING",
                }
            )
            self._changed(f"created index on {group}")
            return None
        if kind == "fields":
            key = (flags["collection-group"][0], words[4])
            if verb == "describe":
                return self._field(key)
            if verb == "update" and "disable-indexes" in flags:
                self.fields.setdefault(key, {})["indexConfig"] = {}
                self._changed(f"exempted {key[0]}.{key[1]}")
                return None
        raise Refused(f"firestore indexes {' '.join(words[2:])}")

    def _field(self, key: tuple[str, str]) -> dict[str, Any]:
        path = f"projects/{self.project}/databases/(default)/collectionGroups/{key[0]}/fields/"
        own = self.fields.get(key, {})
        config = own.get("indexConfig")
        if config is None:
            config = {
                "usesAncestorConfig": True,
                "ancestorField": f"{path.rsplit('/', 4)[0]}/__default__/fields/*",
                "indexes": [
                    {**i, "fields": [{"fieldPath": key[1], **i["fields"][0]}], "state": "READY"}
                    for i in _DEFAULT_FIELD_INDEXES
                ],
            }
        document = {"name": f"{path}{key[1]}", "indexConfig": config}
        if "ttlConfig" in own:
            document["ttlConfig"] = own["ttlConfig"]
        return document

    def _ttl(self, words: list[str], flags: dict[str, list[str]]) -> None:
        self._need_project(flags)
        if words[2:4] != ["ttls", "update"] or "enable-ttl" not in flags:
            raise Refused(f"firestore fields {' '.join(words[2:])}")
        key = (flags["collection-group"][0], words[4])
        if any(g == key[0] and "ttlConfig" in f for (g, _), f in self.fields.items()):
            raise Refused(f"FAILED_PRECONDITION: {key[0]} already has a TTL field")
        self.fields.setdefault(key, {})["ttlConfig"] = {"state": "CREATING"}
        self._changed(f"TTL on {key[0]}.{key[1]}")

    # -- REST through curl -----------------------------------------------------------------

    def _curl(self, command: Command) -> Any:
        argv = list(command.argv)
        if argv == ["curl", "--version"]:
            return "curl 8.0.0 (fake)"
        if "-H" not in argv or argv[argv.index("-H") + 1] != "@-":
            raise Refused("curl without the header on stdin")
        if command.stdin != f"Authorization: Bearer {TOKEN}":
            raise Refused("UNAUTHENTICATED: no valid bearer token")
        method = argv[argv.index("-X") + 1]
        body = (
            json.loads(argv[argv.index("--data-binary") + 1]) if "--data-binary" in argv else None
        )
        url = argv[-1]
        rules = f"https://firebaserules.googleapis.com/v1/projects/{self.project}/"
        firestore = f"https://firestore.googleapis.com/v1/projects/{self.project}/databases/"
        if url.startswith(rules):
            return self._rules(method, url.removeprefix(rules), body)
        if url.startswith(firestore) and method == "PATCH":
            match = re.fullmatch(
                r"[^/]+/collectionGroups/([^/]+)/fields/([^/?]+)\?updateMask=indexConfig",
                url.removeprefix(firestore),
            )
            if match is None or body is None:
                raise Refused(f"PATCH {url}")
            self.fields.setdefault((match[1], match[2]), {})["indexConfig"] = body["indexConfig"]
            self._changed(f"indexed {match[1]}.{match[2]}")
            return {"name": "operations/fake", "done": False}
        raise Refused(f"{method} {url}")

    def _rules(self, method: str, path: str, body: Any) -> Any:
        full = f"projects/{self.project}/"
        if method == "GET" and path.startswith("releases/"):
            release = full + path
            if release not in self.releases:
                raise NotFound(release)
            return {"name": release, "rulesetName": self.releases[release]}
        if method == "GET" and path.startswith("rulesets/"):
            ruleset = full + path
            if ruleset not in self.rulesets:
                raise NotFound(ruleset)
            content = self.rulesets[ruleset]
            return {
                "name": ruleset,
                "source": {"files": [{"name": "firestore.rules", "content": content}]},
            }
        if method == "POST" and path == "rulesets":
            ruleset = f"{full}rulesets/r{len(self.rulesets) + 1}"
            self.rulesets[ruleset] = body["source"]["files"][0]["content"]
            self._changed(f"uploaded {ruleset}")
            return {"name": ruleset}
        if method == "POST" and path == "releases":
            if body["name"] in self.releases or body["rulesetName"] not in self.rulesets:
                raise Refused(f"cannot create release {body['name']}")
            self.releases[body["name"]] = body["rulesetName"]
            self._changed(f"released {body['rulesetName']}")
            return body
        if method == "PATCH" and path.startswith("releases/"):
            release = body["release"]
            if release["name"] not in self.releases or release["rulesetName"] not in self.rulesets:
                raise Refused(f"cannot update release {release['name']}")
            self.releases[release["name"]] = release["rulesetName"]
            self._changed(f"released {release['rulesetName']}")
            return release
        raise Refused(f"{method} rules {path}")
