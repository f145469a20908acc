"""What long operations (pull, build) tell the user while they run; the CLI draws it."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """What the pipeline tells the user; the CLI draws progress bars from it."""

    def message(self, text: str) -> None: ...
    def file_started(self, path: str, total: int | None) -> None: ...
    def advance(self, path: str, count: int) -> None: ...
    def file_done(self, path: str) -> None: ...


class QuietReporter:
    """Says nothing: the default for library use; the CLI's reporters build on it."""

    def message(self, text: str) -> None:
        pass

    def file_started(self, path: str, total: int | None) -> None:
        pass

    def advance(self, path: str, count: int) -> None:
        pass

    def file_done(self, path: str) -> None:
        pass
