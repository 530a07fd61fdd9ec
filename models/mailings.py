"""Who may receive a new mailing, and creating it with its recipients.

Eligibility is one query, because it is the rule that protects the sender:
an address receives a new mailing only when

* it is not blocked: its state (``AddressState``; no row is the default,
  active) is not blocked and carries no global block, and no address of the
  same e-mail in any account carries a global block (an address added to a
  new account after the global bounce is covered too);
* its person has e-mail marketing consent: a ``Consent`` row with
  ``state = 'granted'``.  No consent row means never asked, which is not
  consent (opt-in), so such persons are excluded like revoked ones; an
  address without a person has nobody who could have consented and is
  excluded as well;
* its person is not a former employee.
"""

from __future__ import annotations

import datetime as dt

from peewee import JOIN, SQL, Cast, ModelSelect, Node, Value, fn

from models import audit
from models.db import database, is_sqlite, write_transaction
from models.schema import Address, AddressState, Company, Consent, Mailing, Person, Recipient, SelectionMember, utcnow

#: Right-hand side of the Message-ID of each copy: ``<token@MESSAGE_ID_DOMAIN>``.
DEFAULT_MESSAGE_ID_DOMAIN = "mail.bouncedesk.invalid"


def _eligible(account_id: int, selection_id: int | None, *fields: Node) -> ModelSelect:
    """The eligibility query with the given output columns (Address, Person, Company joined)."""
    # blocked or counting in this account: a state row; blocked globally (in any account): the partial
    # index of global blocks by e-mail (``WHERE global_block``, the same bare condition, so SQLite uses it)
    own = AddressState.select(SQL("1")).where((AddressState.id == Address.id) & (
        (AddressState.status != "active") | AddressState.global_block))
    other = AddressState.alias("other")
    globally_blocked = other.select(SQL("1")).where((other.email == Address.email) & other.global_block)
    q = (Address.select(*fields)
         .join(Person, on=(Address.person == Person.id))
         .join(Consent, on=(Consent.person == Person.id))
         .join_from(Person, Company, JOIN.LEFT_OUTER, on=(Person.company == Company.id))
         .where((Address.account == account_id)
                & ~fn.EXISTS(own)
                & ~fn.EXISTS(globally_blocked)
                & (Consent.state == "granted")
                & (Person.former_employee == False)))  # noqa: E712
    if selection_id is not None:
        q = q.where(Address.id.in_(
            SelectionMember.select(SelectionMember.address).where(SelectionMember.selection == selection_id)))
    return q


def eligible_addresses(account_id: int, *, selection_id: int | None = None) -> ModelSelect:
    """Addresses of ``account_id`` that may receive a new mailing, ordered by id.

    ``selection_id`` narrows the audience to a selection's or project's
    members.  Returns a query (page or count it; it is never loaded here).
    """
    return _eligible(account_id, selection_id, Address).order_by(Address.id)


def _token_expr() -> Node:
    """A per-row random part for VERP tokens, computed by the database.

    Lower-case hex only: VERP return paths travel through MTAs that may fold
    case in the local part.
    """
    if is_sqlite():
        return fn.LOWER(fn.HEX(fn.RANDOMBLOB(5)))
    return fn.SUBSTR(fn.MD5(Cast(fn.RANDOM(), "TEXT")), 1, 10)


def create_mailing(account_id: int, code: str, name: str, *, subject: str = "",
                   selection_id: int | None = None, sent_at: dt.datetime | None = None,
                   message_id_domain: str = DEFAULT_MESSAGE_ID_DOMAIN) -> tuple[Mailing, int]:
    """Create a mailing and one recipient per eligible address; return (mailing, recipients).

    One transaction, one ``INSERT ... SELECT`` over the eligibility query:
    each recipient gets the denormalised name, company, e-mail and domain the
    recipient screen sorts by, a unique VERP ``token``
    (``<random hex>-<mailing id>-<address id>``: unique by construction, not
    guessable from another recipient's token) and its ``message_id``.
    """
    code = (code or "").strip()
    if not code:
        raise ValueError("a mailing needs a code")
    with write_transaction():
        mailing = Mailing.create(account=account_id, code=code, name=name.strip() or code, subject=subject,
                                 sent_at=sent_at, created_at=utcnow())
        token = _token_expr().concat(f"-{mailing.id}-").concat(Address.id)
        company = fn.COALESCE(Company.name, "")
        select = _eligible(
            account_id, selection_id,
            Value(mailing.id), Address.id, Person.id, Address.email, Address.domain, Person.full_name, company,
            Value("sent"), Value("sent"), Value(False), Value(""), Value(""), Value(""), Value(""), Value(""),
            Value(""), token)
        n = Recipient.insert_from(select, [
            Recipient.mailing, Recipient.address, Recipient.person, Recipient.email, Recipient.domain,
            Recipient.name, Recipient.company, Recipient.status, Recipient.phase, Recipient.opened, Recipient.severity,
            Recipient.category, Recipient.reason, Recipient.blame, Recipient.smtp_status, Recipient.diagnostic,
            Recipient.token,
        ]).as_rowcount().execute()
        # The Message-ID derives from the token, so it is unique as well; sent_at is
        # set here because an UPDATE gives the parameter its column's type.
        (Recipient.update(message_id=Value("<").concat(Recipient.token).concat("@" + message_id_domain + ">"),
                          sent_at=sent_at)
         .where(Recipient.mailing == mailing.id).execute())
        audit.log("create mailing", cause=f"mailing {code!r} created for the eligible addresses",
                  affected=n, details={"mailing_id": mailing.id, "code": code, "selection_id": selection_id},
                  account_id=account_id)
    return mailing, n
