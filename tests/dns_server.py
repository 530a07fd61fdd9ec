"""A small authoritative DNS server on 127.0.0.1 for tests and benchmarks.

Built on dnspython: one thread runs an asyncio loop with a UDP endpoint on a
free port, answers from in-memory records, and can delay every answer (to
look like a real network) or misbehave on purpose for chosen names
(SERVFAIL, REFUSED, or no answer at all).  Replies are scheduled with
``call_later``, so thousands of delayed queries are in flight at once and
the added latency behaves like a network's, not like a queue's.

Usage::

    with DNSServer(latency=0.02) as server:
        server.add("acme-mail.com", "MX", "10 mx1.acme-mail.com.")
        server.add("acme-web.com", "A", "93.184.216.34")
        server.null_mx("nomail-acme.com")
        server.servfail("broken-acme.com")
        server.drop("silent-acme.com")
        ...  # resolve against server.nameserver ("127.0.0.1:PORT")

Every name without records is NXDOMAIN; a name with records but none of the
asked type is NODATA (NOERROR, empty answer).  Negative answers carry an SOA
in the authority section so resolvers can cache them (RFC 2308).

The pytest fixture ``dns_server`` (function scope, fresh server, no records,
``BOUNCEDESK_NAMESERVERS`` pointing at it) is defined here;
``tests/conftest.py`` imports it so every test can use it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import TracebackType

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

_SOA_TEMPLATE = "ns1.{zone} hostmaster.{zone} 1 3600 600 86400 {minimum}"


def _name(text: str) -> dns.name.Name:
    """An absolute, lower-cased name; Unicode input is IDNA-encoded."""
    return dns.name.from_text(text.rstrip(".") + ".").canonicalize()


class DNSServer:
    """An authoritative UDP DNS server on 127.0.0.1 with editable records.

    Records may be changed while the server runs (the tables are guarded by a
    lock).  ``queries`` counts the questions received per (name, type), which
    lets tests prove that a name was looked up once.
    """

    def __init__(self, *, latency: float = 0.0, negative_ttl: int = 60, host: str = "127.0.0.1") -> None:
        self.latency = latency
        self.negative_ttl = negative_ttl
        self.host = host
        self.port = 0
        self.queries: dict[tuple[str, str], int] = {}
        self._records: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
        self._faults: dict[dns.name.Name, str] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._thread: threading.Thread | None = None

    # -- records -----------------------------------------------------------

    def add(self, name: str, rdtype: str, *rdatas: str, ttl: int = 300) -> None:
        """Add records of one type to ``name`` (rdata in zone-file text form)."""
        owner = _name(name)
        rtype = dns.rdatatype.from_text(rdtype)
        with self._lock:
            by_type = self._records.setdefault(owner, {})
            rrset = by_type.get(rtype)
            if rrset is None:
                rrset = by_type[rtype] = dns.rrset.RRset(owner, dns.rdataclass.IN, rtype)
            for text in rdatas:
                rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rtype, text), ttl)

    def mx(self, name: str, *exchanges: str, ttl: int = 300) -> None:
        """MX records for ``name``, preferences 10, 20, ... in the given order."""
        self.add(name, "MX", *(f"{10 * (i + 1)} {ex.rstrip('.')}." for i, ex in enumerate(exchanges)), ttl=ttl)

    def null_mx(self, name: str, ttl: int = 300) -> None:
        """The RFC 7505 null MX (``0 .``): the domain accepts no mail."""
        self.add(name, "MX", "0 .", ttl=ttl)

    def servfail(self, name: str) -> None:
        """Answer every question about ``name`` with SERVFAIL."""
        with self._lock:
            self._faults[_name(name)] = "servfail"

    def refuse(self, name: str) -> None:
        """Answer every question about ``name`` with REFUSED."""
        with self._lock:
            self._faults[_name(name)] = "refused"

    def drop(self, name: str) -> None:
        """Never answer questions about ``name`` (the client times out)."""
        with self._lock:
            self._faults[_name(name)] = "drop"

    def count(self, name: str, rdtype: str | None = None) -> int:
        """How many questions about ``name`` (of ``rdtype``, or any type) arrived."""
        key = _name(name).to_text()
        with self._lock:
            return sum(n for (qn, qt), n in self.queries.items() if qn == key and (rdtype is None or qt == rdtype))

    # -- serving -----------------------------------------------------------

    @property
    def nameserver(self) -> str:
        """``HOST:PORT`` of the running server, as ``--nameserver`` takes it."""
        return f"{self.host}:{self.port}"

    def _exists(self, qname: dns.name.Name) -> bool:
        """True when the name owns records or is an ancestor of a name that does."""
        return any(owner == qname or owner.is_subdomain(qname) for owner in self._records) or qname in self._faults

    def _soa(self, qname: dns.name.Name) -> dns.rrset.RRset:
        zone = qname.split(3)[1] if len(qname) > 2 else qname
        rrset = dns.rrset.RRset(zone, dns.rdataclass.IN, dns.rdatatype.SOA)
        zone_text = "" if zone == dns.name.root else zone.to_text()
        text = _SOA_TEMPLATE.format(zone=zone_text, minimum=self.negative_ttl)
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, text), self.negative_ttl)
        return rrset

    def answer(self, wire: bytes) -> bytes | None:
        """The reply to one query in wire format, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None  # garbage: a real server drops it too
        try:
            return self._answer(query)
        except Exception:  # a bug here must look like a server failure, not a hang
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()

    def _answer(self, query: dns.message.Message) -> bytes | None:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response.set_rcode(dns.rcode.NOTIMP)
            return response.to_wire()
        question = query.question[0]
        qname = question.name.canonicalize()
        with self._lock:
            key = (qname.to_text(), dns.rdatatype.to_text(question.rdtype))
            self.queries[key] = self.queries.get(key, 0) + 1
            fault = self._faults.get(qname)
            if fault == "drop":
                return None
            if fault is not None:
                response.flags &= ~dns.flags.AA
                response.set_rcode(dns.rcode.SERVFAIL if fault == "servfail" else dns.rcode.REFUSED)
                return response.to_wire()
            rrset = self._records.get(qname, {}).get(question.rdtype)
            if rrset is not None:
                answer = dns.rrset.RRset(question.name, rrset.rdclass, rrset.rdtype)
                answer.update(rrset)
                response.answer.append(answer)
            else:
                if not self._exists(qname):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(self._soa(qname))
        return response.to_wire()

    def start(self) -> DNSServer:
        """Start serving in a daemon thread; returns when the port is bound."""
        ready = threading.Event()
        errors: list[BaseException] = []

        class Protocol(asyncio.DatagramProtocol):
            def connection_made(proto, transport: asyncio.BaseTransport) -> None:  # noqa: N805
                self._transport = transport  # type: ignore[assignment]

            def datagram_received(proto, data: bytes, addr: tuple[str, int]) -> None:  # noqa: N805
                reply = self.answer(data)
                if reply is None or self._transport is None:
                    return
                if self.latency > 0:
                    assert self._loop is not None
                    self._loop.call_later(self.latency, self._send, reply, addr)
                else:
                    self._send(reply, addr)

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(loop.create_datagram_endpoint(Protocol, local_addr=(self.host, 0)))
            except BaseException as exc:  # bind failure: report it to start()
                errors.append(exc)
                ready.set()
                loop.close()
                return
            assert self._transport is not None
            self.port = self._transport.get_extra_info("sockname")[1]
            ready.set()
            try:
                loop.run_forever()
            finally:
                self._transport.close()
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()

        self._thread = threading.Thread(target=run, name=f"dns-server-{id(self):x}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def _send(self, reply: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(reply, addr)

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> DNSServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def silent_port() -> tuple[object, int]:
    """A bound UDP socket on 127.0.0.1 that never answers, and its port.

    Pointing a resolver at it looks like a DNS server that is down (queries
    time out) without relying on ICMP behaviour.  Keep the socket referenced
    and close it when done.
    """
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


@pytest.fixture
def dns_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[DNSServer]:
    """A running, empty ``DNSServer`` on 127.0.0.1 (no added latency).

    ``BOUNCEDESK_NAMESERVERS`` points at it for the test, so app code that
    validates with default settings asks this server and never the network.
    The process-wide DNS result cache of ``ingest.dns`` is emptied before and
    after, because a later server may get the same port number.
    """
    from ingest.dns import CACHE

    CACHE.clear()
    with DNSServer() as server:
        monkeypatch.setenv("BOUNCEDESK_NAMESERVERS", server.nameserver)
        yield server
    CACHE.clear()
