"""Validation rules: syntax, typo suggestions, and DNS against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from tests.dns_server import DNSServer, silent_port
from ingest import dns as dnsmod
from ingest.dns import DNSConfigError, parse_nameserver
from models.validation import (
    NAMESERVERS_ENV,
    check_syntax,
    dead_domains,
    normalize_address,
    run_validation,
    suggest_domain,
    validate_addresses,
)

# Public-looking names and addresses: email-validator refuses special-use
# domains and ignores private A records; nothing ever connects to these.
PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


def zones(server: DNSServer) -> None:
    server.mx("acme-mail.com", "mx1.acme-mail.com", "mx2.acme-mail.com")
    server.add("acme-web.com", "A", PUBLIC_V4)
    server.add("acme-six.com", "AAAA", PUBLIC_V6)
    server.add("acme-private.com", "A", "10.1.2.3")
    server.add("acme-parked.com", "A", PUBLIC_V4)
    server.add("acme-parked.com", "TXT", '"v=spf1 -all"')
    server.add("acme-textonly.com", "TXT", '"hello"')
    server.null_mx("acme-nullmx.com")
    server.servfail("acme-servfail.com")
    server.refuse("acme-refused.com")
    server.drop("acme-silent.com")


# -- syntax ---------------------------------------------------------------------


def test_syntax_ok_normalises_to_the_stored_form() -> None:
    result = check_syntax("  John.Doe@ACME-Mail.COM ")
    assert result.status == "ok"
    assert result.normalized == "john.doe@acme-mail.com"  # the stored form (models.addresses)
    assert result.address == "  John.Doe@ACME-Mail.COM "
    assert result.suggestion is None


@pytest.mark.parametrize(
    "address",
    ["", "plain", "a@@acme.com", "a b@acme.com", "a@acme", "a@acme..com", "a@acme.test", "a@localhost",
     ".a@acme.com", "a@-acme.com", "John <a@acme.com>", "a@[93.184.216.34]", "a@" + "b" * 64 + ".com",
     "a" * 65 + "@acme.com", "ü" * 33 + "@acme.com"],  # over RFC 5321's 64 octets before the @
)
def test_syntax_invalid(address: str) -> None:
    result = check_syntax(address)
    assert result.status == "invalid_syntax"
    assert result.reason  # email-validator's explanation, shown to the operator
    assert result.invalid
    assert normalize_address(address) is None


def test_a_local_part_of_64_octets_is_the_limit() -> None:
    assert check_syntax("a" * 64 + "@acme.com").status == "ok"
    assert "65 octets long, over the limit of 64" in check_syntax("a" * 65 + "@acme.com").reason


def test_internationalised_addresses() -> None:
    idn = check_syntax("Jörg@Bücher-Acme.de")
    assert idn.status == "ok"
    assert idn.normalized == "jörg@xn--bcher-acme-9db.de"  # IDNA domain, as Address.email stores it
    chinese = check_syntax("用户@例子.广告")
    assert chinese.status == "ok" and chinese.normalized.startswith("用户@xn--")
    # NFC: a decomposed "é" and the composed one normalise to the same address
    assert check_syntax("re\u0301ne@acme.com").normalized == check_syntax("r\u00e9ne@acme.com").normalized


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("gmial.com", "gmail.com"),
        ("GMIAL.COM", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("hotmail.con", "hotmail.com"),
        ("gmail.co", "gmail.com"),
        ("gmial.con", "gmail.com"),
        ("yaho.com", "yahoo.com"),
        ("outlok.com", "outlook.com"),
        ("googlemial.com", "googlemail.com"),
        ("hotmail.co.uj", "hotmail.co.uk"),
        ("gmx.con", "gmx.com"),
        ("gmail.com", None),
        ("mail.com", None),
        ("email.com", None),
        ("acme-mail.com", None),
        ("web.be", None),  # a real domain one letter from web.de: short names are left alone
        ("life.com", None),
        ("", None),
    ],
)
def test_suggest_domain(domain: str, expected: str | None) -> None:
    assert suggest_domain(domain) == expected


def test_suggestions_are_full_addresses_and_never_applied() -> None:
    result = check_syntax("Anna@gmial.com")
    assert result.status == "ok"
    assert result.normalized == "anna@gmial.com"  # not silently corrected
    assert result.suggestion == "anna@gmail.com"
    slip = check_syntax("anna@gmail,com")
    assert slip.status == "invalid_syntax"
    assert slip.suggestion == "anna@gmail.com"


# -- DNS ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "status", "reason_part"),
    [
        ("a@acme-mail.com", "ok", "MX"),
        ("a@acme-web.com", "ok", "A record"),
        ("a@acme-six.com", "ok", "AAAA record"),
        ("a@acme-private.com", "no_mail", "no MX, A or AAAA"),
        ("a@acme-parked.com", "no_mail", "spf1 -all"),
        ("a@acme-textonly.com", "no_mail", "no MX, A or AAAA"),
        ("a@acme-nullmx.com", "null_mx", "null MX"),
        ("a@acme-nowhere.com", "no_domain", "NXDOMAIN"),
        ("a@acme-servfail.com", "unknown", "SERVFAIL"),
        ("a@acme-refused.com", "unknown", "REFUSED"),
        ("a@acme-silent.com", "unknown", "timeout"),
        ("a@@acme-mail.com", "invalid_syntax", "@"),
    ],
)
def test_dns_statuses(dns_server: DNSServer, address: str, status: str, reason_part: str) -> None:
    zones(dns_server)
    [result] = validate_addresses([address], nameservers=[dns_server.nameserver], timeout=0.5)
    assert (result.status, result.address) == (status, address)
    assert reason_part in result.reason
    assert result.invalid == (status not in ("ok", "unknown"))


def test_unknown_is_never_invalid_and_never_cached(dns_server: DNSServer) -> None:
    zones(dns_server)
    ns = [dns_server.nameserver]
    for _ in range(2):
        [result] = validate_addresses(["a@acme-servfail.com"], nameservers=ns, timeout=0.5)
        assert result.status == "unknown" and not result.invalid
    assert dns_server.count("acme-servfail.com", "MX") == 2


def test_one_lookup_per_domain_per_run_and_cache_across_runs(dns_server: DNSServer) -> None:
    zones(dns_server)
    ns = [dns_server.nameserver]
    addresses = [f"user{i}@acme-mail.com" for i in range(50)] + [f"u{i}@ACME-Web.com" for i in range(20)]
    addresses += [f"x{i}@acme-nowhere.com" for i in range(5)]
    results = validate_addresses(addresses, nameservers=ns)
    assert [r.status for r in results] == ["ok"] * 70 + ["no_domain"] * 5
    assert dns_server.count("acme-mail.com", "MX") == 1
    assert dns_server.count("acme-web.com", "MX") == 1
    assert dns_server.count("acme-web.com", "A") == 1
    assert dns_server.count("acme-nowhere.com") == 1
    validate_addresses(addresses, nameservers=ns)  # TTLs (300 s, negative 60 s) still running
    assert dns_server.count("acme-mail.com", "MX") == 1
    assert dns_server.count("acme-nowhere.com") == 1


def test_cache_honours_ttl(dns_server: DNSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(dnsmod.CACHE, "clock", lambda: now[0])
    dns_server.mx("acme-brief.com", "mx.acme-brief.com", ttl=30)
    ns = [dns_server.nameserver]
    validate_addresses(["a@acme-brief.com"], nameservers=ns)
    now[0] += 29
    validate_addresses(["a@acme-brief.com"], nameservers=ns)
    assert dns_server.count("acme-brief.com", "MX") == 1
    now[0] += 2
    validate_addresses(["a@acme-brief.com"], nameservers=ns)
    assert dns_server.count("acme-brief.com", "MX") == 2


def test_negative_ttl_from_soa() -> None:
    dnsmod.CACHE.clear()
    with DNSServer(negative_ttl=0) as server:
        for _ in range(2):
            [result] = validate_addresses(["a@acme-gone.com"], nameservers=[server.nameserver])
            assert result.status == "no_domain"
        assert server.count("acme-gone.com", "MX") == 2  # SOA minimum 0: not cached
    dnsmod.CACHE.clear()


def test_idn_domain_is_looked_up_in_idna_form(dns_server: DNSServer) -> None:
    dns_server.mx("xn--bcher-acme-9db.de", "mx.xn--bcher-acme-9db.de")
    [result] = validate_addresses(["jörg@Bücher-Acme.de"], nameservers=[dns_server.nameserver])
    assert result.status == "ok"
    assert result.normalized == "jörg@xn--bcher-acme-9db.de"


def test_deadline_makes_the_rest_unknown(dns_server: DNSServer) -> None:
    zones(dns_server)
    results = validate_addresses(
        ["a@acme-silent.com", "b@acme-mail.com"], nameservers=[dns_server.nameserver], timeout=10, deadline=0.5
    )
    assert results[0].status == "unknown" and "deadline" in results[0].reason
    assert results[1].status == "ok"


def test_bounded_concurrency_still_checks_everything() -> None:
    dnsmod.CACHE.clear()
    with DNSServer(latency=0.05) as server:
        for i in range(30):
            server.mx(f"acme-{i}.com", f"mx.acme-{i}.com")
        seen: list[tuple[int, int]] = []
        results = validate_addresses(
            [f"a@acme-{i}.com" for i in range(30)] + ["bad"],
            nameservers=[server.nameserver],
            concurrency=3,
            progress=lambda done, total: seen.append((done, total)),
        )
    dnsmod.CACHE.clear()
    assert [r.status for r in results] == ["ok"] * 30 + ["invalid_syntax"]
    assert seen[0] == (1, 31) and seen[-1] == (31, 31)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_no_resolver_answering_falls_back_to_syntax_only() -> None:
    sock, port = silent_port()
    try:
        run = run_validation(["a@acme-mail.com", "bad@"], nameservers=[f"127.0.0.1:{port}"], timeout=0.3)
    finally:
        sock.close()  # type: ignore[attr-defined]
    assert not run.dns_used
    assert "no DNS resolver answered" in run.note
    assert [r.status for r in run.results] == ["ok", "invalid_syntax"]
    assert "DNS not checked" in run.results[0].reason


def test_no_dns_is_syntax_only_without_a_note() -> None:
    run = run_validation(["a@acme-mail.com"], dns=False)
    assert not run.dns_used and run.note == ""
    assert run.results[0].status == "ok" and run.results[0].reason == "syntax ok; DNS not checked"


def test_nameservers_default_from_environment(dns_server: DNSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    zones(dns_server)
    monkeypatch.setenv(NAMESERVERS_ENV, f" {dns_server.nameserver} ")
    [result] = validate_addresses(["a@acme-nullmx.com"])
    assert result.status == "null_mx"


def test_bad_nameserver_value_is_an_error() -> None:
    with pytest.raises(DNSConfigError, match="port"):
        validate_addresses(["a@acme-mail.com"], nameservers=["127.0.0.1:99999"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("192.0.2.1", ("192.0.2.1", 53)), ("192.0.2.1:5353", ("192.0.2.1", 5353)),
     ("[::1]:5300", ("::1", 5300)), ("::1", ("::1", 53)), ("localhost:53", ("127.0.0.1", 53))],
)
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["", "1.2.3.4:0", "1.2.3.4:x", "[::1", "[::1]x"])
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(DNSConfigError):
        parse_nameserver(text)


def test_dead_domains(dns_server: DNSServer) -> None:
    zones(dns_server)
    dead = dead_domains(
        ["acme-mail.com", "acme-nullmx.com", "ACME-Nowhere.com", "acme-servfail.com", "acme-private.com", "bad domain"],
        nameservers=[dns_server.nameserver], timeout=0.5,
    )
    assert {d: r.status for d, r in dead.items()} == {
        "acme-nullmx.com": "null_mx", "acme-nowhere.com": "no_domain", "acme-private.com": "no_mail",
    }


def test_dead_domains_reports_nothing_without_a_resolver() -> None:
    sock, port = silent_port()
    try:
        assert dead_domains(["acme-nowhere.com"], nameservers=[f"127.0.0.1:{port}"], timeout=0.3) == {}
    finally:
        sock.close()  # type: ignore[attr-defined]


def test_works_when_called_inside_a_running_event_loop(dns_server: DNSServer) -> None:
    zones(dns_server)

    async def inside_loop() -> str:
        return validate_addresses(["a@acme-mail.com"], nameservers=[dns_server.nameserver])[0].status

    assert asyncio.run(inside_loop()) == "ok"


def test_fixture_points_the_default_resolver_at_the_test_server(dns_server: DNSServer) -> None:
    dns_server.null_mx("acme-nullmx.com")
    # no nameservers argument: BOUNCEDESK_NAMESERVERS, set by the fixture, is used
    assert validate_addresses(["a@acme-nullmx.com"])[0].status == "null_mx"
    assert dns_server.count("acme-nullmx.com", "MX") == 1
