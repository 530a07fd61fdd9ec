"""Benchmark: validating 10,000 addresses over 1,000 domains against a DNS server with 20 ms latency.

Ours: ``models.validation.validate_addresses`` (syntax for every address,
then one concurrent async lookup per distinct domain).
Reference, in the same run against the same server: email-validator's own
serial check, ``validate_email(address, check_deliverability=True,
dns_resolver=...)`` for every address, given a *caching* resolver
(``email_validator.caching_resolver``) pointed at the server, so it too asks
about each domain once -- the strongest fair form of the serial check.
Without the cache it would make ten times the lookups.

The reference takes about 1,000 x 20 ms; ``--sample N`` measures it on the
addresses of N domains only and extrapolates per domain (the output says so).

The domain mix: mostly MX, some A-only, null MX, NXDOMAIN, SERVFAIL, and
about 1% addresses with bad syntax.  Verdicts of both are compared and the
agreement printed, so speed is never bought with different answers.

Run: ``python bench/validate.py [--addresses 10000] [--domains 1000] [--latency 0.02] [--sample N]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dns.nameserver  # noqa: E402
import dns.resolver  # noqa: E402
from email_validator import EmailNotValidError, EmailSyntaxError, caching_resolver, validate_email  # noqa: E402

from ingest import dns as dnsmod  # noqa: E402
from models.validation import validate_addresses  # noqa: E402
from tests.dns_server import DNSServer  # noqa: E402

KINDS = (("mx", 0.85), ("a", 0.05), ("null_mx", 0.03), ("nxdomain", 0.05), ("servfail", 0.02))


def build(server: DNSServer, domains: int, addresses: int, seed: int) -> tuple[list[str], dict[str, str]]:
    """Zones for ``domains`` domains and ``addresses`` addresses spread over them."""
    rng = random.Random(seed)
    kinds: dict[str, str] = {}
    names = []
    for i in range(domains):
        name = f"firm{i:05d}-{rng.choice(['mail', 'group', 'gmbh', 'corp', 'shop'])}.{rng.choice(['com', 'de', 'net', 'fr'])}"
        kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
        kinds[name] = kind
        names.append(name)
        if kind == "mx":
            server.mx(name, f"mx1.{name}", f"mx2.{name}")
        elif kind == "a":
            server.add(name, "A", f"93.184.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}")
        elif kind == "null_mx":
            server.null_mx(name)
        elif kind == "servfail":
            server.servfail(name)
    result = []
    for i in range(addresses):
        domain = names[i % domains] if i < domains else rng.choice(names)
        local = f"{rng.choice(['anna', 'ben', 'chloe', 'dev', 'eva', 'finn'])}.{i}"
        if rng.random() < 0.01:
            local = local + " x"  # a space: bad syntax
        result.append(f"{local}@{domain}")
    rng.shuffle(result)
    return result, kinds


def serve(conn: Connection, latency: float, domains: int, addresses: int, seed: int) -> None:
    """Child process: run the DNS server with the zones until told to stop.

    A separate process, like a real resolver: in a thread of the benchmark
    process the server would compete for the GIL with the client being
    measured and the numbers would describe Python's thread switching.
    """
    with DNSServer(latency=latency) as server:
        conn.send((server.port, build(server, domains, addresses, seed)))
        while (command := conn.recv()) != "stop":
            if command == "count":
                conn.send(sum(server.queries.values()))
                server.queries.clear()


def reference(addresses: list[str], host: str, port: int, timeout: float) -> dict[str, str]:
    """email-validator's serial check; maps each address to our status vocabulary."""
    base = dns.resolver.Resolver(configure=False)
    base.nameservers = [dns.nameserver.Do53Nameserver(host, port)]
    resolver = caching_resolver(timeout=int(timeout), dns_resolver=base)
    verdicts = {}
    for address in addresses:
        try:
            info = validate_email(address, check_deliverability=True, dns_resolver=resolver)
            verdicts[address] = "ok" if getattr(info, "mx", None) else "unknown"
        except EmailSyntaxError:
            verdicts[address] = "invalid_syntax"
        except EmailNotValidError as exc:
            text = str(exc)
            verdicts[address] = (
                "no_domain" if "does not exist" in text else "dead" if "does not" in text else "other"
            )
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addresses", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=1_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--sample", type=int, default=0, help="measure the reference on N domains and extrapolate")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    parent, child = multiprocessing.get_context("fork").Pipe()
    proc = multiprocessing.get_context("fork").Process(
        target=serve, args=(child, args.latency, args.domains, args.addresses, args.seed), daemon=True
    )
    proc.start()
    try:
        port, (addresses, kinds) = parent.recv()
        nameserver = f"127.0.0.1:{port}"
        print(
            f"validate: {len(addresses):,} addresses over {len(kinds):,} domains, "
            f"DNS server (separate process) on {nameserver} with {args.latency * 1000:.0f} ms added latency"
        )

        dnsmod.CACHE.clear()
        t0 = time.perf_counter()
        ours = validate_addresses(addresses, nameservers=[nameserver], timeout=5.0)
        t_ours = time.perf_counter() - t0
        parent.send("count")
        queries_ours = parent.recv()

        if args.sample and args.sample < len(kinds):
            chosen = set(list(kinds)[: args.sample])
            sample = [a for a in addresses if a.rpartition("@")[2] in chosen]
            t0 = time.perf_counter()
            ref = reference(sample, "127.0.0.1", port, timeout=5.0)
            t_sample = time.perf_counter() - t0
            t_ref = t_sample * len(kinds) / len(chosen)
            ref_note = (
                f"measured on {len(sample):,} addresses of {len(chosen):,} domains in {t_sample:.2f} s, "
                f"extrapolated per domain"
            )
        else:
            t0 = time.perf_counter()
            ref = reference(addresses, "127.0.0.1", port, timeout=5.0)
            t_ref = time.perf_counter() - t0
            ref_note = f"measured on all {len(addresses):,} addresses"
        parent.send("count")
        queries_ref = parent.recv()
    finally:
        parent.send("stop")
        proc.join(10)

    # compare verdicts where both decided (ours separates null_mx/no_mail; the reference says "does not ...")
    agree = total = 0
    for result in ours:
        theirs = ref.get(result.address)
        if theirs is None:
            continue
        total += 1
        mine = "dead" if result.status in ("null_mx", "no_mail") else result.status
        agree += mine == theirs
    counts: dict[str, int] = {}
    for result in ours:
        counts[result.status] = counts.get(result.status, 0) + 1

    print(f"  ours (async, one lookup per domain): {t_ours:8.2f} s  {len(addresses) / t_ours:9,.0f} addresses/s  "
          f"{queries_ours:,} DNS queries")
    print(f"  email-validator serial (caching):    {t_ref:8.2f} s  {len(addresses) / t_ref:9,.0f} addresses/s  "
          f"({ref_note}; {queries_ref:,} DNS queries)")
    print(f"  verdicts: {', '.join(f'{n:,} {s}' for s, n in sorted(counts.items()))}")
    print(f"  agreement with email-validator: {agree:,}/{total:,} addresses")
    ratio = t_ref / t_ours
    print(f"  ratio: {ratio:.1f}x faster (target >= 10x) {'OK' if ratio >= 10 else 'BELOW TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
