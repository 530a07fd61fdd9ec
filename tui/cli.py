"""The ``bouncedesk`` command: the app, and the subcommands for scripts and cron.

Each subcommand lives in ``tui/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func``: a callable
taking the parsed arguments and returning the exit status.  Exit statuses:
0 success (warnings are counted, not fatal), 1 a fatal error such as an
unreachable database, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ingest.child import ReaderVanished
from models.db import DatabaseURLError, default_url, redact
from models.migrations import MigrationError, SchemaTooNewError
from tui.workers import reason_text

#: Modules under ``tui.commands`` that provide subcommands, in help order.
COMMANDS: tuple[str, ...] = (
    "summary",
    "demo",
    "sweep",
    "validate",
    "ingest",
    "events",
    "import_",
    "parse",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bouncedesk",
        description="Handle bounced e-mails, blocked addresses and spam complaints.",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database: sqlite:///path or postgresql://user@host/db "
        "(default: $BOUNCEDESK_DB or the SQLite file in the data directory)",
    )
    parser.add_argument(
        "--screen",
        choices=("mailings", "blocked", "complaints", "audit"),
        help="open the app on this screen",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tui.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        from tui.commands.summary import run_default

        func = run_default
    try:
        return int(func(args) or 0)
    except DatabaseURLError as exc:
        print(f"bouncedesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bouncedesk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``bouncedesk parse DIR | head``): nothing left to say
        if _stdout_closed():
            _silence_stdout()
            return 0
        return 1  # stderr went away mid-run: the work did not finish
    except ReaderVanished as exc:
        print(f"bouncedesk: {exc}", file=sys.stderr)
        return 1
    except (SchemaTooNewError, MigrationError) as exc:  # the database is fine, this program can't use it
        print(f"bouncedesk: cannot use {_database_named(args)}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a fatal error: say what, in one line, never a traceback with secrets
        from peewee import DatabaseError, IntegrityError, InterfaceError, OperationalError

        if isinstance(exc, (OperationalError, InterfaceError)) or type(exc) is DatabaseError:
            # unreachable, locked too long, "file is not a database", "malformed"
            print(f"bouncedesk: cannot use {_database_named(args)}: {reason_text(exc)}", file=sys.stderr)
            return 1
        if isinstance(exc, IntegrityError):  # another writer got there first: the database is fine
            print(f"bouncedesk: {reason_text(exc)}", file=sys.stderr)
            return 1
        if isinstance(exc, OSError):  # a directory that cannot be created, a file that cannot be read
            where = exc.filename if exc.filename is not None else _database_named(args)
            print(f"bouncedesk: {where}: {exc.strerror or reason_text(exc)}", file=sys.stderr)
            return 1
        raise


def _database_named(args: argparse.Namespace) -> str:
    """The database a command used, for an error message (password hidden)."""
    url = getattr(args, "db", None)
    if not url:
        try:
            url = default_url()
        except OSError:
            return "the database"
    return redact(url)


def _stdout_closed() -> bool:
    """True when standard output is a pipe whose reader has gone."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
