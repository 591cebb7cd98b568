"""Everything jobspec prints goes through here: one colour decision, verbosity, JSON, tables.

The state is one `Output`, made by `main()` from the command line and held in a context
variable for the command's duration (`current()`); code far from the command line (the local
runner, cloud follow-up) asks `current()` instead of taking arguments through every call.
Code run outside `main()` (a library call, a test) gets one made from the environment alone.

Colour, for each stream, is decided in this order (first that applies wins):

1. `--color always|never` on the command line;
2. `NO_COLOR` set to any non-empty value: never (https://no-color.org);
3. `FORCE_COLOR` set to a non-empty value other than `0`: always, even on a pipe;
4. otherwise (`--color auto`): when the stream is a terminal and `TERM` is not `dumb`.

Without colour not one escape byte is written: styles are plain strings joined only when on.

`-q` hides info lines (`jobspec: ...`) and notes; warnings, errors and the command's own
result still print. `-v` adds detail lines. Under `--json` stdout carries only JSON (one
document, or JSON lines for `logs`), and stderr carries JSON lines too: each info, note and
warning as `{"level": ..., "message": ...}`, and an error as `{"error": {...}}` with the same
exit code as without `--json`.

rich is not used (here or anywhere in jobspec): measured with `python -X importtime` over 25
fresh processes on this machine, `import click` took 19.5 ms (median; min 14.5) and
`import rich.console` after it another 33.7 ms (median; min 18.8), on every command, for what
a few ANSI codes do. This module itself imports in ~0.6 ms.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import IO, Any, Literal

ColorMode = Literal["auto", "always", "never"]
COLOR_MODES: tuple[ColorMode, ...] = ("auto", "always", "never")

_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
           "magenta": "35", "cyan": "36"}


def decide_color(mode: ColorMode, stream: IO[str] | None,
                 env: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """The one colour decision (order in the module docstring)."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    env = os.environ if env is None else env
    if env.get("NO_COLOR", ""):
        return False
    if env.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # a closed or detached stream
        return False


def _mask(text: str) -> str:
    from jobspec.secrets import mask

    return mask(text)


def _mask_data(data: Any) -> Any:
    from jobspec.secrets import known

    return known().mask_data(data)


class Output:
    """What the command line chose: colour mode, verbosity, JSON; and the writers using it."""

    def __init__(self, *, color: ColorMode = "auto", verbosity: int = 0,
                 as_json: bool = False) -> None:
        self.color_mode: ColorMode = color
        self.verbosity = verbosity  # -1 quiet, 0 normal, 1 verbose
        self.as_json = as_json

    # --- streams and colour ------------------------------------------------------------

    @property
    def stdout(self) -> IO[str]:
        return sys.stdout  # looked up at each write: tests and pagers swap it

    @property
    def stderr(self) -> IO[str]:
        return sys.stderr

    def colors(self, stream: IO[str] | None) -> bool:
        return decide_color(self.color_mode, stream)

    def style(self, text: str, *styles: str, stream: IO[str] | None = None) -> str:
        """TEXT in STYLES (names of _STYLES or raw SGR numbers) when STREAM gets colour."""
        if not styles or not self.colors(stream if stream is not None else self.stderr):
            return text
        codes = ";".join(_STYLES.get(s, s) for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    # --- writing -------------------------------------------------------------------------

    def _write(self, stream: IO[str], text: str, end: str = "\n") -> None:
        try:
            stream.write(text + end)
            stream.flush()
        except BrokenPipeError:  # `jobspec list | head`: the reader has what it wanted
            _silence(stream)
        except OSError:
            # a terminal that has gone away must not stop the work; but a result that cannot
            # be written to its file (`> /dev/full`) would be lost in silence: main() says so
            if stream is self.stdout and not _isatty(stream):
                raise

    def print(self, text: str = "") -> None:
        """A line of the command's result, on stdout (never hidden by -q)."""
        self._write(self.stdout, text)

    def write(self, text: str) -> None:
        """Text for stdout as it is (a file's content: no newline added)."""
        self._write(self.stdout, text, end="")

    def _message(self, level: str, label: str, text: str, *styles: str) -> None:
        text = _mask(text)
        if self.as_json:
            self._write(self.stderr, json.dumps({"level": level, "message": text}))
            return
        self._write(self.stderr, self.style(label, *styles) + text)

    def info(self, text: str) -> None:
        """Progress and what jobspec did: `jobspec: TEXT` on stderr; hidden by -q."""
        if self.verbosity >= 0:
            self._message("info", "jobspec: ", text)

    def detail(self, text: str) -> None:
        """More than most want to know: shown with -v only."""
        if self.verbosity > 0:
            self._message("detail", "jobspec: ", text, "dim")

    def note(self, text: str) -> None:
        if self.verbosity >= 0:
            self._message("note", "note: ", text, "bold")

    def warn(self, text: str) -> None:
        self._message("warning", "warning: ", text, "yellow", "bold")

    def error(self, text: str, *, exit_code: int | None = None) -> None:
        """A message that ends the command with EXIT_CODE (which the caller returns)."""
        text = _mask(text)
        if self.as_json:
            error: dict[str, Any] = {"message": text}
            if exit_code is not None:
                error["exit_code"] = exit_code
            self._write(self.stderr, json.dumps({"error": error}))
        else:
            self._write(self.stderr, self.style(text, "red", "bold"))

    def failure(self, exc: Any, mask: Callable[[str], str] = _mask) -> None:
        """An expected error (a JobspecError): its text, or under --json one JSON object
        {"error": {"message", "exit_code", "hint"?, "problems"?}} on one line."""
        if not self.as_json:
            self.problems(mask(exc.render()))
            return
        error: dict[str, Any] = {"message": exc.message, "exit_code": exc.exit_code}
        if exc.hint:
            error["hint"] = exc.hint
        problems = getattr(exc, "problems", None)
        if problems is not None:
            error["message"] = f"{len(problems)} problem(s)"
            error["problems"] = [problem_json(p) for p in problems]
        error = _mask_data(error)
        for key in ("message", "hint"):
            if key in error:
                error[key] = mask(error[key])
        self._write(self.stderr, json.dumps({"error": error}))

    def problems(self, text: str) -> None:
        """Error text on stderr; with colour, its first line and each `file:line:col:` line in
        red, the source gutter dim, carets red, `hint:` bold."""
        if not self.colors(self.stderr):
            self._write(self.stderr, text)
            return
        import re

        head = re.compile(r"\S+:\d+:\d+: ")
        lines = []
        for n, line in enumerate(text.split("\n")):
            gutter, bar, rest = line.partition("| ")
            if bar and not gutter.strip(" 0123456789"):
                if rest.rstrip().endswith("^") and not rest.rstrip()[:-1].strip():
                    rest = rest.rstrip()[:-1] + self.style("^", "red", "bold")
                lines.append(self.style(gutter + bar, "dim") + rest)
            elif line.startswith("  hint: "):
                lines.append("  " + self.style("hint:", "bold") + line[7:])
            elif n == 0 or head.match(line):
                lines.append(self.style(line, "red", "bold"))
            else:
                lines.append(line)
        self._write(self.stderr, "\n".join(lines))

    def emit_json(self, data: Any) -> None:
        """The command's result as one JSON document on stdout, secrets masked."""
        self._write(self.stdout, json.dumps(_mask_data(data), indent=2))

    def json_line(self, data: Any) -> None:
        """One JSON object on one line (JSON lines: `logs --json`)."""
        self._write(self.stdout, json.dumps(_mask_data(data), separators=(",", ":")))

    # --- tables ----------------------------------------------------------------------------

    def width(self) -> int | None:
        """Columns to fit: COLUMNS, else the terminal's; None on a pipe (no limit)."""
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        try:
            if self.stdout.isatty():  # a terminal that reports 0 columns does not know
                return os.get_terminal_size(self.stdout.fileno()).columns or None
        except (ValueError, OSError, AttributeError):
            pass
        return None

    def table(self, rows: Sequence[Sequence[object]], columns: Sequence[str], *,
              indent: str = "", width: int | None = None) -> list[str]:
        """Lines of an aligned table fitting WIDTH (default: self.width())."""
        return table(rows, columns, indent=indent,
                     width=width if width is not None else self.width(),
                     header=lambda h: self.style(h, "bold", stream=self.stdout))

    def wrap(self, text: str, *, indent: str = "", width: int | None = None) -> list[str]:
        """TEXT wrapped to the width (unchanged when there is none)."""
        width = width if width is not None else self.width()
        if width is None or len(text) <= width:
            return [text]
        width = max(width, len(indent) + 10)
        import textwrap

        return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) or [
            text]

    # --- progress --------------------------------------------------------------------------

    def progress(self, label: str, total: int) -> tuple[Callable[[int], None],
                                                         Callable[[], None]] | None:
        """A one-line progress bar on a terminal's stderr (None elsewhere, or with -q/--json):
        (advance by n, finish)."""
        if self.verbosity < 0 or self.as_json:
            return None
        try:
            if not self.stderr.isatty():
                return None
        except (ValueError, OSError):
            return None
        done = [0]
        stream = self.stderr

        def draw() -> None:
            share = done[0] / total if total else 1.0
            bar = "#" * int(share * 30)
            with suppress(OSError):
                stream.write(f"\r{label} [{bar:<30}] {share:4.0%}")
                stream.flush()

        def advance(n: int) -> None:
            before = int(done[0] * 100 / total) if total else 100
            done[0] += n
            if (int(done[0] * 100 / total) if total else 100) != before:
                draw()

        def finish() -> None:
            with suppress(OSError):
                stream.write("\r" + " " * (len(label) + 38) + "\r")
                stream.flush()

        draw()
        return advance, finish


def _silence(stream: IO[str]) -> None:
    """After a broken pipe: send the rest of this stream nowhere, and keep Python's exit-time
    flush from reporting it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def problem_json(problem: Any) -> dict[str, Any]:
    """A spec problem as data: file, line, col, key, message."""
    return {"file": problem.loc.file, "line": problem.loc.line, "col": problem.loc.col,
            "key": problem.path, "message": problem.message}


def _fit(widths: list[int], floor: list[int], width: int, gap: int) -> list[int]:
    """Shrink the widest column, one character at a time, until the row fits (or nothing
    can shrink any more)."""
    widths = list(widths)
    while sum(widths) + gap * (len(widths) - 1) > width:
        shrinkable = [i for i, w in enumerate(widths) if w > floor[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: (widths[i], i))
        widths[widest] -= 1
    return widths


def _cut(text: str, width: int) -> list[str]:
    """TEXT as lines of at most WIDTH: wrapped at spaces, long words broken."""
    if len(text) <= width:
        return [text]
    import textwrap

    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def table(rows: Sequence[Sequence[object]], columns: Sequence[str], *, indent: str = "",
          width: int | None = None, header: Callable[[str], str] = str) -> list[str]:
    """An aligned table; with WIDTH, the widest columns shrink to fit and their cells wrap
    onto continuation lines (nothing is cut off: a name is copied from here)."""
    gap = 2
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(columns[i]), *(len(r[i]) for r in cells)]) for i in range(len(columns))]
    if width is not None:
        # first wrap at spaces only (no column narrower than its longest word), then, when
        # that is not enough, break words too
        words = [max([len(w) for r in [columns, *cells] for w in r[i].split()] or [1])
                 for i in range(len(columns))]
        widths = _fit(widths, words, width - len(indent), gap)
        widths = _fit(widths, [min(w, 6) for w in widths], width - len(indent), gap)
    lines = []
    for n, row in enumerate([list(columns), *cells]):
        pieces = [_cut(cell, w) for cell, w in zip(row, widths, strict=True)]
        for k in range(max(len(p) for p in pieces)):
            parts = [(p[k] if k < len(p) else "").ljust(w)
                     for p, w in zip(pieces, widths, strict=True)]
            line = (indent + (" " * gap).join(parts)).rstrip()
            lines.append(header(line) if n == 0 else line)
    return lines


# --- the current Output ----------------------------------------------------------------------

_current: ContextVar[Output] = ContextVar("jobspec_output")


def current() -> Output:
    """The Output of the command being run; outside main(), one from the environment."""
    try:
        return _current.get()
    except LookupError:
        return Output()


@contextmanager
def using(output: Output) -> Iterator[Output]:
    """OUTPUT is current() within the block (main() wraps the whole command in one)."""
    token = _current.set(output)
    try:
        yield output
    finally:
        _current.reset(token)


def in_context(function: Callable[..., Any]) -> Callable[..., Any]:
    """FUNCTION bound to the caller's context: for work handed to another thread, which would
    otherwise start with no current Output (threads do not inherit context variables)."""
    import contextvars

    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.copy().run(function, *args, **kwargs)


# Short forms for call sites that print one line.
def info(text: str) -> None:
    current().info(text)


def detail(text: str) -> None:
    current().detail(text)


def note(text: str) -> None:
    current().note(text)


def warn(text: str) -> None:
    current().warn(text)


def error(text: str) -> None:
    current().error(text)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
