"""``bouncedesk validate``: output, --json, exit statuses, files, selections, fallback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.db import close_database, open_database
from models.schema import Account, Address, AuditLog, Selection, SelectionMember
from tests.dns_server import DNSServer, silent_port
from tui.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ns(dns_server: DNSServer) -> str:
    dns_server.mx("acme-mail.com", "mx1.acme-mail.com")
    dns_server.add("acme-web.com", "A", "93.184.216.34")
    dns_server.null_mx("acme-nullmx.com")
    dns_server.servfail("acme-servfail.com")
    return dns_server.nameserver


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_output_and_exit_status_1_for_invalid(ns: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["validate", "--json", "--nameserver", ns,
                   "a@acme-mail.com", "b@acme-nullmx.com", "c@acme-nowhere.com", "Jörg@gmial.com", "bad@"])
    out, err = capsys.readouterr()
    assert status == 1
    rows = _json_lines(out)
    assert all(list(r) == ["address", "normalized", "status", "reason", "suggestion"] for r in rows)
    assert [(r["address"], r["status"]) for r in rows] == [
        ("a@acme-mail.com", "ok"), ("b@acme-nullmx.com", "null_mx"), ("c@acme-nowhere.com", "no_domain"),
        ("Jörg@gmial.com", "no_domain"), ("bad@", "invalid_syntax"),
    ]
    assert rows[3]["suggestion"] == "jörg@gmail.com" and rows[0]["suggestion"] is None
    assert "5 addresses" in err and "\r" not in err  # no progress bar when stderr is not a terminal


def test_unknown_is_not_invalid(ns: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--nameserver", ns, "--timeout", "0.5", "a@acme-servfail.com", "b@acme-web.com"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("unknown") and "SERVFAIL" in out[0]
    assert out[1].startswith("ok") and "b@acme-web.com" in out[1]


def test_file_input_with_a_bad_line(ns: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(b"# customers\na@acme-mail.com\n\n\xff\xfe broken\nb@acme-web.com\n")
    assert main(["validate", "--file", str(path), "--nameserver", ns, "--json"]) == 0
    out, err = capsys.readouterr()
    assert [r["address"] for r in _json_lines(out)] == ["a@acme-mail.com", "b@acme-web.com"]
    assert f"{path}:4: not UTF-8" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["validate"],
        ["validate", "a@acme-mail.com", "--file", "x.txt"],
        ["validate", "--file", "/nonexistent/list.txt"],
        ["validate", "--nameserver", "127.0.0.1:0", "a@acme-mail.com"],
        ["validate", "--timeout", "0", "a@acme-mail.com"],
        ["validate", "--concurrency", "0", "a@acme-mail.com"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("bouncedesk validate: ") and len(err.strip().splitlines()) == 1


def test_no_resolver_falls_back_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    sock, port = silent_port()
    try:
        status = main(["validate", "--json", "--timeout", "0.3", "--nameserver", f"127.0.0.1:{port}", "a@acme-mail.com"])
    finally:
        sock.close()  # type: ignore[attr-defined]
    out, err = capsys.readouterr()
    assert status == 0
    assert _json_lines(out)[0]["status"] == "ok"
    assert "no DNS resolver answered; checked syntax only" in err


def test_no_dns_and_idn(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--no-dns", "--json", "用户@例子.广告"]) == 0
    [row] = _json_lines(capsys.readouterr().out)
    assert row["status"] == "ok" and str(row["normalized"]).startswith("用户@xn--")


def test_selection_stores_results_and_audits(ns: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    open_database(url)
    acc = Account.create(name="acme")
    sel = Selection.create(account=acc, kind="selection", name="Newsletter")
    for email in ("a@acme-mail.com", "b@acme-nullmx.com"):
        SelectionMember.create(selection=sel, address=Address.create(account=acc, email=email, domain=email[2:]))
    close_database()
    assert main(["--db", url, "validate", "--selection", "Newsletter", "--nameserver", ns, "--json"]) == 1
    assert [r["status"] for r in _json_lines(capsys.readouterr().out)] == ["null_mx"]
    open_database(url)
    assert {a.email: a.validation_status for a in Address.select()} == {
        "a@acme-mail.com": "ok", "b@acme-nullmx.com": "null_mx",
    }
    assert AuditLog.get(AuditLog.action == "validate").affected == 2
    close_database()
    assert main(["--db", url, "validate", "--selection", "Nope", "--no-dns"]) == 2
    assert "no selection or project named 'Nope'" in capsys.readouterr().err
    # a second account with a selection of the same name: --account picks one
    open_database(url)
    beta = Account.create(name="beta")
    Selection.create(account=beta, kind="selection", name="Newsletter")
    close_database()
    assert main(["--db", url, "validate", "--selection", "Newsletter", "--no-dns"]) == 2
    assert "give the account (--account NAME)" in capsys.readouterr().err
    assert main(["--db", url, "validate", "--selection", "Newsletter", "--account", "beta", "--no-dns"]) == 0
    assert "0 addresses" in capsys.readouterr().err
    # a selection and a project of one name, made from "all accounts" (no account): --kind picks one (QA);
    # names are compared as the app compares them when it refuses a duplicate (case, spaces)
    open_database(url)
    Selection.create(account=None, kind="selection", name="undo-test")
    Selection.create(account=None, kind="project", name="undo-test")
    close_database()
    assert main(["--db", url, "validate", "--selection", "undo-test", "--no-dns"]) == 2
    assert "a selection and a project are named 'undo-test'; give --kind" in capsys.readouterr().err
    assert main(["--db", url, "validate", "--selection", " UNDO-test ", "--kind", "project", "--no-dns"]) == 0
    assert main(["--db", url, "validate", "--selection", "newsletter", "--account", "acme", "--no-dns"]) == 0
    assert "2 addresses" in capsys.readouterr().err
    open_database(url)
    Selection.create(account=None, kind="selection", name="Ärzte Q1")  # SQLite's lower() folds ASCII only
    close_database()
    assert main(["--db", url, "validate", "--selection", "Ärzte Q1", "--no-dns"]) == 0
    capsys.readouterr()
    assert main(["--db", url, "validate", "--selection", "ÄRZTE q1", "--no-dns"]) == 0
    assert "selection 'Ärzte Q1' (#" in capsys.readouterr().err  # the name found, not the name typed
    open_database(url)
    assert AuditLog.select().order_by(AuditLog.id.desc()).first().cause.startswith(
        "bouncedesk validate of the selection 'Ärzte Q1' (#")
    from models.selections import name_problem

    assert name_problem("ärzte q1", "selection") == "a selection named 'Ärzte Q1' already exists"
    close_database()


def test_store_flag_updates_matching_rows(ns: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    open_database(url)
    acc = Account.create(name="acme")
    Address.create(account=acc, email="a@acme-nullmx.com", domain="acme-nullmx.com")
    close_database()
    assert main(["--db", url, "validate", "--store", "--nameserver", ns, "A@ACME-nullmx.com"]) == 1
    assert "stored results on 1 address rows" in capsys.readouterr().err
    open_database(url)
    assert Address.get().validation_status == "null_mx"
    close_database()


def test_entry_point_in_a_subprocess(ns: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", "validate", "--json", "--nameserver", ns, "x@acme-mail.com"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"


def test_progress_bar_draws_on_one_line() -> None:
    import io

    from tui.commands.validate import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar(0, 200)
    bar(50, 200)  # within 0.1 s of the last draw: skipped
    bar(200, 200)  # the end is always drawn
    bar.finish()
    text = stream.getvalue()
    assert "\n" not in text
    assert "0/200 addresses" in text and "[" + "#" * 30 + "] 200/200 addresses" in text
    assert "50/200" not in text
