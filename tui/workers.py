"""Background work that fails for reasons outside the program: a message, not the end of the app.

A Textual worker that raises ends the app with a traceback (``exit_on_error``).
For a team on PostgreSQL, or operators sharing one SQLite file with cron's
ingest, some failures are part of the job: the database was locked longer
than the busy timeout, the server restarted, the network dropped, a file
could not be read.  The operator should read one line saying what failed and
carry on (reload with ``r``, retry the action), not lose the screen.

``recoverable`` wraps a worker's function (sync for thread workers, async
for flows) and turns exactly those failures into an error notification; a
programming error still fails loudly.  ``reset`` names a method of the node
that puts its loading flags back, so the next scroll or reload can try again.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from peewee import DatabaseError, InterfaceError, NotSupportedError, ProgrammingError

#: Failures of the world outside, not of the program: the database (locked, gone, refused, damaged,
#: a conflict with another operator's write) and files.  Peewee's ``ProgrammingError`` (bad SQL) and
#: ``NotSupportedError`` are the program's own: ``recoverable`` lets them fail loudly.
RECOVERABLE: tuple[type[BaseException], ...] = (DatabaseError, InterfaceError, OSError)
BUGS: tuple[type[BaseException], ...] = (ProgrammingError, NotSupportedError)

F = TypeVar("F", bound=Callable[..., Any])


def reason_text(exc: BaseException) -> str:
    """An exception's text on one line (PostgreSQL's messages span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def failure_text(what: str, exc: BaseException) -> str:
    """One line: what failed, and why."""
    return f"{what} failed: {reason_text(exc)}"


def report(node: Any, what: str, exc: BaseException, reset: str | None = None) -> None:
    """Show the failure (and run ``node.<reset>()``) on the UI thread, from any thread."""
    app = getattr(node, "_home_app", None) or node.app  # PagedTable keeps its app: ``app`` fails in its threads

    def show() -> None:
        if reset is not None:
            getattr(node, reset)()
        app.notify(failure_text(what, exc), severity="error", markup=False, timeout=10)

    if getattr(app, "_thread_id", None) == threading.get_ident():
        show()
    else:
        app.call_from_thread(show)


def recoverable(what: str, reset: str | None = None) -> Callable[[F], F]:
    """Decorate a worker function (under ``@work``): database and file errors become a notification."""

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(self, *args, **kwargs)
                except BUGS:
                    raise
                except RECOVERABLE as exc:
                    report(self, what, exc, reset)
                    return None

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except BUGS:
                raise
            except RECOVERABLE as exc:
                report(self, what, exc, reset)
                return None

        return run  # type: ignore[return-value]

    return decorate
