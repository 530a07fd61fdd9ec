"""IMAP ingestion against a real Dovecot on 127.0.0.1 (private config, passwd-file users, self-signed cert)."""

from __future__ import annotations

import getpass
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imaplib
import pytest

from ingest.imap import ImapURLError, connect, move, mutf7, parse_url
from models.schema import Event
from tests.conftest import CORPUS
from tui.cli import main

pytestmark = pytest.mark.xdist_group("dovecot")

DOVECOT = "/usr/sbin/dovecot"
PASSWORD = "s3cret-pw"
INTL_PASSWORD = "pässwört-ß"  # LOGIN takes ASCII only: sent with SASL PLAIN
USERS = 30
MESSAGES = ["lhost-postfix-04.eml", "lhost-exim-05.eml", "arf-01.eml"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    root: Path
    imap_port: int
    imaps_port: int
    cert: Path
    counter: Iterator[int]

    def new_user(self) -> str:
        """A mailbox nobody used yet (each test gets its own)."""
        return f"u{next(self.counter)}"


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = bouncedesk-test-{imap}
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
# user names of any characters (Dovecot's default refuses non-ASCII ones; a test logs in as one)
auth_username_chars =
first_valid_uid = {uid}
default_internal_user = {internal}
default_login_user = {login}
mail_location = maildir:~/Maildir:LAYOUT=fs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot for this module; mail stored as 'nobody' when run as root (Dovecot refuses uid 0)."""
    assert os.path.exists(DOVECOT), "dovecot-imapd missing: run tests/setup/system.sh"
    root = Path(tempfile.mkdtemp(prefix="bd-dovecot-"))
    os.chmod(root, 0o755)
    (root / "home").mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")],
        check=True, capture_output=True,
    )
    (root / "passwd").write_text("".join(f"u{i}:{{PLAIN}}{PASSWORD}::::::\n" for i in range(1, USERS + 1))
                                 + f"intl:{{PLAIN}}{INTL_PASSWORD}::::::\n"
                                 + f"jörg.müller:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
    if os.getuid() == 0:
        mail_uid, mail_gid, internal, login = "nobody", "nogroup", "dovecot", "dovenull"
        shutil.chown(root / "home", "nobody", "nogroup")
        uid = 1
    else:
        me = getpass.getuser()
        mail_uid, mail_gid, internal, login, uid = str(os.getuid()), str(os.getgid()), me, me, os.getuid()
    imap, imaps = free_port(), free_port()
    (root / "dovecot.conf").write_text(CONFIG.format(root=root, imap=imap, imaps=imaps, uid=uid, internal=internal,
                                                     login=login, mail_uid=mail_uid, mail_gid=mail_gid))
    subprocess.run([DOVECOT, "-c", str(root / "dovecot.conf")], check=True, timeout=30)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", imap), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dovecot did not start: {(root / 'dovecot.log').read_text()}") from None
                time.sleep(0.1)
        yield Dovecot(root, imap, imaps, root / "cert.pem", itertools.count(1))
    finally:
        subprocess.run([DOVECOT, "-c", str(root / "dovecot.conf"), "stop"], timeout=30, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def plain(server: Dovecot, user: str) -> imaplib.IMAP4:
    conn = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    conn.login(user, PASSWORD)
    return conn


def fill(server: Dovecot, user: str, extra: list[bytes] = ()) -> None:
    conn = plain(server, user)
    for name in MESSAGES:
        conn.append("INBOX", None, None, (CORPUS / "messages" / name).read_bytes())
    for data in extra:
        conn.append("INBOX", None, None, data)
    conn.logout()


def folder_counts(server: Dovecot, user: str) -> dict[str, int]:
    conn = plain(server, user)
    out = {}
    for folder in ("INBOX", "bouncedesk/processed", "bouncedesk/quarantine"):
        typ, data = conn.select(folder, readonly=True)
        out[folder] = int(data[0]) if typ == "OK" else -1
    conn.logout()
    return out


@pytest.fixture
def trusted(dovecot, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    monkeypatch.setenv("BOUNCEDESK_IMAP_PASSWORD", PASSWORD)
    return dovecot


def test_starttls_ingest_moves_messages_and_quarantines(trusted, sqlite_url, monkeypatch, capsys):
    user = trusted.new_user()
    monkeypatch.setattr("ingest.imap.MAX_MESSAGE_BYTES", 20_000)
    fill(trusted, user, [b"From: x@example.com\r\nSubject: huge\r\n\r\n" + b"x" * 30_000 + b"\r\n"])
    url = f"imap://{user}@127.0.0.1:{trusted.imap_port}/INBOX"
    assert main(["--db", sqlite_url, "ingest", url]) == 0
    out = capsys.readouterr()
    assert "4 messages" in out.out and "1 quarantined" in out.out and "1 warning" in out.out
    assert "over the" in out.err and ";UID=4" in out.err
    assert folder_counts(trusted, user) == {"INBOX": 0, "bouncedesk/processed": 3, "bouncedesk/quarantine": 1}
    events = Event.select().count()
    assert events >= 3
    # the same messages delivered again: only duplicates
    fill(trusted, user)
    assert main(["--db", sqlite_url, "ingest", url]) == 0
    assert "nothing new" in capsys.readouterr().out
    assert Event.select().count() == events
    assert folder_counts(trusted, user)["bouncedesk/processed"] == 6


def test_implicit_tls(trusted, sqlite_url, capsys):
    user = trusted.new_user()
    fill(trusted, user)
    assert main(["--db", sqlite_url, "ingest", f"imaps://{user}@127.0.0.1:{trusted.imaps_port}/INBOX"]) == 0
    assert "3 messages" in capsys.readouterr().out
    assert folder_counts(trusted, user)["bouncedesk/processed"] == 3


def test_untrusted_certificate_is_fatal(dovecot, sqlite_url, monkeypatch, capsys):
    monkeypatch.setenv("BOUNCEDESK_IMAP_PASSWORD", PASSWORD)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    user = dovecot.new_user()
    assert main(["--db", sqlite_url, "ingest", f"imaps://{user}@127.0.0.1:{dovecot.imaps_port}/INBOX"]) == 1
    assert "TLS with IMAP server" in capsys.readouterr().err


def test_wrong_password_and_missing_password(trusted, sqlite_url, monkeypatch, capsys):
    user = trusted.new_user()
    url = f"imap://{user}@127.0.0.1:{trusted.imap_port}/INBOX"
    monkeypatch.setenv("BOUNCEDESK_IMAP_PASSWORD", "wrong")
    assert main(["--db", sqlite_url, "ingest", url]) == 1
    assert "login as" in capsys.readouterr().err
    monkeypatch.delenv("BOUNCEDESK_IMAP_PASSWORD")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    assert main(["--db", sqlite_url, "ingest", url]) == 1
    assert "BOUNCEDESK_IMAP_PASSWORD" in capsys.readouterr().err


def test_insecure_only_on_loopback(trusted, sqlite_url, monkeypatch, capsys):
    monkeypatch.delenv("SSL_CERT_FILE")
    user = trusted.new_user()
    fill(trusted, user)
    url = f"imap://{user}@127.0.0.1:{trusted.imap_port}/INBOX"
    assert main(["--db", sqlite_url, "ingest", "--insecure", url]) == 0
    assert "3 messages" in capsys.readouterr().out
    assert main(["--db", sqlite_url, "ingest", "--insecure", "imap://u@mail.example.com/INBOX"]) == 2
    assert main(["--db", sqlite_url, "ingest", "imap://u:pw@127.0.0.1/INBOX"]) == 2
    assert "no password in the IMAP URL" in capsys.readouterr().err


def test_parse_url_defaults():
    assert parse_url("imaps://a%40b@h/Bounces").port == 993
    t = parse_url("imap://me@h")
    assert (t.user, t.port, t.folder, t.tls) == ("me", 143, "INBOX", "starttls")
    assert parse_url("imap://me@h:993/X").tls == "implicit"
    with pytest.raises(ImapURLError):
        parse_url("imap://h/INBOX")


def test_move_without_move_capability(trusted):
    """Servers without MOVE: COPY, flag \\Deleted, expunge."""
    user = trusted.new_user()
    fill(trusted, user)
    conn = connect(parse_url(f"imap://{user}@127.0.0.1:{trusted.imap_port}/INBOX"), PASSWORD)
    conn.create("Done")
    conn.select("INBOX")
    typ, data = conn.uid("SEARCH", None, "ALL")
    move(conn, data[0].split()[:2], "Done", caps={"UIDPLUS"})
    conn.logout()
    counts = plain(trusted, user)
    assert int(counts.select("INBOX", readonly=True)[1][0]) == 1
    assert int(counts.select("Done", readonly=True)[1][0]) == 2
    counts.logout()


def test_folders_and_password_that_are_not_ascii(trusted, sqlite_url, monkeypatch, capsys):
    """A German server's "Rückläufer" folder and a password with umlauts (imaplib sends ASCII only)."""
    assert mutf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"  # RFC 3501's example
    assert mutf7("Rückläufer & Co") == "R&APw-ckl&AOQ-ufer &- Co"
    assert mutf7("R&APw-ckl&AOQ-ufer") == "R&APw-ckl&AOQ-ufer"  # typed already encoded, as before: kept
    conn = imaplib.IMAP4("127.0.0.1", trusted.imap_port, timeout=10)
    conn.authenticate("PLAIN", lambda _: f"\0intl\0{INTL_PASSWORD}".encode())
    assert conn.create(mutf7("Rückläufer"))[0] == "OK"
    for name in MESSAGES:
        conn.append(mutf7("Rückläufer"), None, None, (CORPUS / "messages" / name).read_bytes())
    conn.logout()
    monkeypatch.setenv("BOUNCEDESK_IMAP_PASSWORD", INTL_PASSWORD)
    url = f"imap://intl@127.0.0.1:{trusted.imap_port}/R%C3%BCckl%C3%A4ufer"
    assert main(["--db", sqlite_url, "ingest", "--processed-folder", "Erledigt/Rückläufer", url]) == 0
    assert "3 messages" in capsys.readouterr().out
    check = imaplib.IMAP4("127.0.0.1", trusted.imap_port, timeout=10)
    check.authenticate("PLAIN", lambda _: f"\0intl\0{INTL_PASSWORD}".encode())
    assert int(check.select(mutf7("Rückläufer"), readonly=True)[1][0]) == 0
    assert int(check.select(mutf7("Erledigt/Rückläufer"), readonly=True)[1][0]) == 3
    check.logout()


def test_a_user_name_that_is_not_ascii(trusted, sqlite_url, monkeypatch, capsys):
    """A user name with umlauts (percent-encoded in the URL, as a browser writes it) and an ASCII password:
    LOGIN cannot carry it, SASL PLAIN does."""
    user = "jörg.müller"
    conn = imaplib.IMAP4("127.0.0.1", trusted.imap_port, timeout=10)
    conn.authenticate("PLAIN", lambda _: f"\0{user}\0{PASSWORD}".encode())
    for name in MESSAGES:
        conn.append("INBOX", None, None, (CORPUS / "messages" / name).read_bytes())
    conn.logout()
    monkeypatch.setenv("BOUNCEDESK_IMAP_PASSWORD", PASSWORD)
    url = f"imap://j%C3%B6rg.m%C3%BCller@127.0.0.1:{trusted.imap_port}/INBOX"
    assert main(["--db", sqlite_url, "ingest", url]) == 0
    assert "3 messages" in capsys.readouterr().out
    assert Event.select().count() >= 3
    check = imaplib.IMAP4("127.0.0.1", trusted.imap_port, timeout=10)
    check.authenticate("PLAIN", lambda _: f"\0{user}\0{PASSWORD}".encode())
    assert int(check.select("INBOX", readonly=True)[1][0]) == 0
    assert int(check.select("bouncedesk/processed", readonly=True)[1][0]) == 3
    check.logout()
    monkeypatch.setenv("BOUNCEDESK_IMAP_PASSWORD", "wrong")
    assert main(["--db", sqlite_url, "ingest", url]) == 1
    assert f"IMAP login as {user} at" in capsys.readouterr().err  # the name as the operator knows it
