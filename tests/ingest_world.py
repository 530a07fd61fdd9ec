"""A deterministic world for ingestion tests: one mailing to N people and a stream of provider events.

The event stream mixes everything the rules react to (hard and soft bounces,
deliveries and opens that reset soft counts, complaints that revoke consent,
sender-blame bounces, delays, unknown addresses) so that comparing two
databases after ingesting it compares every rule's outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from models import crm

ACCOUNT = "acme"
SEEDED_AT = dt.datetime(2024, 1, 1)
MAILING = "m1"


def seed_world(persons: int) -> None:
    """Account ``acme``, mailing ``m1`` and one recipient per person ``p<i>@example.com`` (open database)."""
    crm.upsert_mailings([crm.MailingRow(1, ACCOUNT, MAILING, "Spring")])
    for start in range(0, persons, 1000):
        ids = range(start, min(start + 1000, persons))
        crm.upsert_persons([crm.PersonRow(i, ACCOUNT, str(i), full_name=f"Person {i}",
                                          emails=[f"p{i}@example.com"], consent="granted",
                                          consent_at=SEEDED_AT) for i in ids])
        crm.upsert_recipients([crm.RecipientRow(i, MAILING, f"p{i}@example.com", token=f"t{i}") for i in ids])


def sendgrid_events(count: int, persons: int, *, seed: int = 7, prefix: str = "e") -> list[dict]:
    """``count`` SendGrid webhook events about the seeded people (and a few strangers)."""
    rng = random.Random(seed)
    kinds = [
        ("bounce", 0.08, {"type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 user unknown"}),
        ("bounce", 0.30, {"type": "bounce", "status": "4.2.2", "reason": "452 4.2.2 mailbox full"}),
        ("bounce", 0.05, {"type": "blocked", "status": "5.7.1", "reason": "554 5.7.1 listed at Spamhaus"}),
        ("deferred", 0.07, {"response": "421 try again later"}),
        ("delivered", 0.25, {"response": "250 OK"}),
        ("open", 0.15, {}),
        ("spamreport", 0.02, {}),
        ("dropped", 0.03, {"reason": "Bounced Address"}),
        ("processed", 0.05, {}),
    ]
    weights = [w for _, w, _ in kinds]
    out = []
    for n in range(count):
        name, _, extra = rng.choices(kinds, weights)[0]
        who = rng.randrange(persons + persons // 20 + 1)
        email = f"p{who}@example.com" if who < persons else f"stranger{who}@example.org"
        out.append({"email": email, "timestamp": 1_700_000_000 + n, "event": name,
                    "sg_event_id": f"{prefix}{n}", "mailing": MAILING, **extra})
    return out


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


_DSN_STATUSES = [
    ("5.1.1", "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table"),
    ("4.2.2", "452 4.2.2 <{rcpt}>: Mailbox full"),
    ("5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"),
    ("5.2.2", "552 5.2.2 <{rcpt}>: user is over quota"),
]


def dsn_message(n: int, rcpt: str, *, seed: int = 0) -> bytes:
    """A Postfix-style RFC 3464 delivery status notification for ``rcpt`` (the ``n``-th of a run)."""
    status, diag = _DSN_STATUSES[(n * 7 + seed) % len(_DSN_STATUSES)]
    diag = diag.format(rcpt=rcpt)
    return (
        f"Return-Path: <>\n"
        f"From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
        f"To: bounces@example.org\n"
        f"Subject: Undelivered Mail Returned to Sender\n"
        f"Date: Tue, 14 Nov 2023 22:13:{n % 60:02d} +0000\n"
        f"Message-ID: <dsn-{seed}-{n}@mx.example.org>\n"
        f"Auto-Submitted: auto-replied\n"
        f"MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="B{n}"\n'
        f"\n--B{n}\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.org.\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\n"
        f"\n<{rcpt}>: host mx.example.com said: {diag}\n"
        f"\n--B{n}\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; mx.example.org\nArrival-Date: Tue, 14 Nov 2023 22:13:00 +0000\n\n"
        f"Final-Recipient: rfc822; {rcpt}\nOriginal-Recipient: rfc822; {rcpt}\nAction: failed\n"
        f"Status: {status}\nRemote-MTA: dns; mx.example.com\nDiagnostic-Code: smtp; {diag}\n"
        f"\n--B{n}\nContent-Type: text/rfc822-headers\n\n"
        f"From: news@example.org\nTo: {rcpt}\nSubject: Spring\n"
        f"Message-ID: <m1-{n}@example.org>\nX-Bouncedesk-Mailing: {MAILING}\n"
        f"\n--B{n}--\n"
    ).encode()


def fill_maildir(box: Path, messages: int, persons: int, *, seed: int = 0) -> Path:
    """A Maildir with ``messages`` DSNs about the seeded people in ``new/``."""
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    for n in range(messages):
        rcpt = f"p{(n * 7919 + seed) % persons}@example.com"
        (box / "new" / f"1700000000.M{n}P{seed}.host").write_bytes(dsn_message(n, rcpt, seed=seed))
    return box


# -- live-safety writers: run as ``python -m tests.ingest_world WRITER URL SECONDS OUT`` ---------------------------


def _log(out, record: dict) -> None:
    out.write(json.dumps(record) + "\n")
    out.flush()


def actions_writer(url: str, seconds: float, out_path: str, seed: int = 1) -> None:
    """An operator doing bulk actions: clear the bounce flag of, and add to a selection, 25 addresses at a time.

    Every action's result is logged only after it returned (committed), so
    the test can check that each one is present afterwards.
    """
    import time

    from models.actions import add_to_selection, clear_bounce_flag
    from models.db import open_database
    from models.filters import Target, ViewFilter
    from models.schema import Address

    open_database(url)
    rng = random.Random(seed)
    ids = [a.id for a in Address.select(Address.id).order_by(Address.id)]
    with open(out_path, "w", encoding="utf-8") as out:
        sel_id, n = add_to_selection(Target(ViewFilter("addresses"), frozenset(ids[:5])), name="live")
        _log(out, {"op": "add", "selection": sel_id, "n": n})
        deadline = time.monotonic() + seconds
        k = 0
        while time.monotonic() < deadline:
            target = Target(ViewFilter("addresses"), frozenset(rng.sample(ids, 25)))
            if k % 3 == 2:
                _, n = add_to_selection(target, selection_id=sel_id)
                _log(out, {"op": "add", "selection": sel_id, "n": n})
            elif k % 7 == 5:
                n = clear_bounce_flag(Target(ViewFilter("blocked")))  # every blocked address: a big one
                _log(out, {"op": "clear", "n": n})
            else:
                _log(out, {"op": "clear", "n": clear_bounce_flag(target)})
            k += 1
            time.sleep(0.02)


def crm_writer(url: str, seconds: float, out_path: str, persons: int, seed: int = 2) -> None:
    """A second writer: edits persons' names (a CRM import) and records events of its own (a webhook)."""
    import time

    from models.db import open_database
    from models.events import EventIn, record_events

    open_database(url)
    rng = random.Random(seed)
    kinds = [("bounce", "mailboxfull", "4.2.2"), ("bounce", "userunknown", "5.1.1"), ("delivered", "", "2.0.0"),
             ("open", "", "")]
    with open(out_path, "w", encoding="utf-8") as out:
        deadline = time.monotonic() + seconds
        k = 0
        while time.monotonic() < deadline:
            if k % 2 == 0:
                chosen = rng.sample(range(persons), 20)
                names = {str(i): f"Person {i} v{k}" for i in chosen}
                crm.upsert_persons([crm.PersonRow(i, ACCOUNT, str(i), full_name=names[str(i)],
                                                  emails=[f"p{i}@example.com"]) for i in chosen])
                _log(out, {"op": "persons", "names": names})
            else:
                events = []
                for j in range(50):
                    kind, reason, status = rng.choice(kinds)
                    events.append(EventIn(email=f"p{rng.randrange(persons)}@example.com", kind=kind,
                                          reason=reason, smtp_status=status, dedupe_key=f"w{k}-{j}",
                                          provider="live-test", occurred_at=SEEDED_AT + dt.timedelta(seconds=k),
                                          mailing_code=MAILING))
                result = record_events(events, cause="live test writer")
                _log(out, {"op": "events", "keys": [e.dedupe_key for e in events], "new": result.events})
            k += 1
            time.sleep(0.02)


def main(argv: list[str]) -> int:
    writer, url, seconds, out = argv[:4]
    if writer == "actions":
        actions_writer(url, float(seconds), out)
    elif writer == "crm":
        crm_writer(url, float(seconds), out, int(argv[4]))
    else:
        raise SystemExit(f"unknown writer {writer!r}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
