"""SpecError: every problem in a spec, each with file:line:col, key path, message, source."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass

from jobspec.errors import EXIT_USAGE, JobspecError
from jobspec.located import Loc


@dataclass(frozen=True)
class Problem:
    loc: Loc
    path: str  # dotted key path, "" when the problem is not about one key
    message: str

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.loc.file, self.loc.line, self.loc.col, self.path)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def display_path(path: str) -> str:
    """Paths under the current folder print relative, as users typed them."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


class SpecError(JobspecError):
    exit_code = EXIT_USAGE

    def __init__(self, problems: Iterable[Problem], sources: dict[str, str] | None = None) -> None:
        unique = {(p.sort_key(), p.message): p for p in problems}
        self.problems = sorted(unique.values(), key=lambda p: (p.sort_key(), p.message))
        self.sources = sources or {}
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(self.render_one(p) for p in self.problems)

    def render_one(self, problem: Problem) -> str:
        loc = problem.loc
        where = f"{loc.file}:{loc.line}:{loc.col}"
        head = f"{where}: {problem.path}: {problem.message}" if problem.path else (
            f"{where}: {problem.message}"
        )
        text = self.sources.get(loc.file)
        if text is None:
            return head
        lines = text.splitlines()
        if not 1 <= loc.line <= len(lines):
            return head
        source = lines[loc.line - 1]
        if len(source) > 200:  # a minified or hostile file: show the part that matters
            start = max(0, loc.col - 80)
            source, col = source[start:start + 160], loc.col - start
        else:
            col = loc.col
        gutter = f"{loc.line:>5} | "
        caret = " " * (len(gutter) - 2) + "| " + " " * max(col - 1, 0) + "^"
        return f"{head}\n{gutter}{source}\n{caret}"
