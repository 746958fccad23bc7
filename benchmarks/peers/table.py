"""The human tables: one for the normal runs, one for the crash runs, from the JSON lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["render"]


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _histogram(value: Mapping[str, int]) -> str:
    return "{" + ", ".join(f"{n}: {k}" for n, k in value.items()) + "}"


def _late(line: Mapping[str, Any]) -> str:
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(line["late_outcomes"].items()))
    extra = ", ".join(f"{k} {v}" for k, v in sorted(line.get("leftovers", {}).items()))
    text = f"{line['late_duplicates']}: {outcomes}" if outcomes else "0"
    return f"{text}; {extra}" if extra else text


def _markdown(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render(lines: Sequence[Mapping[str, Any]]) -> str:
    """Markdown tables of ``lines`` (normal runs first, then crash runs)."""
    failed = [line for line in lines if "error" in line]
    lines = [line for line in lines if "error" not in line]
    normal = [line for line in lines if line.get("scenario") == "normal"]
    crash = [line for line in lines if line.get("scenario") == "crash"]
    out = [f"{line['system']} ({line['scenario']}): {line['error']}" for line in failed]
    if normal:
        out.append(
            _markdown(
                [
                    "system",
                    "K",
                    "deliveries/s",
                    "p50 ms",
                    "p95 ms",
                    "triggers per key",
                    "lost",
                    "late duplicates",
                    "CPU ms/delivery (system + senders)",
                    "server RSS MiB",
                    "durability",
                ],
                (
                    [
                        line["system"],
                        str(line["keys"]),
                        _num(line["deliveries_per_s"]),
                        _num(line["latency_p50_ms"], 1),
                        _num(line["latency_p95_ms"], 1),
                        _histogram(line["triggers_per_key"]),
                        str(line["lost_completions"]),
                        _late(line),
                        f"{_num(line['cpu_ms_per_delivery'], 2)} "
                        f"({_num(line['system_cpu_ms_per_delivery'], 2)} + "
                        f"{_num(line['sender_cpu_ms_per_delivery'], 2)})",
                        _num(line["server_rss_mib"]),
                        line["durability"],
                    ]
                    for line in normal
                ),
            )
        )
    if crash:
        out.append(
            _markdown(
                [
                    "system",
                    "K",
                    "killed at",
                    "killed",
                    "triggers per key",
                    "lost",
                    "all keys triggered after",
                    "keys needing an operator",
                    "operator's command",
                ],
                (
                    [
                        line["system"],
                        str(line["keys"]),
                        f"{_num(line.get('killed_at_s'), 1)} s",
                        ", ".join(line.get("killed", ["nothing"])),
                        _histogram(line["triggers_per_key"]),
                        str(line["lost_completions"]),
                        "never"
                        if line["all_triggered_after_s"] is None
                        else f"{_num(line['all_triggered_after_s'], 1)} s "
                        f"({_since_restart(line['all_triggered_after_restart_s'])})",
                        str(line["keys_needing_operator"]),
                        f"`{line['operator_command']}`",
                    ]
                    for line in crash
                ),
            )
        )
    return "\n\n".join(out)


def _since_restart(seconds: float) -> str:
    """How long after the restart the last key triggered; the survivors may finish first."""
    if seconds < 0:
        return f"{_num(-seconds, 1)} s before the restart completed"
    return f"{_num(seconds, 1)} s after restart"
