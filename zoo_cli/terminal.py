"""The one wrapper around rich: data (tables, JSON) to stdout, messages and progress to stderr."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Iterator


class _DataStream:
    """Where zoo's data goes, looked up at each write: the real stdout, even while a command runs
    with sys.stdout pointed at stderr (Terminal.data_only_stdout)."""

    def __init__(self, terminal: "Terminal") -> None:
        self._terminal = terminal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._terminal.data, name)


def _console(*, stderr: bool, file: Any = None):
    from rich.console import Console

    return Console(stderr=stderr, file=file, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


class Terminal:
    """The consoles are made on first use: importing rich costs 14 ms that `zoo pull -q` and
    `zoo path` never need."""

    _data: Any = None

    @property
    def data(self):
        """The stream zoo's output (tables, JSON, paths, text) is written to."""
        return self._data if self._data is not None else sys.stdout

    @contextmanager
    def data_only_stdout(self) -> Iterator[None]:
        """While a command runs, stdout carries its data alone: whatever else prints there (a library's
        upgrade notice, a converter's chatter) goes to stderr, so `--json` output always parses."""
        saved_data, saved_stdout = self._data, sys.stdout
        self._data = sys.stdout
        sys.stdout = sys.stderr
        try:
            yield
        finally:
            sys.stdout, self._data = saved_stdout, saved_data

    @cached_property
    def out(self):
        return _console(stderr=False, file=_DataStream(self))

    @cached_property
    def err(self):
        return _console(stderr=True)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Text on stdout; hard-wrapped to the width of a terminal, never when piped (a path or digest cut
        in two is no path a script can read)."""
        kwargs.setdefault("soft_wrap", not self.out.is_terminal)
        self.out.print(*(_clean(o) if isinstance(o, str) else o for o in objects), **kwargs)

    def line(self, text: str) -> None:
        """One line of data on stdout, never wrapped or styled (paths, ids)."""
        self.data.write(_clean(text) + "\n")
        self.data.flush()

    def json(self, data: Any) -> None:
        """Plain JSON on stdout, never wrapped or coloured, so scripts can parse it.

        ASCII only: every control or format character in a string is a \\u escape, never raw.
        """
        self.data.write(_clean(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=True)) + "\n")
        self.data.flush()

    def stream(self, text: str) -> None:
        """Text as it arrives (a chat reply), unwrapped, on stdout."""
        self.data.write(text)
        self.data.flush()

    def message(self, text: str) -> None:
        self.err.print(_clean(text), markup=False, soft_wrap=True)

    def warning(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/] {_escape(text)}", soft_wrap=True)

    def error(self, text: str) -> None:
        self.err.print(f"[bold red]error:[/] {_escape(text)}", soft_wrap=True)

    def table(self, columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
        """A rich table on a terminal; plain aligned columns (no wrapping, no escapes) when piped."""
        if not self.out.is_terminal:
            widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows)]
            lines = [title] if title else []
            for row in [columns, *rows]:
                lines.append("  ".join(_clean(str(cell)).ljust(w) for cell, w in zip(row, widths)).rstrip())
            self.data.write("\n".join(lines) + "\n")
            self.data.flush()
            return
        from rich.table import Table

        table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False, box=None)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(_escape(cell) for cell in row))
        self.out.print(table)


def _clean(text: str) -> str:
    """Every string shown passes here: no escape sequences, bidi controls or URL credentials (registry.text)."""
    from registry.text import for_terminal

    return for_terminal(text)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(_clean(str(text)))


terminal = Terminal()
