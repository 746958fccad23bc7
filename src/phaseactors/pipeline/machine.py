"""The pipeline run: one per key across all gates of a pipeline, driven by the gates'
lifecycle announcements and by ticks.

    waiting ──announcement──▶ running ⇄ stalled      (a handoff overdue, and over)
    running|stalled ──a gate failed──▶ failed ──it triggered / reran──▶ running
    any ──the last gate triggered──▶ done            (later news: recorded, never alerted)
    any ──the first gate's new generation──▶ running (restart: a new generation of the run)

Guards and actions are methods of :class:`~phaseactors.pipeline.model.PipelineModel`; the
announcement is recorded in the working copy before the event is sent, so the guards see it.
"""

from __future__ import annotations

from typing import Any

from statemachine import State, StateMachine

__all__ = ["PipelineMachine"]


def _evaluation(waiting: Any, running: Any, stalled: Any, failed: Any, done: Any) -> Any:
    """Where the run goes once something changed: done before failed before stalled before
    running; staying put is an internal transition (no history entry, no re-entry)."""
    transitions = None
    for source in (waiting, running, stalled, failed):
        for target, cond in ((done, "finished"), (failed, "failing"), (stalled, "stalling")):
            if target is source:
                step = source.to.itself(internal=True, cond=cond, on="decide")
            else:
                step = source.to(target, cond=cond, on="decide")
            transitions = step if transitions is None else transitions | step
        if source is running:
            transitions = transitions | running.to.itself(internal=True, on="decide")
        else:
            transitions = transitions | source.to(running, on="decide")
    return transitions


class PipelineMachine(StateMachine):
    """waiting → running ⇄ stalled, failed, done; restart starts a new generation."""

    waiting = State("waiting", initial=True)
    running = State("running")
    stalled = State("stalled")
    failed = State("failed")
    done = State("done")

    announce = _evaluation(waiting, running, stalled, failed, done) | done.to.itself(
        internal=True, on="record_late"
    )
    tick = _evaluation(waiting, running, stalled, failed, done)
    restart = (
        waiting.to(running, on="start_generation")
        | running.to.itself(on="start_generation")
        | stalled.to(running, on="start_generation")
        | failed.to(running, on="start_generation")
        | done.to(running, on="start_generation")
    )
