"""Reading returned mail from an IMAP folder (``imap[s]://user@host[:port]/FOLDER``).

TLS is the default: ``imaps://`` (or port 993) speaks TLS from the first
byte, ``imap://`` upgrades with STARTTLS and refuses a server that cannot.
Certificates are verified against the system's CAs (``SSL_CERT_FILE`` points
elsewhere).  Plain text is possible only with ``--insecure`` and only to a
loopback address, for tests.  The password comes from
``BOUNCEDESK_IMAP_PASSWORD`` or a prompt: never from the command line, where
every user of the machine could read it in the process list.

Messages are fetched with ``BODY.PEEK[]`` (the Seen flag is not touched) in
chunks; after a chunk's events are committed, processed messages are moved to
the processed folder and unreadable ones to the quarantine folder (MOVE, or
COPY + \\Deleted + EXPUNGE where the server lacks MOVE).  A run killed between
the commit and the move finds those messages again next time, records only
duplicates and moves them then.
"""

from __future__ import annotations

import base64
import getpass
import imaplib
import ipaddress
import os
import re
import socket
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ingest.parse import MAX_MESSAGE_BYTES
from ingest.runner import Batcher, Progress, ingest_messages
from ingest.sources import SourceItem

PASSWORD_ENV = "BOUNCEDESK_IMAP_PASSWORD"
#: Messages fetched per round trip (and moved per command).
CHUNK = 200
TIMEOUT = 60.0


class ImapURLError(ValueError):
    """The IMAP URL cannot be used (bad arguments: exit status 2)."""


class ImapError(RuntimeError):
    """The IMAP server cannot be used (connection, TLS, login, folder: exit status 1)."""


@dataclass(frozen=True, slots=True)
class ImapTarget:
    user: str
    host: str
    port: int
    folder: str
    tls: str  # implicit | starttls | none

    @property
    def label(self) -> str:
        scheme = "imaps" if self.tls == "implicit" else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(url: str, *, insecure: bool = False) -> ImapTarget:
    """``imap[s]://user@host[:port]/FOLDER`` (folder default INBOX) as an ``ImapTarget``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise ImapURLError(f"not an IMAP URL: {url}")
    if parts.password is not None:
        raise ImapURLError("put no password in the IMAP URL (it would show in the process list); "
                           f"set ${PASSWORD_ENV} or type it at the prompt")
    if not parts.username or not parts.hostname:
        raise ImapURLError(f"IMAP URL needs user and host: imap[s]://user@host[:port]/FOLDER, got {url}")
    try:
        port = parts.port
    except ValueError:
        raise ImapURLError(f"bad port in {url}") from None
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    if scheme == "imaps" or port == 993:
        tls = "implicit"
    elif insecure:
        tls = "none"
    else:
        tls = "starttls"
    if insecure and not _is_loopback(parts.hostname):
        raise ImapURLError(f"--insecure is only allowed for a server on the loopback interface, not {parts.hostname}")
    return ImapTarget(unquote(parts.username), parts.hostname, port or (993 if tls == "implicit" else 143), folder, tls)


def password_for(target: ImapTarget) -> str:
    """The password from the environment, else a prompt on the terminal."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    if not sys.stdin.isatty():
        raise ImapError(f"no IMAP password: set ${PASSWORD_ENV} (no terminal to ask on)")
    return getpass.getpass(f"IMAP password for {target.user}@{target.host}: ")


def connect(target: ImapTarget, password: str) -> imaplib.IMAP4:
    """A logged-in connection; every failure as an ``ImapError`` naming the server."""
    context = ssl.create_default_context()
    where = f"{target.host}:{target.port}"
    try:
        if target.tls == "implicit":
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(target.host, target.port, ssl_context=context, timeout=TIMEOUT)
        else:
            conn = imaplib.IMAP4(target.host, target.port, timeout=TIMEOUT)
            if target.tls == "starttls":
                if "STARTTLS" not in conn.capabilities:
                    conn.shutdown()
                    raise ImapError(f"IMAP server {where} offers no STARTTLS; use imaps:// "
                                    "(or --insecure for a test server on loopback)")
                conn.starttls(ssl_context=context)
    except ssl.SSLError as exc:
        raise ImapError(f"TLS with IMAP server {where} failed: {exc.reason or exc}") from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"cannot connect to IMAP server {where}: {exc}") from None
    try:
        if (target.user + password).isascii():
            conn.login(target.user, password)
        else:  # LOGIN takes ASCII only; SASL PLAIN carries UTF-8 (RFC 4616)
            plain = f"\0{target.user}\0{password}".encode()
            conn.authenticate("PLAIN", lambda _challenge: plain)
        conn.capability()
    except imaplib.IMAP4.error as exc:
        conn.shutdown()
        raise ImapError(f"IMAP login as {target.user} at {where} failed: {_text(exc)}") from None
    return conn


def _text(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def _detail(data: object) -> str:
    """The server's text of a tagged reply (``[b'...']``), for an error message."""
    first = data[0] if isinstance(data, list) and data else data
    return first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)


def _quote(name: str) -> str:
    """A folder name as an IMAP quoted string, in modified UTF-7 (RFC 3501 5.1.3) as the protocol wants."""
    name = mutf7(name)
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


_MUTF7_SHIFT = re.compile(r"&([A-Za-z0-9+,]*)-")


def _is_mutf7(name: str) -> bool:
    """True for an ASCII name whose every ``&`` starts a valid shift (``&-`` or ``&APw-``): already encoded."""
    if not name.isascii() or "&" not in name:
        return False
    if name.count("&") != len(_MUTF7_SHIFT.findall(name)):
        return False
    try:
        for m in _MUTF7_SHIFT.finditer(name):
            b64 = m.group(1).replace(",", "/")
            if b64:
                base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True).decode("utf-16-be")
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def mutf7(name: str) -> str:
    """``name`` in IMAP's modified UTF-7: ``Rückläufer`` is ``R&APw-ckl&AOQ-ufer``; ``&`` is ``&-``.

    imaplib sends command arguments as ASCII: a folder such as the German
    ``Rückläufer`` must be encoded, or the command fails before it is sent.
    A name given already encoded (``R&APw-ckl&AOQ-ufer``, as earlier versions
    needed) is passed as it is.
    """
    if _is_mutf7(name):
        return name
    out: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            b64 = base64.b64encode("".join(run).encode("utf-16-be")).decode("ascii")
            out.append("&" + b64.rstrip("=").replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if " " <= ch <= "~":
            close_run()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    close_run()
    return "".join(out)


def _capabilities(conn: imaplib.IMAP4) -> set[str]:
    caps = set(conn.capabilities)
    typ, data = conn.response("CAPABILITY")
    for item in data or []:
        if isinstance(item, bytes):
            caps.update(item.decode("ascii", "replace").upper().split())
    return caps


_LIST_RE = re.compile(rb'\((?P<flags>[^)]*)\) (?:"(?P<delim>[^"]*)"|NIL) ')


def _delimiter(conn: imaplib.IMAP4) -> str:
    """The server's hierarchy separator (``/`` or ``.``); our folder names use ``/``."""
    typ, data = conn.list('""', '""')
    if typ == "OK" and data and isinstance(data[0], bytes):
        m = _LIST_RE.match(data[0])
        if m and m.group("delim"):
            return m.group("delim").decode()
    return "/"


def ensure_folder(conn: imaplib.IMAP4, name: str) -> str:
    """Create ``name`` (and its parents) unless it exists; returns the server's spelling."""
    server_name = name.replace("/", _delimiter(conn))
    typ, data = conn.list('""', _quote(server_name))
    if typ == "OK" and any(isinstance(d, bytes) for d in data):
        return server_name
    typ, data = conn.create(_quote(server_name))
    if typ != "OK" and b"exist" not in b" ".join(d for d in data if isinstance(d, bytes)).lower():
        raise ImapError(f"cannot create IMAP folder {name}: {data}")
    conn.subscribe(_quote(server_name))
    return server_name


def move(conn: imaplib.IMAP4, uids: list[bytes], folder: str, caps: set[str]) -> None:
    """Move messages by UID: MOVE where offered, else COPY, flag \\Deleted and expunge them."""
    for i in range(0, len(uids), CHUNK):
        uidset = b",".join(uids[i:i + CHUNK]).decode()
        if "MOVE" in caps:
            typ, data = conn.uid("MOVE", uidset, _quote(folder))
            if typ != "OK":
                raise ImapError(f"IMAP MOVE to {folder} failed: {data}")
            continue
        typ, data = conn.uid("COPY", uidset, _quote(folder))
        if typ != "OK":
            raise ImapError(f"IMAP COPY to {folder} failed: {data}")
        conn.uid("STORE", uidset, "+FLAGS.SILENT", r"(\Deleted)")
        if "UIDPLUS" in caps:
            conn.uid("EXPUNGE", uidset)
        else:
            conn.expunge()


def _fetch(conn: imaplib.IMAP4, target: ImapTarget, uids: list[bytes]) -> Iterator[SourceItem]:
    """The messages of ``uids``; oversized ones come back as errors without their body."""
    sizes: dict[bytes, int] = {}
    typ, data = conn.uid("FETCH", b",".join(uids).decode(), "(RFC822.SIZE)")
    if typ != "OK":  # a busy or failing server: stop, and the messages stay for the next run
        raise ImapError(f"IMAP FETCH of sizes failed: {typ} {_detail(data)}")
    for item in data or []:
        if isinstance(item, bytes):
            m = re.search(rb"UID (\d+)", item)
            s = re.search(rb"RFC822\.SIZE (\d+)", item)
            if m and s:
                sizes[m.group(1)] = int(s.group(1))
    small = [u for u in uids if sizes.get(u, 0) <= MAX_MESSAGE_BYTES]
    bodies: dict[bytes, bytes] = {}
    if small:
        typ, data = conn.uid("FETCH", b",".join(small).decode(), "(BODY.PEEK[])")
        if typ != "OK":  # not "no message" for each of them: nothing is moved to quarantine
            raise ImapError(f"IMAP FETCH of messages failed: {typ} {_detail(data)}")
        for item in data or []:
            if isinstance(item, tuple) and len(item) == 2:
                m = re.search(rb"UID (\d+)", item[0])
                if m:
                    bodies[m.group(1)] = item[1]
    for uid in uids:
        source = f"{target.label};UID={uid.decode()}"
        if uid in bodies:
            yield SourceItem(source, bodies[uid], None, None)
        elif sizes.get(uid, 0) > MAX_MESSAGE_BYTES:
            yield SourceItem(source, None, f"message is {sizes[uid]:,} bytes, over the "
                             f"{MAX_MESSAGE_BYTES // (1024 * 1024)} MB limit; not read", None)
        else:
            yield SourceItem(source, None, "the server returned no message for this UID", None)


def ingest_imap(
    target: ImapTarget,
    batcher: Batcher,
    progress: Progress,
    *,
    account_id: int | None = None,
    processed: str = "bouncedesk/processed",
    quarantine: str = "bouncedesk/quarantine",
    password: str | None = None,
) -> None:
    """Record every message of the folder, then move it to ``processed`` (or ``quarantine``)."""
    conn = connect(target, password if password is not None else password_for(target))
    try:
        caps = _capabilities(conn)
        done_folder = ensure_folder(conn, processed)
        bad_folder = ensure_folder(conn, quarantine)
        typ, data = conn.select(_quote(target.folder))
        if typ != "OK":
            detail = _detail(data)
            raise ImapError(f"cannot open IMAP folder {target.folder}: {detail}")
        typ, data = conn.uid("SEARCH", None, "UNDELETED")
        uids = data[0].split() if typ == "OK" and data and data[0] else []
        if progress.total is None:
            progress.total = len(uids)
        for i in range(0, len(uids), CHUNK):
            chunk = uids[i:i + CHUNK]
            outcome: dict[str, list[bytes]] = {"processed": [], "quarantined": []}

            def on_done(item: SourceItem, result: str) -> None:
                outcome[result].append(item.source.rpartition(";UID=")[2].encode())

            ingest_messages(_fetch(conn, target, chunk), batcher, progress, account_id=account_id,
                            on_done=on_done)
            # ingest_messages has committed the chunk's events: only now move the messages.
            move(conn, outcome["processed"], done_folder, caps)
            move(conn, outcome["quarantined"], bad_folder, caps)
        conn.close()
    except (OSError, socket.timeout, imaplib.IMAP4.abort) as exc:
        raise ImapError(f"IMAP connection to {target.host}:{target.port} lost: {exc}") from None
    except imaplib.IMAP4.error as exc:  # the server refused a command (BAD): what was committed stays
        raise ImapError(f"IMAP server {target.host}:{target.port} refused a command: {_text(exc)}") from None
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
