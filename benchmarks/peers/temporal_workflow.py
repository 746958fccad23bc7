"""Temporal: one workflow per key, completions as signals, the trigger as an activity.

Kept apart from the adapter so the workflow sandbox imports nothing but temporalio and this
file. The workflow keeps a dedup set of (processor, execution id) tokens in its state; it
completes once the expected set is covered and the trigger activity has run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

TASK_QUEUE = "peers-gates"
SIGNAL = "completion"


@dataclass
class GateInput:
    key: str
    expected: list[str]
    sink: str
    system: str


@dataclass
class TriggerInput:
    key: str
    processors: list[str]
    sink: str
    system: str


@activity.defn
async def trigger(data: TriggerInput) -> str:
    """Append the trigger to the sink; its id is the workflow run (a retry keeps the id)."""
    import sink  # the benchmark's consumer, outside the sandbox

    info = activity.info()
    trigger_id = f"{info.workflow_id}/{info.workflow_run_id}"
    sink.append(data.sink, data.system, data.key, trigger_id, data.processors)
    return trigger_id


@workflow.defn
class GateWorkflow:
    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.done: dict[str, str] = {}
        self.duplicates = 0

    @workflow.run
    async def run(self, data: GateInput) -> int:
        expected = set(data.expected)
        await workflow.wait_condition(lambda: expected <= self.done.keys())
        await workflow.execute_activity(
            trigger,
            TriggerInput(data.key, sorted(self.done), data.sink, data.system),
            start_to_close_timeout=timedelta(seconds=30),
        )
        return self.duplicates

    @workflow.signal(name=SIGNAL)
    def completion(self, body: dict[str, str]) -> None:
        token = f"{body['processor']}/{body['execution_id']}"
        if token in self.seen:
            self.duplicates += 1
            return
        self.seen.add(token)
        self.done[body["processor"]] = body["execution_id"]

    @workflow.query
    def recorded(self) -> list[str]:
        return sorted(self.done)
