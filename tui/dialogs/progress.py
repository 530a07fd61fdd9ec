"""Running one long job in a thread worker while a dialog shows its progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import ProgressBar, Static

from tui.dbthread import db_call


class JobCancelled(Exception):
    """Raised inside the job (from its progress callback) when the operator pressed Escape."""


#: progress(done, total): total may be None when unknown
ProgressFn = Callable[[int, int | None], None]


@dataclass(slots=True)
class JobOutcome:
    """How a job ended: its result, or the error, or cancelled."""

    result: Any = None
    error: BaseException | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


class ProgressDialog(ModalScreen[JobOutcome]):
    """Runs ``job(progress)`` in a thread worker and closes with a ``JobOutcome``.

    Escape asks the job to stop: the next progress report raises
    ``JobCancelled`` inside the job, whose transaction then rolls back.  A job
    that reports no progress (one set-based statement) finishes regardless.
    """

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, title: str, job: Callable[[ProgressFn], Any], total: int | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.job = job
        self.total = total
        self._cancel = False
        self._last_report = 0.0

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="progress"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield ProgressBar(total=self.total, show_eta=False, id="job-progress")
            yield Static(Text("Esc: cancel", style="dim"), id="job-status", classes="dialog-hint")

    def on_mount(self) -> None:
        self.run_job()

    def progress(self, done: int, total: int | None = None) -> None:
        """The job's progress callback (called in the worker thread)."""
        if self._cancel:
            raise JobCancelled()
        now = time.monotonic()
        if now - self._last_report >= 0.05 or (total is not None and done >= total):
            self._last_report = now
            self.app.call_from_thread(self._show, done, total)

    def _show(self, done: int, total: int | None) -> None:
        bar = self.query_one(ProgressBar)
        if total is not None:
            bar.update(total=total, progress=done)

    @work(thread=True, exclusive=True, group="job")
    def run_job(self) -> None:
        try:
            outcome = JobOutcome(result=db_call(self.job, self.progress))
        except JobCancelled:
            outcome = JobOutcome(cancelled=True)
        except Exception as exc:  # shown to the operator by the caller
            outcome = JobOutcome(error=exc)
        self.app.call_from_thread(self.dismiss, outcome)

    def action_cancel(self) -> None:
        self._cancel = True
        self.query_one("#job-status", Static).update(Text("Cancelling…"))
