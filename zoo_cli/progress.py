"""Progress bars for long transfers: per file and in total, on stderr, only on a terminal."""

from __future__ import annotations

import threading

from registry.reporting import QuietReporter
from zoo_cli.terminal import terminal


class RichReporter:
    """Draws bytes, speed and ETA per file and for the whole pull (zoo.fetch.Reporter)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=terminal.err,
            transient=True,
        )
        self.tasks: dict[str, int] = {}
        self.total = None
        self.lock = threading.Lock()

    def __enter__(self) -> "RichReporter":
        self.progress.__enter__()
        self.total = self.progress.add_task("total", total=0)
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def file_started(self, path: str, total: int | None) -> None:
        with self.lock:
            self.tasks[path] = self.progress.add_task(path, total=total)
            if total:
                self.progress.update(self.total, total=(self.progress.tasks[self.total].total or 0) + total)

    def advance(self, path: str, count: int) -> None:
        self.progress.advance(self.tasks[path], count)
        self.progress.advance(self.total, count)

    def file_done(self, path: str) -> None:
        self.progress.remove_task(self.tasks[path])


class PlainReporter(QuietReporter):
    """Messages only: for --quiet, pipes and CI logs."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __enter__(self) -> "PlainReporter":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def message(self, text: str) -> None:
        if not self.quiet:
            terminal.message(text)


def reporter(quiet: bool, bars: bool = True):
    """Bars on a terminal; plain messages when piped or with --json; nothing with --quiet."""
    if quiet or not bars or not terminal.err.is_terminal:
        return PlainReporter(quiet)
    return RichReporter()
