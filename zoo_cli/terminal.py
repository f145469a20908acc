"""The one wrapper around rich: data (tables, JSON) to stdout, messages and progress to stderr."""

from __future__ import annotations

import json
import os
import sys
from functools import cached_property
from typing import Any


def _console(*, stderr: bool):
    from rich.console import Console

    return Console(stderr=stderr, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


class Terminal:
    """The consoles are made on first use: importing rich costs 14 ms that `zoo pull -q` and
    `zoo path` never need."""

    @cached_property
    def out(self):
        return _console(stderr=False)

    @cached_property
    def err(self):
        return _console(stderr=True)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.out.print(*(_clean(o) if isinstance(o, str) else o for o in objects), **kwargs)

    def line(self, text: str) -> None:
        """One line of data on stdout, never wrapped or styled (paths, ids)."""
        sys.stdout.write(_clean(text) + "\n")
        sys.stdout.flush()

    def json(self, data: Any) -> None:
        """Plain JSON on stdout, never wrapped or coloured, so scripts can parse it.

        ASCII only: every control or format character in a string is a \\u escape, never raw.
        """
        sys.stdout.write(_clean(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=True)) + "\n")
        sys.stdout.flush()

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
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
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
