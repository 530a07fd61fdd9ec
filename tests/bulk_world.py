"""A small world for the bulk-action, export and mailing tests.

One account with six persons in different states, a second account, a
mailing whose recipients cover every status, one complaint event, so each
action can be aimed by ids and by filter at a known subset.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.address_state import set_state
from models.schema import Account, Address, Event, Mailing, Recipient, phase_of
from tests import factories
from tests.factories import T0


@dataclass
class World:
    acc: Account
    other: Account
    mailing: Mailing
    ok: Address  # active, consent granted
    hard: Address  # blocked by a hard bounce, globally blocked
    soft: Address  # blocked after soft bounces
    counting: Address  # active but with 2 soft bounces counted
    hostile: Address  # outside text that looks like formulas and markup
    revoked: Address  # consent revoked by a complaint
    complaint: Event

    def recipient(self, address: Address) -> Recipient:
        return Recipient.get((Recipient.mailing == self.mailing) & (Recipient.address == address))


HOSTILE_NAME = "=cmd|' /C calc'!A0"
HOSTILE_DIAG = "=HYPERLINK(\"http://evil\",\"x\") 550 [/]"


def build() -> World:
    acc = factories.account("acme")
    other = factories.account("other")
    ok = factories.person(acc, "ok@example.com", name="Ada Lovelace")
    hard = factories.person(acc, "gone@example.org", name="Grace Hopper", company="+Plus Ltd")
    soft = factories.person(acc, "full@example.net", name="Alan Turing", company="-Minus AG")
    counting = factories.person(acc, "flaky@example.com", name="Edsger Dijkstra", company="@At Inc")
    hostile = factories.person(acc, "hostile@example.com", name=HOSTILE_NAME, company="\tTab Co")
    revoked = factories.person(acc, "angry@example.com", name="Carl Sagan", company="\rCR GmbH", consent="revoked")
    set_state(hard.id, status="blocked", blocked_reason="userunknown", blocked_category="unknown_user",
              blocked_at=T0, blocked_cause="hard bounce", global_block=True)
    Address.update(last_severity="hard", last_status="5.1.1",
                   last_diagnostic="550 5.1.1 user unknown").where(Address.id == hard.id).execute()
    set_state(soft.id, status="blocked", bounce_count=6, blocked_reason="mailboxfull", blocked_category="mailbox_full",
              blocked_at=T0, blocked_cause="6th soft bounce")
    Address.update(last_severity="soft", last_diagnostic=HOSTILE_DIAG).where(Address.id == soft.id).execute()
    set_state(counting.id, bounce_count=2)
    m = factories.mailing(acc, "M1", [ok, hard, soft, counting, hostile, revoked])
    statuses = {ok: "opened", hard: "bounced", soft: "bounced", counting: "delivered", hostile: "bounced",
                revoked: "complained"}
    for a, status in statuses.items():
        (Recipient.update(status=status, phase=phase_of(status), opened=status in ("opened", "complained"),
                          severity="hard" if a is hard else ("soft" if status == "bounced" else ""),
                          category="unknown_user" if a is hard else ("mailbox_full" if status == "bounced" else ""),
                          diagnostic=HOSTILE_DIAG if a is hostile else "", last_event_at=T0)
         .where((Recipient.mailing == m) & (Recipient.address == a)).execute())
    rec = Recipient.get((Recipient.mailing == m) & (Recipient.address == revoked))
    complaint = Event.create(account=acc, mailing=m, recipient=rec, address=revoked, person=revoked.person_id,
                             email=revoked.email, kind="complaint", category="complaint", blame="recipient",
                             feedback_type="abuse", dedupe_key="c1", occurred_at=T0)
    return World(acc, other, m, *(Address.get_by_id(a.id) for a in (ok, hard, soft, counting, hostile, revoked)),
                  complaint)
