"""Celery: the app the worker runs (``celery -A celery_tasks worker``) and senders import.

One chord per key: its header is one ``complete`` task per processor (task id ``KEY/NAME``),
its body the ``trigger`` task (task id ``trigger/KEY``) that appends to the sink with the
processors' results. Redis is broker and result backend; tasks are acknowledged after they
ran (``acks_late``), and a message a dead worker held is delivered again after
``VISIBILITY_TIMEOUT_S``, found by a restore sweep every ``RESTORE_EVERY_S``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sink
from celery import Celery, Signature
from celery.signals import worker_ready

REDIS_URL = os.environ.get("PEERS_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = "peers"
VISIBILITY_TIMEOUT_S = 10  # default 1 hour: a crashed worker's messages would wait that long
RESTORE_EVERY_S = 2  # default 10 s x a throttle of 10


def make_app(url: str) -> Celery:
    """The app on ``url``: the worker's, and the one senders send by task name with."""
    app = Celery("peers", broker=url, backend=url)
    app.conf.update(
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "unacked_restore_interval": RESTORE_EVERY_S,
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False,
    )
    return app


app = make_app(REDIS_URL)


@app.task(name="peers.complete")
def complete(key: str, processor: str, execution_id: str) -> str:
    """A processor's completion: a header task of the key's chord; its result is its name."""
    return processor


@app.task(name="peers.trigger", bind=True)
def trigger(self: Any, processors: list[str], key: str, sink_path: str, system: str) -> str:
    """The chord's body: the next phase's trigger, its id the body's task id."""
    sink.append(sink_path, system, key, self.request.id, processors)
    return str(self.request.id)


def group_id(key: str) -> str:
    return f"chord/{key}"


def body(app: Celery, key: str, sink_path: str, system: str) -> Signature:
    """The key's chord body, frozen with its fixed id as ``chord.apply_async`` freezes it."""
    signature = app.signature("peers.trigger", args=(key, sink_path, system))
    signature.freeze(f"trigger/{key}", group_id=group_id(key))
    return signature


@worker_ready.connect
def _ready(**_: Any) -> None:
    ready = os.environ.get("PEERS_CELERY_READY")
    if ready:
        Path(ready).touch()
