"""Asking DNS whether a domain accepts mail: many domains at once, honestly.

Why it looks like this:

* One lookup per domain: callers hand over a set of domains; results are kept
  in a process-wide cache for as long as the DNS answer's TTL allows (the
  negative TTL of the zone's SOA for NXDOMAIN/NODATA, RFC 2308), so the app
  validating one edited address after a bulk run asks nothing again.
* Concurrency: dnspython's async resolver, at most ``concurrency`` domains in
  flight, and an overall ``deadline`` after which unfinished domains are
  reported as unknown rather than waited for.
* Honesty: only an authoritative-looking negative answer makes a domain dead
  (NXDOMAIN, a null MX per RFC 7505, or no MX/A/AAAA at all).  SERVFAIL,
  REFUSED, timeouts, the deadline and anything unexpected are ``unknown`` and
  never cached, because a resolver's bad minute must not mark good customers'
  addresses invalid.
* The A/AAAA fallback (RFC 5321 section 5) ignores loopback/private addresses,
  and a domain with no MX that publishes ``v=spf1 -all`` is treated as not
  handling mail, the same judgement email-validator makes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

#: Domain statuses (a subset of the address statuses of models.validation).
OK, NO_DOMAIN, NULL_MX, NO_MAIL, UNKNOWN = "ok", "no_domain", "null_mx", "no_mail", "unknown"
DEAD_STATUSES = frozenset({NO_DOMAIN, NULL_MX, NO_MAIL})

DEFAULT_TIMEOUT = 5.0  # seconds for one domain's whole resolution (all its queries)
DEFAULT_DEADLINE = 120.0  # seconds for a whole batch
DEFAULT_CONCURRENCY = 64  # domains in flight
MAX_CACHE_TTL = 86_400  # honour TTLs, but never keep an answer longer than a day
DEFAULT_NEGATIVE_TTL = 300  # when a negative answer carries no SOA

OnDone = Callable[["DomainResult"], None]  # called once per domain as it is decided


class DNSConfigError(ValueError):
    """A ``--nameserver``/``BOUNCEDESK_NAMESERVERS`` value cannot be used."""


@dataclass(frozen=True, slots=True)
class DomainResult:
    """What DNS says about mail to one (IDNA, lower-case) domain."""

    domain: str
    status: str  # ok | no_domain | null_mx | no_mail | unknown
    reason: str
    mx: tuple[str, ...] = ()  # mail exchangers by preference, or the domain itself on A/AAAA fallback

    @property
    def dead(self) -> bool:
        """True when DNS positively says the domain takes no mail."""
        return self.status in DEAD_STATUSES


# -- nameservers ----------------------------------------------------------------


def parse_nameserver(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address -> (ip, port).

    A host name is resolved once with the system's resolver (dnspython needs
    addresses); failure is a ``DNSConfigError`` naming the value.
    """
    value = text.strip()
    if not value:
        raise DNSConfigError("empty nameserver")
    host, port_text = value, ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise DNSConfigError(f"nameserver {text!r}: missing ']'")
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise DNSConfigError(f"nameserver {text!r}: expected ':PORT' after ']'")
            port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    port = 53
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise DNSConfigError(f"nameserver {text!r}: port must be 1-65535")
        port = int(port_text)
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        try:
            ip = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0]
        except (OSError, UnicodeError) as exc:
            raise DNSConfigError(f"nameserver {text!r}: cannot resolve host {host!r}: {exc}") from None
    return ip, port


def parse_nameservers(values: Iterable[str]) -> list[tuple[str, int]]:
    """Every value may itself be a comma-separated list (as in the environment variable)."""
    result: list[tuple[str, int]] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                result.append(parse_nameserver(part))
    return result


def make_resolver(
    nameservers: list[str] | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> dns.asyncresolver.Resolver:
    """An async resolver for ``nameservers`` (HOST[:PORT] strings) or the system's.

    Raises ``DNSConfigError`` for bad values and when the system has no
    resolver configuration at all.
    """
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in parse_nameservers(nameservers)]
    else:
        try:
            resolver = dns.asyncresolver.Resolver()
        except (dns.resolver.NoResolverConfiguration, OSError) as exc:
            raise DNSConfigError(f"no system DNS resolver configured: {exc}") from None
    # one server gets a fair slice; the whole resolution of one name is bounded by lifetime
    resolver.timeout = max(0.05, min(2.0, timeout))
    resolver.lifetime = timeout
    resolver.cache = None  # our own cache keeps the *derived* result with its TTL
    return resolver


def _resolver_key(resolver: dns.asyncresolver.Resolver) -> tuple[str, ...]:
    return tuple(str(ns) for ns in resolver.nameservers)


# -- cache ----------------------------------------------------------------------


class DomainCache:
    """Results per (resolver, domain) until their TTL runs out; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # replaceable so tests can let TTLs run out without sleeping
        self._lock = threading.Lock()
        self._data: dict[tuple[tuple[str, ...], str], tuple[float, DomainResult]] = {}

    def get(self, key: tuple[str, ...], domain: str) -> DomainResult | None:
        now = self.clock()
        with self._lock:
            hit = self._data.get((key, domain))
            if hit is None:
                return None
            if hit[0] <= now:
                del self._data[(key, domain)]
                return None
            return hit[1]

    def put(self, key: tuple[str, ...], result: DomainResult, ttl: float) -> None:
        if result.status == UNKNOWN or ttl <= 0:
            return
        with self._lock:
            self._data[(key, result.domain)] = (self.clock() + min(ttl, MAX_CACHE_TTL), result)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


#: The process-wide cache (one per process: the app and a command share it).
CACHE = DomainCache()


# -- one domain -----------------------------------------------------------------


def _negative_ttl(response: dns.message.Message | None) -> float:
    """RFC 2308: a negative answer may be cached for min(SOA TTL, SOA minimum)."""
    if response is not None:
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
                return float(min(rrset.ttl, rrset[0].minimum))
    return float(DEFAULT_NEGATIVE_TTL)


def _nxdomain_response(exc: dns.resolver.NXDOMAIN) -> dns.message.Message | None:
    try:
        responses = exc.responses()
    except Exception:
        return None
    return next(iter(responses.values()), None) if responses else None


def _is_global(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


class _Unknown(Exception):
    """Resolution could not decide; carries the reason."""


async def _query(resolver: dns.asyncresolver.Resolver, name: dns.name.Name, rdtype: str) -> dns.resolver.Answer | None:
    """The answer, or None for NODATA; NXDOMAIN propagates; failures become _Unknown."""
    try:
        return await resolver.resolve(name, rdtype, search=False)
    except dns.resolver.NoAnswer:
        return None
    except dns.resolver.NXDOMAIN:
        raise
    except dns.resolver.NoNameservers as exc:
        text = str(exc)
        kind = "SERVFAIL" if "SERVFAIL" in text else "REFUSED" if "REFUSED" in text else "no usable answer"
        raise _Unknown(f"DNS server failure ({kind}) looking up {rdtype}") from None
    except dns.exception.Timeout:
        raise _Unknown(f"DNS timeout looking up {rdtype}") from None
    except dns.exception.DNSException as exc:
        raise _Unknown(f"DNS error looking up {rdtype}: {exc.__class__.__name__}") from None
    except OSError as exc:
        raise _Unknown(f"network error looking up {rdtype}: {exc}") from None


async def resolve_domain(resolver: dns.asyncresolver.Resolver, domain: str) -> tuple[DomainResult, float]:
    """Resolve one IDNA domain: MX, else A then AAAA; returns the result and its TTL."""
    try:
        name = dns.name.from_text(domain.rstrip(".") + ".")
    except dns.exception.DNSException as exc:
        return DomainResult(domain, UNKNOWN, f"cannot look up this name: {exc}"), 0.0
    try:
        answer = await _query(resolver, name, "MX")
        if answer is not None:
            ttl = float(answer.rrset.ttl) if answer.rrset is not None else 0.0
            exchanges = sorted((r.preference, r.exchange) for r in answer)
            real = [ex.to_text(omit_final_dot=True) for _, ex in exchanges if ex != dns.name.root]
            if not real:
                return DomainResult(domain, NULL_MX, "domain accepts no mail (null MX, RFC 7505)"), ttl
            return DomainResult(domain, OK, "domain has MX records", tuple(real)), ttl
        ttls: list[float] = []
        for rdtype in ("A", "AAAA"):
            answer = await _query(resolver, name, rdtype)
            if answer is not None and answer.rrset is not None:
                ttls.append(float(answer.rrset.ttl))
                if any(_is_global(r.address) for r in answer):
                    if await _spf_rejects_all(resolver, name):
                        return DomainResult(domain, NO_MAIL, "no MX and SPF 'v=spf1 -all': domain handles no mail"), min(ttls)
                    return DomainResult(domain, OK, f"no MX; mail goes to its {rdtype} record", (domain,)), min(ttls)
        return DomainResult(domain, NO_MAIL, "domain has no MX, A or AAAA record for mail"), min(ttls or [_negative_ttl(None)])
    except dns.resolver.NXDOMAIN as exc:
        return DomainResult(domain, NO_DOMAIN, "domain does not exist (NXDOMAIN)"), _negative_ttl(_nxdomain_response(exc))
    except _Unknown as exc:
        return DomainResult(domain, UNKNOWN, str(exc)), 0.0


async def _spf_rejects_all(resolver: dns.asyncresolver.Resolver, name: dns.name.Name) -> bool:
    try:
        answer = await _query(resolver, name, "TXT")
    except (_Unknown, dns.resolver.NXDOMAIN):
        return False
    if answer is None:
        return False
    return any(b"".join(r.strings).strip() == b"v=spf1 -all" for r in answer)


# -- many domains ---------------------------------------------------------------


async def resolve_domains_async(
    domains: Iterable[str],
    *,
    resolver: dns.asyncresolver.Resolver,
    deadline: float = DEFAULT_DEADLINE,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_done: OnDone | None = None,
    cache: DomainCache = CACHE,
) -> dict[str, DomainResult]:
    """Resolve each distinct domain once (cache first), concurrently, within ``deadline``.

    ``on_done(result)`` is called for every domain as soon as it is decided
    (cache hits first), which is what progress bars count.
    """
    key = _resolver_key(resolver)
    wanted = list(dict.fromkeys(d.lower().rstrip(".") for d in domains))
    results: dict[str, DomainResult] = {}
    todo: list[str] = []
    for domain in wanted:
        hit = cache.get(key, domain)
        if hit is None:
            todo.append(domain)
        else:
            results[domain] = hit
            if on_done is not None:
                on_done(hit)
    if not todo:
        return results

    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(domain: str) -> None:
        async with gate:
            result, ttl = await resolve_domain(resolver, domain)
        cache.put(key, result, ttl)
        results[domain] = result
        if on_done is not None:
            on_done(result)

    tasks = [asyncio.ensure_future(one(d)) for d in todo]
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    for domain in todo:
        if domain not in results:
            results[domain] = late = DomainResult(domain, UNKNOWN, f"not checked: DNS deadline of {deadline:g} s reached")
            if on_done is not None:
                on_done(late)
    return results


async def resolver_answers_async(resolver: dns.asyncresolver.Resolver, timeout: float = 2.0) -> bool:
    """True when at least one of the resolver's servers replies to anything.

    Any reply counts (even NXDOMAIN or REFUSED): the question is whether
    there is a DNS service at all, so that a dead resolver makes us fall back
    to syntax-only checking instead of reporting every domain unknown.
    """
    query = dns.message.make_query(".", dns.rdatatype.NS)

    async def probe(ns: Any) -> bool:
        address, port = getattr(ns, "address", None), getattr(ns, "port", 53)
        if address is None:
            return False
        try:
            await dns.asyncquery.udp(query, address, timeout=timeout, port=port)
            return True
        except Exception:  # timeout, ICMP unreachable, malformed reply: no service
            return False

    probes = [asyncio.ensure_future(probe(ns)) for ns in resolver.nameservers]
    try:
        for finished in asyncio.as_completed(probes):
            if await finished:
                return True
        return False
    finally:
        for task in probes:
            task.cancel()
        await asyncio.gather(*probes, return_exceptions=True)


T = TypeVar("T")


def run_sync(factory: Callable[[], Coroutine[Any, Any, T] | Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    A fresh event loop per call; when the calling thread already runs a loop
    (the Textual app's main thread), the work goes to a short-lived thread so
    the app's loop is never blocked re-entrantly.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="bouncedesk-dns", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def resolve_domains(
    domains: Iterable[str],
    *,
    nameservers: list[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_done: OnDone | None = None,
) -> dict[str, DomainResult]:
    """Synchronous entry point: resolve ``domains`` (IDNA, any case) once each."""
    resolver = make_resolver(nameservers, timeout=timeout)
    return run_sync(
        lambda: resolve_domains_async(
            domains, resolver=resolver, deadline=deadline, concurrency=concurrency, on_done=on_done
        )
    )
