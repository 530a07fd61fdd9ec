"""Live safety: ingestion running while operators write to the same database.

Three real processes share one database (SQLite in WAL mode, or PostgreSQL)
for ``LIVE_SECONDS``: ``bouncedesk events`` reading a SendGrid event stream
from its stdin (fed by the test for the whole duration, committed in small
batches), an operator doing bulk actions (clear the bounce flag, add to a
selection) and a second writer editing persons and recording events of its
own.  Afterwards: every process exited 0, nobody saw "database is locked"
(or a deadlock), every event is stored exactly once, every action's change
is present, and no address was re-blocked from stale state after an
operator cleared it (a lost update).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.providers import to_events as provider_events
from models.db import close_database, open_database
from models.schema import AddressState, AuditItem, AuditLog, Event, Person, SelectionMember
from tests.conftest import ROOT
from tests.ingest_world import seed_world, sendgrid_events

#: Seconds the three processes run together on SQLite; PostgreSQL runs half as long.
#: ``BOUNCEDESK_LIVE_SECONDS=30`` for the full run the issue describes.
LIVE_SECONDS = float(os.environ.get("BOUNCEDESK_LIVE_SECONDS", "20"))
PERSONS = 2000
CHUNK = 400  # provider events written to the ingest process at a time


def _feed(proc: subprocess.Popen, seconds: float, fed: list[dict]) -> None:
    """Write SendGrid events to the ingest process until time is up, then close its stdin."""
    deadline = time.monotonic() + seconds
    k = 0
    assert proc.stdin is not None
    try:
        while time.monotonic() < deadline:
            chunk = sendgrid_events(CHUNK, PERSONS, seed=k, prefix=f"c{k}-")
            proc.stdin.write("".join(json.dumps(e) + "\n" for e in chunk).encode())
            proc.stdin.flush()
            fed.extend(chunk)
            k += 1
            time.sleep(0.05)
    finally:
        proc.stdin.close()


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.xdist_group("live")
def test_ingest_while_operators_write(db_url: str, tmp_path: Path) -> None:
    seconds = LIVE_SECONDS if db_url.startswith("sqlite") else LIVE_SECONDS / 2
    open_database(db_url)
    seed_world(PERSONS)
    close_database()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    def start(name: str, args: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env,
                                stdout=(tmp_path / f"{name}.out").open("wb"),
                                stderr=(tmp_path / f"{name}.err").open("wb"), **kwargs)

    procs = {"ingest": start("ingest", ["tui.cli", "--db", db_url, "events", "--provider", "sendgrid",
                                        "--batch", "200", "-"], stdin=subprocess.PIPE)}
    for name in ("actions", "crm"):
        procs[name] = start(name, ["tests.ingest_world", name, db_url, str(seconds),
                                   str(tmp_path / f"{name}.jsonl"), str(PERSONS)])
    fed: list[dict] = []
    feeder = threading.Thread(target=_feed, args=(procs["ingest"], seconds, fed))
    feeder.start()
    outputs = {}
    for name, proc in procs.items():
        proc.wait(timeout=seconds + 300)
        outputs[name] = (proc.returncode, (tmp_path / f"{name}.out").read_text(errors="replace"),
                         (tmp_path / f"{name}.err").read_text(errors="replace"))
    feeder.join()

    for name, (code, out, err) in outputs.items():
        text = (out + err).lower()
        assert "database is locked" not in text and "deadlock" not in text, f"{name}: {err[-2000:]}"
        assert code == 0, f"{name} exited {code}: {err[-2000:]}"

    open_database(db_url)
    try:
        # -- exactly once: the ingest stream and the second writer's events
        expected: dict[str, int] = {}
        for n, obj in enumerate(fed):
            for e in provider_events("sendgrid", obj, source=f"stdin:{n + 1}"):
                expected[e.dedupe_key] = expected.get(e.dedupe_key, 0) + 1
        crm_log = _records(tmp_path / "crm.jsonl")
        for rec in crm_log:
            if rec["op"] == "events":
                for key in rec["keys"]:
                    expected[key] = expected.get(key, 0) + 1
        assert all(n == 1 for n in expected.values())
        stored: dict[str, int] = {}
        for (key,) in Event.select(Event.dedupe_key).tuples().iterator():
            stored[key] = stored.get(key, 0) + 1
        assert len(fed) > 2 * CHUNK
        assert set(stored) == set(expected), (len(stored), len(expected))
        assert max(stored.values()) == 1
        summary = outputs["ingest"][1]
        ingest_keys = len(expected) - sum(len(r["keys"]) for r in crm_log if r["op"] == "events")
        assert f"{ingest_keys:,} new events" in summary, summary

        # -- the operator's bulk actions all landed
        actions = _records(tmp_path / "actions.jsonl")
        clears = [r["n"] for r in actions if r["op"] == "clear"]
        adds = [r for r in actions if r["op"] == "add"]
        assert len(clears) >= 3 and len(adds) >= 2
        logged = list(AuditLog.select().where(AuditLog.action == "clear bounce flag").order_by(AuditLog.id))
        assert sorted(e.affected for e in logged) == sorted(clears)
        for entry in logged:
            assert AuditItem.select().where(AuditItem.audit == entry.id).count() == entry.affected
        members = SelectionMember.select().where(SelectionMember.selection == adds[0]["selection"]).count()
        assert members == sum(r["n"] for r in adds)

        # -- the person edits: each edited person carries the last name written
        last: dict[str, str] = {}
        for rec in crm_log:
            if rec["op"] == "persons":
                last.update(rec["names"])
        assert last
        names = {p.external_id: p.full_name for p in Person.select(Person.external_id, Person.full_name)}
        assert {k: names[k] for k in last} == last

        # -- no lost update: an address blocked now was blocked by a rule after the last clear of it
        last_clear: dict[int, int] = {}
        last_block: dict[int, int] = {}
        for audit_id, action, address_id in (
                AuditItem.select(AuditItem.audit, AuditLog.action, AuditItem.address_id)
                .join(AuditLog, on=(AuditItem.audit == AuditLog.id)).tuples().iterator()):
            if address_id is None:
                continue
            if action == "clear bounce flag":
                last_clear[address_id] = max(last_clear.get(address_id, 0), audit_id)
            elif action.startswith("rule: "):
                last_block[address_id] = max(last_block.get(address_id, 0), audit_id)

        stale = [a.email for a in AddressState.select().where(AddressState.status == "blocked")
                 if last_clear.get(a.id, 0) > last_block.get(a.id, 0)]
        assert stale == []
    finally:
        close_database()


class _Conflict(Exception):
    """Stands in for psycopg's DeadlockDetected: what the retry looks at is the SQLSTATE."""

    sqlstate = "40P01"


def test_retry_on_conflict_reruns_only_whole_transactions(sqlite_db) -> None:
    from models.db import database, retry_on_conflict, write_transaction

    calls: list[int] = []

    @retry_on_conflict
    def flaky(fail: int) -> str:
        with write_transaction():
            calls.append(1)
            if len(calls) <= fail:
                raise RuntimeError("wrapped") from _Conflict("deadlock detected")
            return "done"

    assert flaky(2) == "done" and len(calls) == 3
    calls.clear()
    with pytest.raises(RuntimeError):  # inside a caller's transaction: the caller's whole work was aborted
        with database.atomic():
            flaky(1)
    assert len(calls) == 1

    @retry_on_conflict
    def broken() -> None:
        calls.append(1)
        raise ValueError("not a conflict")

    calls.clear()
    with pytest.raises(ValueError):
        broken()
    assert len(calls) == 1
