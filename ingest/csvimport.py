"""Reading a CRM's CSV export: persons, mailings, recipients.

Columns are found by header name, whatever their order: each of our fields
has the names CRMs commonly use for it (``Vorname``, ``First Name``,
``firstname``...), and ``--map theirs=ours`` names any other.  Every value
is checked here (addresses with ``models.validation.check_syntax``, dates,
consent words) before it reaches ``models.crm``; a bad value is reported
with ``file:line`` and listed in the rejects file, the rest of the row and
the rest of the file are imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from ingest.providers.common import parse_time
from models import crm
from models.addresses import normalize_email
from models.db import data_dir
from models.text import CHAR_MAX, LINE_BAD, clean_line
from models.validation import check_syntax

KINDS = ("persons", "mailings", "recipients")
BATCH_ROWS = 2000

#: our field -> header names that mean it (compared after lower-casing and folding spaces, dashes, dots to "_").
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "persons": {
        "external_id": ("external_id", "id", "person_id", "contact_id", "customer_id", "crm_id", "kundennummer"),
        "first_name": ("first_name", "firstname", "first", "given_name", "vorname", "prenom", "prénom"),
        "last_name": ("last_name", "lastname", "last", "surname", "family_name", "nachname", "nom"),
        "full_name": ("full_name", "fullname", "name", "display_name", "contact_name"),
        "company": ("company", "company_name", "organisation", "organization", "org", "firma", "account_name",
                    "employer"),
        "email": ("email", "e_mail", "email_address", "e_mail_address", "mail", "emails", "email_addresses"),
        "consent": ("consent", "marketing_consent", "email_consent", "opt_in", "optin", "newsletter",
                    "subscribed", "einwilligung"),
        "consent_source": ("consent_source", "opt_in_source", "source"),
        "consent_at": ("consent_at", "consent_date", "opt_in_date", "optin_date", "consent_changed_at"),
        "account": ("account", "client", "mandant"),
    },
    "mailings": {
        "code": ("code", "mailing_code", "mailing_id", "campaign_id", "id"),
        "name": ("name", "mailing_name", "campaign", "campaign_name", "title"),
        "subject": ("subject", "betreff"),
        "sent_at": ("sent_at", "sent", "send_date", "date", "sent_date"),
        "account": ("account", "client", "mandant"),
    },
    "recipients": {
        "mailing": ("mailing", "mailing_code", "mailing_id", "campaign_id", "code"),
        "email": ("email", "e_mail", "email_address", "recipient", "address", "mail"),
        "external_id": ("external_id", "person_id", "contact_id", "customer_id", "crm_id"),
        "name": ("name", "full_name", "recipient_name"),
        "company": ("company", "company_name", "organisation", "organization", "firma"),
        "token": ("token", "verp_token", "recipient_token"),
        "message_id": ("message_id", "messageid"),
        "sent_at": ("sent_at", "sent", "send_date", "date"),
    },
}
#: Fields a row cannot do without.
REQUIRED: dict[str, tuple[str, ...]] = {"persons": (), "mailings": ("code",), "recipients": ("mailing", "email")}

_GRANTED = {"granted", "yes", "y", "true", "1", "opt-in", "optin", "opted in", "subscribed", "ja", "oui", "si", "x"}
_REVOKED = {"revoked", "no", "n", "false", "0", "opt-out", "optout", "opted out", "unsubscribed", "nein", "non",
            "withdrawn"}
_FOLD = re.compile(r"[\s\-.]+")
_EMAIL_SPLIT = re.compile(r"[;,|\s]+")
_DATE_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%Y/%m/%d", "%Y-%m-%d %H:%M")


class CsvImportError(ValueError):
    """The file as a whole cannot be imported (no header, required column missing)."""


def fold(name: str) -> str:
    return _FOLD.sub("_", name.strip().lower()).strip("_")


def parse_map(items: Sequence[str], kind: str) -> dict[str, str]:
    """``["Their Col=email", ...]`` -> ``{folded their name: our field}``; ValueError for a bad item."""
    out: dict[str, str] = {}
    ours = ALIASES[kind]
    for item in items:
        theirs, sep, field_name = item.rpartition("=")
        if not sep or not theirs.strip() or not field_name.strip():
            raise ValueError(f"--map needs THEIRS=OURS, got {item!r}")
        field_name = fold(field_name)
        if field_name not in ours:
            raise ValueError(f"--map: {field_name!r} is not a {kind} field (one of {', '.join(ours)})")
        out[fold(theirs)] = field_name
    return out


@dataclass(slots=True)
class Columns:
    """Which CSV column holds which field; extra e-mail columns (email2, work_email...) for persons."""

    index: dict[str, int]
    extra_emails: list[int]
    ignored: list[str]


def map_header(header: Sequence[str], kind: str, mapping: Mapping[str, str]) -> Columns:
    """Match the header row to our fields (explicit ``--map`` first, then the aliases)."""
    aliases = ALIASES[kind]
    index: dict[str, int] = {}
    extra: list[int] = []
    ignored: list[str] = []
    folded = [fold(h) for h in header]
    for i, name in enumerate(folded):
        if name in mapping and mapping[name] not in index:
            index[mapping[name]] = i
    for i, name in enumerate(folded):
        if i in index.values() or name in mapping:
            continue
        for our, names in aliases.items():
            if our not in index and name in names:
                index[our] = i
                break
        else:
            if kind == "persons" and "mail" in name and "consent" not in name:
                extra.append(i)
            elif name:
                ignored.append(header[i])
    missing = [f for f in REQUIRED[kind] if f not in index]
    if kind == "persons" and not ({"external_id", "email", "full_name", "last_name"} & index.keys()):
        missing.append("external_id or email or name")
    if missing:
        raise CsvImportError(
            f"no column for {', '.join(missing)} (header: {', '.join(header)}); name it with --map THEIRS=OURS"
        )
    return Columns(index, extra, ignored)


@dataclass(slots=True)
class CsvReport:
    """The outcome of one file: counts and every refused value with its place."""

    rows: int = 0
    result: crm.ImportResult = field(default_factory=crm.ImportResult)
    problems: list[str] = field(default_factory=list)  # "file:line: message"
    ignored_columns: list[str] = field(default_factory=list)
    rejects_file: Path | None = None


def open_text(path: str) -> tuple[TextIO, str]:
    """The file as text (UTF-8 with or without BOM, else Windows-1252 as Excel writes it) and its name.

    Bytes the chosen encoding cannot read are kept as lone surrogates
    (``surrogateescape``): ``_rows`` re-reads such a cell as Windows-1252 and
    says so with its line, instead of storing U+FFFD silently (a UTF-8 file
    with one Excel-edited row past the first MiB, or stdin).
    """
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline=""), "stdin"
    raw = Path(path)
    with raw.open("rb") as fh:
        head = fh.read(1 << 20)
    encoding = "utf-8-sig"
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 1 MiB boundary
            encoding = "cp1252"
    return raw.open("r", encoding=encoding, errors="surrogateescape", newline=""), raw.name


def _dialect(sample: str, delimiter: str | None) -> type[csv.Dialect] | csv.Dialect:
    """The file's dialect: the given delimiter, else the sniffed one; the quote is always ``"``.

    The sniffer takes ``'`` for the quote character when enough names like
    O'Brien or D'Angelo appear, and would then split them wrongly.
    """
    base: type[csv.Dialect] | csv.Dialect = csv.excel
    if not delimiter:
        try:
            base = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            base = csv.excel

    class Found(csv.excel):
        pass
    Found.delimiter = delimiter or base.delimiter
    Found.skipinitialspace = bool(getattr(base, "skipinitialspace", False))
    return Found


_SURROGATES = re.compile("[\udc80-\udcff]+")


def _recode(cell: str) -> str:
    """A cell holding undecodable bytes, read as Windows-1252 (what such bytes nearly always are)."""
    return _SURROGATES.sub(lambda m: m.group().encode("utf-8", "surrogateescape").decode("cp1252", "replace"), cell)


class _Record(NamedTuple):
    """One CSV record: where it starts, its fields, and what is wrong with it."""

    line: int
    fields: list[str]
    reject: str | None = None  # why it must be set aside, not imported
    recoded: bool = False  # it held bytes that were not UTF-8, read as Windows-1252


def _rows(fh: TextIO, delimiter: str | None) -> Iterator[_Record]:
    """Every record of ``fh``; the dialect sniffed from the first 64 KiB.

    A record is rejected when the csv module refused it (a field over its
    size limit: an unclosed quote in a big file), or when a quoted field
    swallowed whole records (an unclosed quote in a small file: without this
    check the rest of the file would silently become one name).  Cells with
    bytes that are not text are re-read as Windows-1252 and imported, marked
    ``recoded`` so the operator is told which line to check.
    """
    sample = fh.read(64 * 1024)
    if sample and not sample.endswith(("\n", "\r")):
        sample += fh.readline()  # the csv module ends a record at the end of each string it is given
    dialect = _dialect(sample, delimiter)
    lines = _Taken(itertools.chain(io.StringIO(sample, newline=""), fh))
    reader = csv.reader(lines, dialect=dialect)
    line = 1
    width = 0
    last: _Record | None = None  # held back one record: only at the end is it known to be the last
    while True:
        try:
            record = next(reader)
        except StopIteration:
            if last is not None:
                if _unclosed(lines.last_record, dialect):  # the quote ran to the end: the rest is one field
                    last = last._replace(reject=f"a quoted field runs from line {last.line} to the end of the "
                                                "file (an unclosed quote?); the record is set aside")
                yield last
            return
        except csv.Error as exc:
            if last is not None:
                yield last
                last = None
            yield _Record(line, [], f"unreadable CSV up to line {reader.line_num}: {exc} (an unclosed quote?)")
            line = reader.line_num + 1
            lines.next_record()
            continue
        if last is not None:
            yield last
        lines.next_record()
        recoded = any(_SURROGATES.search(cell) for cell in record)
        if recoded:
            record = [_recode(cell) for cell in record]
        width = width or len(record)
        reject = None
        if reader.line_num - line > 1 and width > 1 and _swallowed(record, dialect.delimiter, width):
            reject = (f"a quoted field runs from line {line} to {reader.line_num} over whole records "
                      "(an unclosed quote?); the record is set aside")
        last = _Record(line, record, reject, recoded)
        line = reader.line_num + 1


class _Taken:
    """The lines given to the csv reader, keeping the text of the record read last (to re-check it)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._taken: list[str] = []
        self._last: list[str] = []

    def __iter__(self) -> "_Taken":
        return self

    def __next__(self) -> str:
        text = next(self._lines)
        self._taken.append(text)
        return text

    def next_record(self) -> None:
        """The reader finished a record: keep its lines (joined only if asked for), start the next."""
        self._last, self._taken = self._taken, []

    @property
    def last_record(self) -> str:
        """The text of the record read last."""
        return "".join(self._last)


def _unclosed(text: str, dialect: type[csv.Dialect] | csv.Dialect) -> bool:
    """Whether ``text`` (one record) ends inside a quoted field: the strict reader says so, the lenient one
    the file is read with would return the rest of the file as that field."""
    class Strict(dialect):  # type: ignore[misc, valid-type]
        strict = True
    try:
        list(csv.reader(io.StringIO(text, newline=""), dialect=Strict))
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _swallowed(record: Sequence[str], delimiter: str, width: int) -> bool:
    """True when a cell spans a line that looks like a whole record of ``width`` fields."""
    return any(text.count(delimiter) >= width - 1
               for cell in record if "\n" in cell for text in cell.splitlines()[1:])


def parse_consent(value: str) -> str | None:
    v = value.strip().lower()
    if not v:
        return None
    if v in _GRANTED:
        return "granted"
    if v in _REVOKED:
        return "revoked"
    raise ValueError(f"consent {value!r} is neither yes/granted nor no/revoked")


def parse_date(value: str) -> dt.datetime | None:
    v = value.strip()
    if not v:
        return None
    stamp = parse_time(v.replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d \d", v) else v)
    if stamp is None:
        for fmt in _DATE_FORMATS:
            try:
                return dt.datetime.strptime(v, fmt)
            except ValueError:
                continue
        raise ValueError(f"date {value!r} is not ISO 8601 (2024-03-01 or 2024-03-01T09:30) nor DD.MM.YYYY")
    return stamp


def check_email(value: str) -> tuple[str | None, str]:
    """The stored form of a valid address, or (None, why it is invalid)."""
    verdict = check_syntax(value.strip())
    if verdict.status != "ok":
        hint = f" (did you mean {verdict.suggestion}?)" if verdict.suggestion else ""
        return None, f"{verdict.reason}{hint}"
    return normalize_email(verdict.normalized), ""


def import_csv(
    kind: str,
    path: str,
    *,
    account: str = "default",
    mapping: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    batch_rows: int = BATCH_ROWS,
    on_batch: Callable[[CsvReport], None] | None = None,
) -> CsvReport:
    """Import one CSV file of ``kind``; batches of ``batch_rows`` each in its own transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r} (one of {', '.join(KINDS)})")
    fh, name = open_text(path)
    report = CsvReport()
    rejects: TextIO | None = None
    try:
        rows = _rows(fh, delimiter)
        try:
            header = next(rows).fields
        except StopIteration:
            raise CsvImportError("empty file (no header row)") from None
        cols = map_header(header, kind, mapping or {})
        report.ignored_columns = cols.ignored
        batch: list[Any] = []
        upsert = {"persons": crm.upsert_persons, "mailings": crm.upsert_mailings,
                  "recipients": crm.upsert_recipients}[kind]

        def problem(line: int, message: str, record: Sequence[str]) -> None:
            nonlocal rejects
            report.problems.append(f"{name}:{line}: {message}")
            if rejects is None:
                folder = data_dir() / "rejects"
                folder.mkdir(parents=True, exist_ok=True)
                report.rejects_file = folder / f"{name}.jsonl"
                rejects = report.rejects_file.open("a", encoding="utf-8", errors="backslashreplace")  # any file name
            rejects.write(json.dumps({"file": name, "line": line, "reason": message, "row": list(record)},
                                     ensure_ascii=False) + "\n")

        def flush() -> None:
            done = upsert(batch)
            for line, message in done.errors:
                problem(line, message, [])
            for line, message in done.notes:  # imported, but with a consequence to check
                report.problems.append(f"{name}:{line}: {message}")
            done.errors, done.notes = [], []
            report.result.add(done)
            batch.clear()
            if on_batch:
                on_batch(report)

        for line, record, reject, recoded in rows:
            if reject is not None:
                report.rows += 1
                problem(line, reject, record)
                continue
            if recoded:
                problem(line, "bytes that are not UTF-8, read as Windows-1252: check the names", [])
            if not any(cell.strip() for cell in record):
                continue
            report.rows += 1
            row = _row(kind, cols, record, line, account, lambda msg, ln=line, rec=record: problem(ln, msg, rec))
            if row is not None:
                batch.append(row)
            if len(batch) >= batch_rows:
                flush()
        flush()
    finally:
        fh.close()
        if rejects is not None:
            rejects.close()
    return report


class _KeyTooLong(ValueError):
    """A key column (an id, a code, a token) longer than the database keeps: the row cannot be matched."""


#: Columns that identify a row: cut, two different values could become one, so the row is refused instead.
#: ``email`` is neither cut nor refused here: a cell may hold several addresses, each checked on its own.
_KEY_FIELDS = frozenset({"external_id", "code", "mailing", "token", "message_id", "account"})


def _row(kind: str, cols: Columns, record: Sequence[str], line: int, account: str,
         problem: Callable[[str], None]) -> Any:
    """One record as a ``models.crm`` row, or None when it cannot be imported at all."""
    try:
        return _build_row(kind, cols, record, line, account, problem)
    except _KeyTooLong as exc:
        problem(f"{exc}; row not imported")
        return None


def _build_row(kind: str, cols: Columns, record: Sequence[str], line: int, account: str,
               problem: Callable[[str], None]) -> Any:
    def get(name: str) -> str:
        i = cols.index.get(name)
        value = record[i].strip() if i is not None and i < len(record) else ""
        if LINE_BAD.search(value):  # line breaks, ESC...: one line, and nothing that drives a terminal
            value = " ".join(clean_line(value).split())
        if len(value) > CHAR_MAX and name != "email":  # VARCHAR(255) on PostgreSQL: the batch would fail
            if name in _KEY_FIELDS:
                raise _KeyTooLong(f"{name}: {len(value):,} characters, more than {CHAR_MAX}")
            problem(f"{name}: {len(value):,} characters, cut to {CHAR_MAX}")
            value = value[:CHAR_MAX]
        return value

    def date(name: str) -> dt.datetime | None:
        try:
            return parse_date(get(name))
        except ValueError as exc:
            problem(f"{name}: {exc}; imported without it")
            return None

    if kind == "mailings":
        code = get("code")
        if not code:
            problem("no mailing code; row not imported")
            return None
        return crm.MailingRow(line, get("account") or account, code, get("name"), get("subject"), date("sent_at"))

    if kind == "recipients":
        mailing, raw = get("mailing"), get("email")
        if not mailing or not raw:
            problem("mailing and email are both needed; row not imported")
            return None
        email, why = check_email(raw)
        if email is None:
            problem(f"invalid address {raw!r}: {why}; row not imported")
            return None
        return crm.RecipientRow(line, mailing, email, get("external_id") or None, get("name"), get("company"),
                                get("token") or None, get("message_id") or None, date("sent_at"))

    raws = [e for e in _EMAIL_SPLIT.split(get("email")) if e]
    raws += [record[i].strip() for i in cols.extra_emails if i < len(record) and record[i].strip()]
    emails: list[str] = []
    for raw in raws:
        email, why = check_email(raw)
        if email is None:
            problem(f"invalid address {raw!r}: {why}; not imported")
        elif email not in emails:
            emails.append(email)
    first, last, full = get("first_name"), get("last_name"), get("full_name")
    full = full or f"{first} {last}".strip()
    external = get("external_id") or None
    if not external and not emails:
        problem("no external id and no valid address: nothing to match the person by; row not imported")
        return None
    try:
        consent = parse_consent(get("consent"))
    except ValueError as exc:
        problem(f"{exc}; consent left unchanged")
        consent = None
    return crm.PersonRow(line, get("account") or account, external, first, last, full, get("company"), emails,
                         consent, get("consent_source"), date("consent_at"))
