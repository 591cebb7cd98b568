"""SpecError: every problem in a spec, each with file:line:col, key path, message, source."""

from __future__ import annotations

import difflib
import os
import unicodedata
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
    if len(word) > 100:  # no name is that long, and difflib's cost grows with the word
        return ""
    options = [str(c) for c in choices]
    same_letters = [c for c in options if c.lower() == word.lower() and c != word]
    close = same_letters or difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close and close[0] != word else ""


# hints for the parser's own words, keyed by the problem it reports
_SYNTAX_HINTS = {
    "mapping values are not allowed in this context": "unexpected ':' here: is the line indented "
    "too far, or does a value holding ': ' need quotes?",
}


def yaml_syntax_problem(file: str, text: str, problem: str | None, at: tuple[int, int] | None,
                        context: str | None, context_at: tuple[int, int] | None) -> Problem:
    """A YAML parser error in plain words. ``at``/``context_at`` are 0-based (line, column).

    When the file ends inside an open construct (a quote, a `[`), the useful place is where
    that construct starts, so the error points there; past the last line, at its end.
    """
    lines = text.splitlines()
    subject = "the value" if file.startswith("--") else "the file"  # --set k=v, or a spec

    def rest(where: tuple[int, int]) -> str:
        line, col = where
        return "\n".join([lines[line][col:], *lines[line + 1:]]) if line < len(lines) else ""

    where = at or context_at or (0, 0)
    what = (context or "").removeprefix("while parsing ").removeprefix("while scanning ")
    if what in ("for the next token", "a simple key"):
        what = ""
    what = what.removeprefix("a ").removeprefix("an ").replace("scalar", "value")
    char = rest(where)[:1]
    message = _SYNTAX_HINTS.get(problem or "", problem or "not valid YAML")
    if char == "\t":
        message = "a tab character: YAML indents with spaces only"
    elif char in ("@", "`") and "cannot start any token" in message:
        message = f"{char!r} cannot start a plain value: put the value in quotes"
    elif not rest(where).strip():
        if what and context_at is not None and rest(context_at).strip():
            where = context_at
            message = f"{subject} ends inside this {what}: {message}"
        else:
            message = f"{subject} ends too early: {message}"
            last = len(lines) - 1
            while last > 0 and not lines[last].strip():
                last -= 1
            where = (max(last, 0), len(lines[last]) if lines else 0)
    elif what and context_at is not None and context_at != where:
        message += f" (in the {what} at line {context_at[0] + 1}, column {context_at[1] + 1})"
        if char in ("{", "}", "[", "]") and "flow" in what:
            message += "; quote values that contain { } [ ] or ,"
    return Problem(Loc(file, where[0] + 1, where[1] + 1), "", f"YAML syntax error: {message}")


def display_path(path: str) -> str:
    """Paths under the current folder print relative, as users typed them."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


MAX_SHOWN = 50  # problems printed in full; the rest are counted


class SpecError(JobspecError):
    exit_code = EXIT_USAGE

    def __init__(self, problems: Iterable[Problem], sources: dict[str, str] | None = None) -> None:
        # One line of the file, one fix: a value that targets inherit through `extends` is
        # reported once, under the shortest key path (the target that wrote it).
        unique: dict[tuple[str, int, int, str], Problem] = {}
        for p in problems:
            key = (p.loc.file, p.loc.line, p.loc.col, p.message)
            kept = unique.get(key)
            if kept is None or (len(p.path), p.path) < (len(kept.path), kept.path):
                unique[key] = p
        self.problems = sorted(unique.values(), key=lambda p: (p.sort_key(), p.message))
        self.sources = sources or {}
        self._split: dict[str, list[str]] = {}
        super().__init__(self.render())

    def render(self) -> str:
        shown = [self.render_one(p) for p in self.problems[:MAX_SHOWN]]
        if len(self.problems) > MAX_SHOWN:  # a file with thousands of broken items
            shown.append(f"... and {len(self.problems) - MAX_SHOWN:,} more problem(s)")
        return "\n".join(shown)

    def _lines(self, file: str) -> list[str]:
        if file not in self._split:
            text = self.sources.get(file)
            self._split[file] = text.splitlines() if text is not None else []
        return self._split[file]

    def render_one(self, problem: Problem) -> str:
        loc = problem.loc
        where = f"{loc.file}:{loc.line}:{loc.col}"
        head = f"{where}: {problem.path}: {problem.message}" if problem.path else (
            f"{where}: {problem.message}"
        )
        lines = self._lines(loc.file)
        if not 1 <= loc.line <= len(lines):
            return _shown(head)
        source, col = lines[loc.line - 1], loc.col
        if len(source) > 200:  # a minified or hostile file: show the part that matters
            start = max(0, col - 80)
            end = start + 160
            source, col = source[start:end], col - start
            if start:
                source, col = "..." + source, col + 3
            if end < len(lines[loc.line - 1]):
                source += "..."
        source = _shown(source)
        gutter = f"{loc.line:>5} | "
        # the caret line repeats the source's tabs so the caret lands under the right column
        pad = "".join("\t" if c == "\t" else " " for c in source[:max(col - 1, 0)])
        caret = " " * (len(gutter) - 2) + "| " + pad + "^"
        return f"{_shown(head)}\n{gutter}{source}\n{caret}"


_HIDDEN = {"Cc", "Cf", "Zl", "Zp"}


def _shown(text: str) -> str:
    """Control and format characters (terminal escapes, bidi overrides, zero-width marks) would
    act on the terminal instead of being seen: show each as U+FFFD, so columns still line up."""
    if text.isprintable():
        return text
    return "".join(c if c == "\t" or unicodedata.category(c) not in _HIDDEN else "\ufffd"
                   for c in text)
