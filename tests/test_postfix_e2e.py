"""Real mail end to end: a mailing sent through a private Postfix, its DSNs ingested.

The test builds its own Postfix instance (config, queue, data and mailbox
directories under /tmp, listening on a free 127.0.0.1 port only) next to an
aiosmtpd peer on 127.0.0.1 that answers per recipient.  Nothing can leave the
machine: every non-local domain is relayed to the peer (``relayhost``), one
test domain to a closed loopback port, DNS lookups are disabled.

The mailing is created with ``models.mailings.create_mailing``, so each
recipient has its VERP token (the envelope sender ``bounces+TOKEN@...``) and
its Message-ID; the mail carries the mailing-id header.  Postfix tries each
delivery once (``maximal_queue_lifetime = 0``), so temporary failures turn
into DSNs at once, and returns them to the bounce domain, which its
``virtual`` agent delivers into a Maildir.  ``bouncedesk ingest MAILDIR``
then reads them, and the test checks which addresses end blocked (hard),
counted (soft, recipient's fault) or not counted (our fault), with reasons.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from models import crm
from models.db import close_database, open_database
from models.mailings import create_mailing
from models.address_state import state_of
from models.schema import Account, Address, Event, Mailing, Recipient
from tests.conftest import ROOT

pytestmark = pytest.mark.xdist_group("postfix")

POSTFIX = "/usr/sbin/postfix"
#: Size limit of the over-quota mailbox (an mbox file; virtual(8) refuses to run with a limit below the message size).
QUOTA_BYTES = 10_240
BOUNCE_DOMAIN = "bounces.bouncedesk.test"
LOCAL_DOMAIN = "localhost.bouncedesk.test"
QUOTA_DOMAIN = "quota.bouncedesk.test"
CLOSED_DOMAIN = "closed.example"
PEER_DOMAIN = "peer.example"

#: What the aiosmtpd peer answers to RCPT TO, by local part.
PEER_REPLIES = {
    "unknown": "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
    "full": "452 4.2.2 <{rcpt}>: Mailbox full, try again later",
    "refused": "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org",
}

#: address -> (expected address status, counted soft bounces, expected event reason or None)
EXPECTED = {
    f"nobody-here@{LOCAL_DOMAIN}": ("blocked", 0, "userunknown"),  # local(8): unknown user
    f"unknown@{PEER_DOMAIN}": ("blocked", 0, "userunknown"),  # peer: 550 5.1.1
    f"full@{PEER_DOMAIN}": ("active", 1, "mailboxfull"),  # peer: 452 4.2.2, tried once, gave up
    f"refused@{PEER_DOMAIN}": ("active", 0, "blocked"),  # peer: 554 5.7.1 our IP listed: sender's fault
    f"full@{QUOTA_DOMAIN}": ("active", 1, "mailboxfull"),  # virtual(8): over the mailbox size limit
    f"someone@{CLOSED_DOMAIN}": ("active", 1, "expired"),  # connection refused, tried once: gave up, soft
    f"ok@{PEER_DOMAIN}": ("active", 0, None),  # delivered: no DSN at all
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeerHandler:
    """An MX that refuses or defers recipients by local part and accepts the rest."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        reply = PEER_REPLIES.get(address.partition("@")[0].lower())
        if reply:
            return reply.format(rcpt=address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        self.delivered.extend(envelope.rcpt_tos)
        return "250 2.0.0 Ok: queued"


@dataclass
class Postfix:
    base: Path
    config: Path
    smtp_port: int
    maildir: Path
    peer: PeerHandler

    def postconf(self, *args: str) -> str:
        return subprocess.run(["postconf", "-c", str(self.config), *args], capture_output=True, text=True,
                              check=True).stdout

    def flush(self) -> None:
        subprocess.run(["postqueue", "-c", str(self.config), "-f"], capture_output=True, check=False)

    def log(self) -> str:
        path = self.base / "maillog"
        return path.read_text(errors="replace") if path.exists() else "(no maillog)"


MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.bouncedesk.test
mydomain = bouncedesk.test
myorigin = $myhostname
mydestination = {local}
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
smtp_host_lookup = native
relayhost = [127.0.0.1]:{peer_port}
transport_maps = inline:{{ {{{closed} = smtp:[127.0.0.1]:{closed_port}}}, {{{quota} = quotavirt:}} }}
virtual_mailbox_domains = {bounce}, {quota}
virtual_mailbox_base = {mail}
virtual_mailbox_maps = inline:{{ {{@{bounce} = bounces/}}, {{full@{quota} = full}} }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_mailbox_limit = 0
local_recipient_maps =
smtpd_reject_unlisted_recipient = no
alias_maps =
alias_database =
recipient_delimiter = +
biff = no
smtputf8_enable = no
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
delay_warning_time = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
maillog_file_prefixes = {base}
maillog_file = {base}/maillog
"""

MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
quotavirt unix  -       n       n       -       -       virtual
  -o virtual_mailbox_limit={quota_bytes}
  -o message_size_limit={quota_bytes}
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@pytest.fixture
def postfix(tmp_path: Path) -> Iterator[Postfix]:
    """A private Postfix instance on 127.0.0.1 and its aiosmtpd peer; stopped and removed afterwards."""
    if not os.path.exists(POSTFIX) or os.geteuid() != 0:
        pytest.fail("Postfix end-to-end test needs /usr/sbin/postfix (tests/setup/system.sh) and root")
    handler = PeerHandler()
    peer_port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=peer_port)
    controller.start()
    # outside pytest's 0700 tmp tree: the postfix user must be able to reach its queue and mailboxes
    base = Path(tempfile.mkdtemp(prefix="bouncedesk-postfix-", dir="/tmp"))
    base.chmod(0o755)
    config, queue, data, mail = (base / n for n in ("etc", "spool", "data", "mail"))
    for d in (config, queue, data, mail):
        d.mkdir()
    uid, gid = pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postfix").gr_gid
    os.chown(data, uid, gid)
    os.chown(mail, uid, gid)
    smtp_port = free_port()
    (config / "main.cf").write_text(MAIN_CF.format(
        queue=queue, data=data, mail=mail, base=base, local=LOCAL_DOMAIN, peer_port=peer_port,
        closed=CLOSED_DOMAIN, closed_port=free_port(), quota=QUOTA_DOMAIN, bounce=BOUNCE_DOMAIN, uid=uid, gid=gid))
    (config / "master.cf").write_text(MASTER_CF.format(smtp_port=smtp_port, quota_bytes=QUOTA_BYTES))
    # the over-quota mailbox: an mbox file already close to its size limit (the next message won't fit)
    mbox = mail / "full"
    mbox.write_text("From old@example.org Mon Jan  1 00:00:00 2024\nSubject: old\n\n"
                    + "x" * (QUOTA_BYTES - 1000) + "\n\n")
    os.chown(mbox, uid, gid)
    pf = Postfix(base, config, smtp_port, mail / "bounces", handler)
    start = subprocess.run([POSTFIX, "-c", str(config), "start"], capture_output=True, text=True)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", smtp_port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"Postfix did not listen on 127.0.0.1:{smtp_port}\n{pf.log()}")
                time.sleep(0.2)
        yield pf
    finally:
        subprocess.run([POSTFIX, "-c", str(config), "stop"], capture_output=True)
        controller.stop()
        if (base / "maillog").exists():  # kept with the test's files, for a failure's post-mortem
            shutil.copyfile(base / "maillog", tmp_path / "maillog")
        shutil.rmtree(base, ignore_errors=True)


def send_mailing(pf: Postfix, code: str) -> list[Recipient]:
    """Send every recipient of mailing ``code`` its own copy, VERP return path and all, through Postfix."""
    mailing = Mailing.get(Mailing.code == code)
    recipients = list(Recipient.select().where(Recipient.mailing == mailing.id).order_by(Recipient.id))
    with smtplib.SMTP("127.0.0.1", pf.smtp_port, timeout=30) as smtp:
        for r in recipients:
            msg = EmailMessage()
            msg["From"] = "News <news@bouncedesk.test>"
            msg["To"] = r.email
            msg["Subject"] = "Spring news"
            msg["Message-ID"] = r.message_id
            msg["X-Bouncedesk-Mailing"] = code
            msg.set_content("Hello,\n\n" + "This is the spring newsletter. " * 60 + "\n")  # ~3 KB: over the quota
            smtp.send_message(msg, from_addr=f"bounces+{r.token}@{BOUNCE_DOMAIN}", to_addrs=[r.email])
    return recipients


def wait_for_dsns(pf: Postfix, count: int, timeout: float = 90) -> list[Path]:
    new = pf.maildir / "new"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(new.iterdir()) if new.is_dir() else []
        if len(found) >= count:
            return found
        pf.flush()
        time.sleep(0.5)
    raise AssertionError(f"{len(found)} of {count} DSNs arrived\n{pf.log()[-5000:]}")


def test_mailing_through_postfix_and_back(postfix: Postfix, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bd.db'}"
    open_database(url)
    try:
        crm.upsert_persons([crm.PersonRow(i, "acme", str(i), full_name=f"Person {i}", emails=[email],
                                          consent="granted") for i, email in enumerate(EXPECTED)])
        account = Account.get(Account.name == "acme")
        _, n = create_mailing(account.id, "spring", "Spring news")
        assert n == len(EXPECTED)
        recipients = send_mailing(postfix, "spring")
        failing = [r for r in recipients if not r.email.startswith("ok@")]
        dsns = wait_for_dsns(postfix, len(failing))
        time.sleep(1)  # a stray extra DSN would show up here and fail the count below
        assert len(list((postfix.maildir / "new").iterdir())) == len(failing)
        assert postfix.peer.delivered == [f"ok@{PEER_DOMAIN}"]
    finally:
        close_database()

    box = postfix.maildir
    ingest = subprocess.run([sys.executable, "-m", "tui.cli", "--db", url, "ingest", str(box)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert ingest.returncode == 0, ingest.stderr
    assert f"summary: {len(dsns)} messages" in ingest.stdout
    assert "0 quarantined" in ingest.stdout
    assert not list((box / "new").iterdir()) and len(list((box / "cur").iterdir())) == len(dsns)

    open_database(url)
    try:
        addresses = {a.email: state_of(a.id) for a in Address.select()}
        events = {}
        for e in Event.select().order_by(Event.id):
            events.setdefault(e.email, []).append(e)
        report = {email: (a.status, a.bounce_count, [(e.kind, e.reason, e.severity, e.blame, e.smtp_status, e.diagnostic)
                                                      for e in events.get(email, [])])
                  for email, a in addresses.items()}
        for email, (status, counted, reason) in EXPECTED.items():
            a = addresses[email]
            assert (a.status, a.bounce_count) == (status, counted), (email, report[email], postfix.log()[-3000:])
            got = events.get(email, [])
            if email.startswith("ok@"):
                assert got == []
                continue
            assert len(got) == 1, (email, report[email])
            e = got[0]
            assert e.kind == "bounce" and e.recipient_id is not None and e.mailing_id is not None
            assert e.remote_mta or e.diagnostic
            if reason is not None:
                assert e.reason == reason, (email, report[email], postfix.log()[-6000:])
            if status == "blocked":
                assert (e.severity, e.blame) == ("hard", "recipient")
                assert a.blocked_reason == "userunknown" and "5.1.1" in (a.blocked_cause or "")
            elif counted:
                assert (e.severity, e.blame) == ("soft", "recipient"), (email, report[email])
            else:
                assert e.blame == "sender", (email, report[email])
        # the recipients of the mailing show the outcome too
        statuses = {r.email: r.status for r in Recipient.select()}
        assert statuses[f"ok@{PEER_DOMAIN}"] == "sent"
        assert all(statuses[email] == "bounced" for email in EXPECTED if not email.startswith("ok@"))
    finally:
        close_database()

    # the same DSNs again: nothing new
    again = subprocess.run([sys.executable, "-m", "tui.cli", "--db", url, "ingest", str(box)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing new" in again.stdout, again.stdout + again.stderr
