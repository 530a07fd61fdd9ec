"""Address validation: syntax, DNS and typo suggestions, and storing the verdict.

Why it looks like this:

* Syntax is email-validator's (RFC 5322/6531, internationalised addresses,
  Unicode NFC normalisation, special-use domains such as ``.test`` refused).
  The normalised form is the one ``Address.email`` is stored and matched in
  (``models.addresses.normalize_email``: lower-case, IDNA domain), applied to
  email-validator's output so the domain gets IDNA 2008/UTS-46 encoding.
* DNS is asked once per distinct domain (``ingest.dns``), so 10,000 addresses
  over 1,000 domains cost 1,000 lookups made concurrently.
* ``unknown`` (SERVFAIL, timeouts, deadline) is never invalid: only a
  definite answer (bad syntax, NXDOMAIN, null MX, no mail host) is.
* Typo suggestions are only ever suggestions: a result carries the corrected
  address for the operator to accept; nothing is changed silently.
* Storing is set-based: one UPDATE per distinct verdict, not one per row.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from peewee import fn
from ingest import dns as dnsmod
from models.addresses import normalize_email
from models.db import MAX_PARAMS, write_transaction
from models.filters import Target, address_ids_query
from models.schema import Address, Selection, SelectionMember, utcnow
from models.selections import ANY_ACCOUNT, named

STATUSES: tuple[str, ...] = ("ok", "invalid_syntax", "no_domain", "null_mx", "no_mail", "unknown")
#: Statuses that mean the address cannot receive mail (``unknown`` is not one).
INVALID_STATUSES: frozenset[str] = frozenset({"invalid_syntax", "no_domain", "null_mx", "no_mail"})

#: Environment variable with the default nameservers (comma-separated HOST[:PORT]).
NAMESERVERS_ENV = "BOUNCEDESK_NAMESERVERS"

SYNTAX_ONLY_REASON = "syntax ok; DNS not checked"
NO_RESOLVER_NOTE = "no DNS resolver answered; checked syntax only"

Progress = Callable[[int, int], None]  # (addresses done, addresses total)


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The verdict on one address.

    ``suggestion`` is a full corrected address ("did you mean ...?") or None.
    """

    address: str
    normalized: str
    status: str
    reason: str
    suggestion: str | None

    @property
    def invalid(self) -> bool:
        """True when the address definitely cannot receive mail."""
        return self.status in INVALID_STATUSES

    def as_dict(self) -> dict[str, str | None]:
        """The JSON object of ``bouncedesk validate --json`` (exactly these keys)."""
        return asdict(self)


@dataclass(slots=True)
class ValidationRun:
    """Results of one run plus whether DNS was really used (and, if not, why)."""

    results: list[ValidationResult]
    dns_used: bool
    note: str = ""
    counts: Counter[str] = field(default_factory=Counter)


# -- syntax ---------------------------------------------------------------------


def _parse(address: str) -> tuple[ValidationResult, str | None]:
    """The syntax verdict and, when the syntax is fine, the IDNA domain to look up."""
    text = address.strip()
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return ValidationResult(address, text, "invalid_syntax", str(exc), _repair(text)), None
    except Exception as exc:  # anything email-validator did not foresee is still bad input
        return ValidationResult(address, text, "invalid_syntax", f"cannot parse address: {exc}", None), None
    octets = len(info.local_part.encode("utf-8"))
    if octets > 64:  # RFC 5321 4.5.3.1.1; email-validator 2.4 no longer refuses it, real servers do
        return ValidationResult(address, text, "invalid_syntax",
                                f"the part before the @-sign is {octets} octets long, over the limit of 64", None), None
    domain = info.ascii_domain
    normalized = normalize_email(f"{info.local_part}@{domain}")
    local = normalized.rpartition("@")[0]
    fixed = suggest_domain(domain)
    suggestion = f"{local}@{fixed}" if fixed else None
    return ValidationResult(address, normalized, "ok", "syntax ok", suggestion), domain


def _repair(text: str) -> str | None:
    """A likely intended address for a few common slips (comma for dot, stray dots, spaces)."""
    if text.count("@") != 1:
        return None
    local, domain = text.split("@")
    local = local.strip().rstrip(".")
    domain = domain.replace(",", ".").replace(" ", "").strip(".")
    while ".." in domain:
        domain = domain.replace("..", ".")
    candidate = f"{local}@{domain}"
    if candidate == text:
        return None
    try:
        info = validate_email(candidate, check_deliverability=False)
    except Exception:
        return None
    fixed = suggest_domain(info.ascii_domain) or info.ascii_domain
    return normalize_email(f"{info.local_part}@{fixed}")


def check_syntax(address: str) -> ValidationResult:
    """Syntax only, no network: status ``ok`` or ``invalid_syntax``."""
    return _parse(address)[0]


def normalize_address(address: str) -> str | None:
    """The stored form of ``address`` (IDNA domain), or None when the syntax is invalid."""
    result = check_syntax(address)
    return result.normalized if result.status == "ok" else None


# -- typo suggestions -----------------------------------------------------------

#: Mailbox providers whose domains are mistyped often enough to be worth a suggestion.
COMMON_DOMAINS: frozenset[str] = frozenset(
    """
    gmail.com googlemail.com hotmail.com hotmail.co.uk hotmail.fr hotmail.de hotmail.it hotmail.es
    outlook.com outlook.de outlook.fr live.com live.de live.fr live.co.uk msn.com
    yahoo.com yahoo.co.uk yahoo.de yahoo.fr yahoo.es yahoo.it ymail.com rocketmail.com
    aol.com aol.de icloud.com me.com mac.com protonmail.com proton.me pm.me
    gmx.de gmx.net gmx.at gmx.ch gmx.com web.de t-online.de freenet.de arcor.de posteo.de mailbox.org
    orange.fr wanadoo.fr free.fr laposte.net sfr.fr libero.it virgilio.it
    mail.ru yandex.ru yandex.com zoho.com fastmail.com mail.com email.com
    comcast.net verizon.net att.net sbcglobal.net btinternet.com qq.com 163.com 126.com
    bluewin.ch seznam.cz wp.pl o2.pl onet.pl telenet.be skynet.be ziggo.nl kpnmail.nl
    shaw.ca rogers.com bigpond.com
    """.split()
)

#: Real top-level labels: a short provider name with one of these is left alone.
_REAL_TLDS = frozenset("com net org de fr uk be nl it es ch at ru pl cz ca au me co io eu us info biz".split())


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (transpositions count 1), capped at ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[-1], limit + 1)


def _name_limit(name: str) -> int:
    """Edits allowed in a provider's name: none for short names (too many real look-alikes)."""
    return 0 if len(name) < 5 else 1 if len(name) < 8 else 2


@lru_cache(maxsize=8192)
def suggest_domain(domain: str) -> str | None:
    """The common mailbox domain ``domain`` is probably a typo of, or None.

    ``gmial.com`` -> ``gmail.com``, ``hotmail.con`` -> ``hotmail.com``.  The
    name part and the suffix are compared separately, so a wrong TLD on an
    exact provider name is caught, while short provider names (``gmx``,
    ``web``, ``aol``) only get their TLD corrected, never their name: too many
    real company domains are one letter away from them.  Ties give no answer.
    """
    d = domain.strip().lower().rstrip(".")
    if not d or d in COMMON_DOMAINS or "." not in d:
        return None
    name, suffix = d.split(".", 1)
    best: list[tuple[int, str]] = []
    for known in COMMON_DOMAINS:
        kname, ksuffix = known.split(".", 1)
        dn = _distance(name, kname, _name_limit(kname))
        if dn > _name_limit(kname):
            continue
        if dn == 0 and len(kname) < 5 and suffix.rsplit(".", 1)[-1] in _REAL_TLDS:
            continue  # web.be is somebody's real domain, not a typo of web.de
        slimit = 2 if dn == 0 else 1
        ds = _distance(suffix, ksuffix, slimit)
        if ds > slimit or dn + ds == 0:
            continue
        best.append((dn + ds, known))
    if not best:
        return None
    best.sort()
    if len(best) > 1 and best[1][0] == best[0][0]:
        return None
    return best[0][1]


# -- DNS ------------------------------------------------------------------------


def default_nameservers() -> list[str] | None:
    """``BOUNCEDESK_NAMESERVERS`` split on commas, or None for the system resolver."""
    value = os.environ.get(NAMESERVERS_ENV, "").strip()
    return [part.strip() for part in value.split(",") if part.strip()] or None


def _combine(syntax: ValidationResult, domain: dnsmod.DomainResult | None, note: str) -> ValidationResult:
    """The address verdict from its syntax verdict and its domain's DNS verdict."""
    if syntax.status != "ok":
        return syntax
    if domain is None:
        reason = f"{SYNTAX_ONLY_REASON} ({note})" if note else SYNTAX_ONLY_REASON
        return ValidationResult(syntax.address, syntax.normalized, "ok", reason, syntax.suggestion)
    return ValidationResult(syntax.address, syntax.normalized, domain.status, domain.reason, syntax.suggestion)


def _lookup(
    domains: dict[str, int],
    *,
    nameservers: list[str] | None,
    timeout: float,
    deadline: float,
    concurrency: int,
    on_done: dnsmod.OnDone | None,
) -> tuple[dict[str, dnsmod.DomainResult] | None, str]:
    """DNS verdicts per domain, or (None, why) when no resolver is available."""
    servers = nameservers or default_nameservers()
    try:
        resolver = dnsmod.make_resolver(servers, timeout=timeout)
    except dnsmod.DNSConfigError as exc:
        if servers:  # the operator's value is wrong: an error, not a fallback
            raise
        return None, f"{NO_RESOLVER_NOTE}: {exc}"

    async def work() -> dict[str, dnsmod.DomainResult] | None:
        if not await dnsmod.resolver_answers_async(resolver, timeout=min(timeout, 2.0)):
            return None
        return await dnsmod.resolve_domains_async(
            domains, resolver=resolver, deadline=deadline, concurrency=concurrency, on_done=on_done
        )

    resolved = dnsmod.run_sync(work)
    return resolved, "" if resolved is not None else NO_RESOLVER_NOTE


def run_validation(
    addresses: Iterable[str],
    *,
    nameservers: list[str] | None = None,
    dns: bool = True,
    timeout: float = dnsmod.DEFAULT_TIMEOUT,
    deadline: float = dnsmod.DEFAULT_DEADLINE,
    concurrency: int = dnsmod.DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> ValidationRun:
    """Validate ``addresses``: syntax, then DNS once per distinct domain.

    ``nameservers`` (HOST[:PORT]) defaults to ``BOUNCEDESK_NAMESERVERS``,
    else the system resolver.  When no resolver answers at all (or none is
    configured) the run falls back to syntax only and ``note`` says so; an
    unusable nameserver *value* raises ``ingest.dns.DNSConfigError``.
    ``progress(done, total)`` counts addresses, so a bar moves as domains finish.
    """
    parsed = [_parse(a) for a in addresses]
    total = len(parsed)
    per_domain: dict[str, int] = Counter(d for _, d in parsed if d is not None)
    done = total - sum(per_domain.values())
    if progress is not None:
        progress(done, total)

    def on_done(result: dnsmod.DomainResult) -> None:
        nonlocal done
        done += per_domain.get(result.domain, 0)
        if progress is not None:
            progress(done, total)

    resolved: dict[str, dnsmod.DomainResult] | None = None
    note = ""
    if dns and per_domain:
        resolved, note = _lookup(
            per_domain, nameservers=nameservers, timeout=timeout, deadline=deadline,
            concurrency=concurrency, on_done=on_done,
        )
    dns_used = dns and (resolved is not None or not per_domain)
    found = resolved or {}
    why = "" if dns_used or not dns else "no DNS resolver answered"
    results = [_combine(syn, found.get(dom) if dom else None, why) for syn, dom in parsed]
    if progress is not None and done < total:
        progress(total, total)
    return ValidationRun(results, dns_used, note, Counter(r.status for r in results))


def validate_addresses(
    addresses: Iterable[str],
    *,
    nameservers: list[str] | None = None,
    dns: bool = True,
    timeout: float = dnsmod.DEFAULT_TIMEOUT,
    deadline: float = dnsmod.DEFAULT_DEADLINE,
    concurrency: int = dnsmod.DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> list[ValidationResult]:
    """One result per address, in input order (see ``run_validation`` for the fallback note)."""
    return run_validation(
        addresses, nameservers=nameservers, dns=dns, timeout=timeout, deadline=deadline,
        concurrency=concurrency, progress=progress,
    ).results


def dead_domains(domains: Iterable[str], **dns_kwargs: object) -> dict[str, dnsmod.DomainResult]:
    """The domains DNS positively calls dead (no_domain, null_mx, no_mail), with the verdict.

    For "clear the bounce flag": re-validate first and warn when the domain
    cannot take mail.  Unknown domains are *not* dead.  Domains may be given in
    Unicode or IDNA form; keys are the IDNA forms.  ``dns_kwargs`` are those of
    ``ingest.dns.resolve_domains`` (nameservers, timeout, deadline, concurrency).
    When no resolver answers, nothing is reported dead.
    """
    ascii_domains: dict[str, str] = {}
    for domain in domains:
        syntax, ascii_domain = _parse(f"postmaster@{domain}")
        if ascii_domain is not None:
            ascii_domains[ascii_domain] = domain
    if not ascii_domains:
        return {}
    kwargs = dict(dns_kwargs)
    nameservers = kwargs.pop("nameservers", None)
    resolved, _ = _lookup(
        dict.fromkeys(ascii_domains, 1),
        nameservers=nameservers,  # type: ignore[arg-type]
        timeout=float(kwargs.pop("timeout", dnsmod.DEFAULT_TIMEOUT)),  # type: ignore[arg-type]
        deadline=float(kwargs.pop("deadline", dnsmod.DEFAULT_DEADLINE)),  # type: ignore[arg-type]
        concurrency=int(kwargs.pop("concurrency", dnsmod.DEFAULT_CONCURRENCY)),  # type: ignore[call-overload]
        on_done=None,
    )
    if kwargs:
        raise TypeError(f"dead_domains: unexpected arguments {sorted(kwargs)}")
    return {d: r for d, r in (resolved or {}).items() if r.dead}


@dataclass(frozen=True, slots=True)
class DeadDomain:
    """A domain DNS calls dead, and how many of the target's addresses are on it."""

    domain: str
    status: str
    reason: str
    addresses: int


@dataclass(frozen=True, slots=True)
class TargetDomainCheck:
    """The re-validation before a bounce flag is cleared: which domains of the target are dead.

    ``checked`` of ``total`` distinct domains were looked up (the most
    frequent first, at most ``max_domains``); ``dead`` lists the dead ones.
    """

    dead: tuple[DeadDomain, ...]
    checked: int
    total: int

    @property
    def dead_addresses(self) -> int:
        return sum(d.addresses for d in self.dead)


def check_target_domains(
    target: Target,
    *,
    max_domains: int = 200,
    timeout: float = 3.0,
    deadline: float = 8.0,
    nameservers: list[str] | None = None,
    progress: Progress | None = None,
) -> TargetDomainCheck:
    """Re-validate the domains of a bulk action's target before its bounce flags are cleared.

    Why bounded: clearing runs on "every row of the filter" too, which may
    span thousands of domains; an operator waits for the confirm dialog, so
    only the ``max_domains`` domains with the most addresses are checked,
    within ``deadline`` seconds (unanswered ones are unknown, never dead),
    and the dialog says how many were checked.  One grouped query reads the
    domains; DNS is asked once per domain (``dead_domains``).
    """
    counts = (Address.select(Address.domain, fn.COUNT(Address.id).alias("n"))
              .where(Address.id.in_(address_ids_query(target)))
              .group_by(Address.domain))
    total = counts.count()
    rows = list(counts.order_by(fn.COUNT(Address.id).desc(), Address.domain).limit(max_domains).tuples())
    if progress is not None:
        progress(0, len(rows))
    per_domain = {domain: n for domain, n in rows if domain}
    dead = dead_domains(per_domain, nameservers=nameservers, timeout=timeout, deadline=deadline)
    found = [DeadDomain(domain, result.status, result.reason, per_domain.get(domain, 0))
             for domain, result in sorted(dead.items())]
    if progress is not None:
        progress(len(rows), len(rows))
    return TargetDomainCheck(tuple(sorted(found, key=lambda d: (-d.addresses, d.domain))), len(rows), total)


# -- storing --------------------------------------------------------------------

_CHUNK = min(10_000, MAX_PARAMS // 2)


def _chunks(items: Sequence[object], size: int = _CHUNK) -> Iterator[Sequence[object]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def store_results(
    results: Sequence[ValidationResult],
    *,
    account_id: int | None = None,
    ids: Sequence[int] | None = None,
) -> int:
    """Write verdicts onto ``Address`` rows; returns the number of rows updated.

    Rows are matched by ``ids`` (parallel to ``results``) when given, else by
    e-mail in its stored form (``normalize_email``), within
    ``account_id`` when given, otherwise in every account.  One UPDATE per
    distinct (status, reason, suggestion) and chunk, in one transaction.
    """
    if ids is not None and len(ids) != len(results):
        raise ValueError("store_results: ids must be parallel to results")
    groups: dict[tuple[str, str, str | None], set[object]] = defaultdict(set)
    for i, result in enumerate(results):
        keys = groups[(result.status, result.reason[:2000], result.suggestion)]
        if ids is not None:
            keys.add(ids[i])
        else:
            keys.add(result.normalized)
            keys.add(normalize_email(result.address))
    column = Address.id if ids is not None else Address.email
    now = utcnow()
    updated = 0
    with write_transaction():
        for (status, reason, suggestion), keys in groups.items():
            for chunk in _chunks(sorted(keys, key=str)):
                query = Address.update(
                    validation_status=status,
                    validation_reason=reason,
                    validation_suggestion=suggestion,
                    validated_at=now,
                ).where(column.in_(list(chunk)))
                if account_id is not None:
                    query = query.where(Address.account == account_id)
                updated += query.execute()
    return updated


# -- selections -----------------------------------------------------------------


class SelectionNotFound(LookupError):
    """No (or more than one) selection/project has the given name."""


def find_selection(name: str, *, account_id: int | None = None, kind: str | None = None) -> Selection:
    """The one static selection or project called ``name``.

    Case-insensitive and trimmed, as the app compares names when it refuses a
    duplicate (so "Winter bounces" finds "winter bounces").  When several
    match, the error says what tells them apart: the kind (a selection and a
    project may share a name) or the account.
    """
    found = named(name, kind, account_id=ANY_ACCOUNT if account_id is None else account_id)
    what = kind or "selection or project"
    if not found:
        raise SelectionNotFound(f"no {what} named {name!r}")
    if len(found) > 1:
        if kind is None and len({s.kind for s in found}) > 1:
            raise SelectionNotFound(f"a selection and a project are named {name!r}; give --kind selection or "
                                    "--kind project")
        raise SelectionNotFound(f"more than one {what} is named {name!r}; give the account (--account NAME)")
    return found[0]


def validate_selection(
    selection: Selection,
    *,
    page_size: int = 20_000,
    progress: Progress | None = None,
    **options: object,
) -> ValidationRun:
    """Validate every address of ``selection`` and store the verdicts on those rows.

    Members are read in keyset pages of ``page_size`` so a huge project never
    sits in memory at once; the DNS cache makes each domain one lookup for the
    whole run.  ``options`` are those of ``run_validation``.  The returned
    run's ``results`` hold only the invalid and unknown verdicts (the ones an
    operator needs to see); ``counts`` covers everything.
    """
    members = (
        Address.select(Address.id, Address.email)
        .join(SelectionMember, on=(SelectionMember.address == Address.id))
        .where(SelectionMember.selection == selection.id)
    )
    total = members.count()
    counts: Counter[str] = Counter()
    shown: list[ValidationResult] = []
    dns_used, note, offset, last_id = True, "", 0, 0
    while True:
        page = list(members.where(Address.id > last_id).order_by(Address.id).limit(page_size).tuples())
        if not page:
            break
        last_id = page[-1][0]
        base = offset

        def page_progress(done: int, _total: int) -> None:
            if progress is not None:
                progress(base + done, total)

        run = run_validation([email for _, email in page], progress=page_progress, **options)  # type: ignore[arg-type]
        store_results(run.results, ids=[i for i, _ in page])
        counts.update(run.counts)
        shown.extend(r for r in run.results if r.status != "ok")
        dns_used, note = dns_used and run.dns_used, note or run.note
        offset += len(page)
    return ValidationRun(shown, dns_used, note, counts)


def count_by_status(results: Iterable[ValidationResult]) -> dict[str, int]:
    """Counts per status in ``STATUSES`` order (zero counts left out)."""
    counts = Counter(r.status for r in results)
    return {s: counts[s] for s in STATUSES if counts[s]}
