"""``phaseactors deploy``: print or apply the Google Cloud deployment of gates.

``--dry-run`` prints the plan (every resource with the command that describes it and those
that create or update it) and runs nothing; ``--apply`` runs it, describing first, so that a
second run reports every resource unchanged; ``--write-indexes PATH`` writes the Firestore
index file generated from the gate definitions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attrs import evolve

from ..errors import ConfigurationError
from ..gate.spec import GateSpec
from ..gate.spec_loader import gate_files, load_spec
from ..gcp.deploy import (
    HANDLE_SIZING,
    PrerequisiteMissing,
    Target,
    build_plan,
    check_source,
    execute,
    render_index_config,
    subprocess_runner,
)
from ..limits import MAX_RETENTION_DAYS
from ..pipeline.spec import PipelineSpec
from ..pipeline.spec_loader import load_pipeline, pipeline_files
from .common import emit_json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="print or apply the Google Cloud deployment of gates (gcloud, curl)",
        description="Deploy gates as Cloud Functions: APIs, the Firestore database, service"
        " accounts and their roles, topics, the dead-letter subscription, the functions with"
        " their Eventarc trigger and Cloud Scheduler job, rules, indexes and TTL policies."
        " Every resource is described first; only what is missing is created and only what"
        " differs is updated.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    mode.add_argument("--apply", action="store_true", help="run the plan")
    mode.add_argument(
        "--write-indexes",
        metavar="PATH",
        help="write the Firestore index file generated from the gates (- for stdout)",
    )
    parser.add_argument("--project", help="the Google Cloud project id")
    parser.add_argument("--region", help="the region of the functions and the scheduler jobs")
    parser.add_argument(
        "--gate",
        action="append",
        metavar="NAME|PATH",
        help="a gate to deploy (repeatable; default: every gate and pipeline in MACHINES)",
    )
    parser.add_argument(
        "--machines", type=Path, default=Path("machines"), help="the gate files [machines]"
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=Path("examples/cloud_function"),
        help="the staged function source [examples/cloud_function]",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        default=Path("stores/firestore.rules"),
        help="the Firestore security rules [stores/firestore.rules]",
    )
    parser.add_argument("--database", default="(default)", help="the Firestore database")
    parser.add_argument(
        "--firestore-location", help="where to create the database if missing [the region]"
    )
    parser.add_argument(
        "--max-instances",
        type=int,
        default=HANDLE_SIZING.max_instances,
        help=f"instances of each handle function at most [{HANDLE_SIZING.max_instances}]",
    )
    parser.add_argument(
        "--retention-days",
        type=_retention_days,
        default=None,
        help="days a finished key (triggered and published) is kept before Firestore's TTL"
        " deletes it [kept for ever]; keep it longer than producers may redeliver or rerun",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(run=run)


def _retention_days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a whole number of days from 1 to {MAX_RETENTION_DAYS}"
        )
    return int(text)


def _gates(args: argparse.Namespace) -> list[GateSpec]:
    if not args.gate:
        paths = gate_files(args.machines)
        if not paths:
            raise ConfigurationError(f"no gate files in {args.machines}")
        return [load_spec(path) for path in paths]
    specs = []
    for name in args.gate:
        candidate = args.machines / f"{name}.toml"
        specs.append(load_spec(candidate if candidate.is_file() else name))
    return specs


def _pipelines(args: argparse.Namespace) -> list[PipelineSpec]:
    """Every pipeline file next to the gates, when every gate is deployed."""
    return [] if args.gate else [load_pipeline(p) for p in pipeline_files([args.machines])]


def run(args: argparse.Namespace) -> int:
    specs, pipelines = _gates(args), _pipelines(args)
    if args.write_indexes:
        text = render_index_config(specs, pipelines)
        if args.write_indexes == "-":
            sys.stdout.write(text)
        else:
            Path(args.write_indexes).write_text(text, encoding="utf-8")
        return 0
    if not args.project or not args.region:
        raise ConfigurationError("--project and --region are required with --dry-run and --apply")
    if not args.rules.is_file():
        raise ConfigurationError(f"no rules file {args.rules}")
    target = Target(
        project=args.project,
        region=args.region,
        source=args.source.resolve(),
        rules=args.rules,
        database=args.database,
        firestore_location=args.firestore_location,
        handle=evolve(HANDLE_SIZING, max_instances=args.max_instances),
        retention_days=args.retention_days,
    )
    plan = build_plan(target, specs, pipelines)
    if args.dry_run:
        if args.json:
            emit_json(plan.to_json())
        else:
            sys.stdout.write(plan.text())
        return 0
    problems = check_source(target.source, specs, pipelines)
    if problems:
        raise PrerequisiteMissing("the function source is not staged: " + "; ".join(problems))
    echo = (lambda line: print(line, file=sys.stderr)) if args.json else print
    report = execute(plan, subprocess_runner, echo=echo)
    if args.json:
        emit_json(report.to_json())
    else:
        print(report.summary())
    return 0
