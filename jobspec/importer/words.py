"""Shell-style words of a pasted gcloud command, read without a shell.

shlex gives the words but forgets how each part was quoted, and quoting decides what a `$` means:
`"$BUCKET"` is a variable, `'$BUCKET'` is text. So this reads the POSIX quoting rules itself
(a test checks it splits like shlex.split) and writes each word straight in the spec's
interpolation syntax: a variable becomes `${NAME}`, a literal `$` becomes `$$`. Anything a shell
would have to run or compute (`$(...)`, backticks, `$1`, `${#X}`, pipes) is refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jobspec.errors import UsageError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-([^$`\\]*))?")
_OPERATORS = "|&;<>()"
# in spec text: `$$`, or `${NAME}` / `${NAME:-default}`
_SPEC_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.S)


@dataclass(frozen=True)
class Word:
    text: str  # in spec syntax: `${NAME}` for a variable, `$$` for a literal `$`
    line: int  # 1-based line of the input where the word starts; 0 for command-line words
    raw: str  # as written, for messages and the spec's header comment


def has_ref(text: str) -> bool:
    return any(m.group(1) for m in _SPEC_REF.finditer(text))


def literal(text: str) -> str | None:
    """The plain value of spec text, or None when it refers to a variable."""
    return None if has_ref(text) else text.replace("$$", "$")


def escape(value: str) -> str:
    """Plain text as spec text."""
    return value.replace("$", "$$")


def refs(text: str) -> list[str]:
    return [m.group(1) for m in _SPEC_REF.finditer(text) if m.group(1)]


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace references to VALUES (spec text, e.g. from `BUCKET=x` lines) like a shell would."""
    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if not name or name not in values:
            return match.group(0)
        value = values[name]
        return value if value or default is None else default

    return _SPEC_REF.sub(one, text)


def assignment(word: Word) -> tuple[str, str] | None:
    match = _ASSIGNMENT.fullmatch(word.text)
    return (match.group(1), match.group(2)) if match and word.raw.split("=")[0].isidentifier() \
        else None


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.i = 0
        self.line = 1

    def fail(self, message: str, line: int | None = None) -> UsageError:
        where = f"{self.source}:{line or self.line}" if self.source else "command line"
        return UsageError(f"{where}: {message}")

    def reference(self) -> str:
        """Spec text for the `$...` at ``self.i``; moves past it."""
        text, i = self.text, self.i
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "{":
            end = text.find("}", i + 2)
            if end < 0:
                raise self.fail("unterminated '${' (no closing '}')")
            inner = text[i + 2:end]
            match = _BRACED.fullmatch(inner)
            if match is None:
                raise self.fail(f"'${{{inner}}}' cannot be imported: only $NAME, ${{NAME}} and "
                                "${NAME:-default} have an equivalent in a spec")
            self.i = end + 1
            return "${" + inner + "}"
        if nxt == "(":
            raise self.fail("command substitution '$(...)' cannot be imported: jobspec never runs "
                            "a shell; put the value in the command (for a unique job name, see "
                            "the spec's name_suffix: timestamp)")
        if nxt and (nxt.isdigit() or nxt in "@*#?$!-"):
            raise self.fail(f"'${nxt}' is a shell parameter, which has no equivalent in a spec")
        if nxt in ("'", '"'):
            raise self.fail(f"'${nxt}...' quoting cannot be imported: use plain quotes")
        match = _NAME.match(text, i + 1)
        if match is None:  # a lone `$` is text, as in the shell
            self.i = i + 1
            return "$$"
        self.i = match.end()
        return "${" + match.group(0) + "}"

    def double_quoted(self) -> str:
        """Spec text of a "..." part, with ``self.i`` on the opening quote."""
        start_line = self.line
        out: list[str] = []
        self.i += 1
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "\\" and self.i + 1 < len(text) and text[self.i + 1] in '$`"\\\n':
                escaped = text[self.i + 1]
                if escaped == "\n":
                    self.line += 1
                else:
                    out.append(escape(escaped))
                self.i += 2
            elif c == "$":
                out.append(self.reference())
            elif c == "`":
                raise self.fail("command substitution with backticks cannot be imported: "
                                "jobspec never runs a shell")
            else:
                if c == "\n":
                    self.line += 1
                out.append(escape(c))
                self.i += 1
        raise self.fail('unbalanced quote: the " opened here is never closed', start_line)

    def commands(self) -> list[list[Word]]:
        """Each command (a line, with `\\` continuations joined) as its words."""
        text = self.text
        commands: list[list[Word]] = []
        words: list[Word] = []
        parts: list[str] | None = None
        start, start_line = 0, 1

        def finish() -> None:
            nonlocal parts
            if parts is not None:
                words.append(Word("".join(parts), start_line, text[start:self.i].strip()))
            parts = None

        while self.i < len(text):
            c = text[self.i]
            if c in " \t\r\n":
                finish()
                if c == "\n":
                    if words:
                        commands.append(words)
                        words = []
                    self.line += 1
                self.i += 1
                continue
            if parts is None:
                if c == "#":  # a comment runs to the end of the line
                    end = text.find("\n", self.i)
                    self.i = len(text) if end < 0 else end
                    continue
                parts, start, start_line = [], self.i, self.line
            if c == "\\":
                if self.i + 1 >= len(text):
                    raise self.fail("the command ends with '\\' (a line continuation with no "
                                    "next line)")
                if text[self.i + 1] == "\n":
                    self.line += 1
                    if not parts:
                        parts = None  # only a continuation: no word starts here
                else:
                    parts.append(escape(text[self.i + 1]))
                self.i += 2
            elif c == "'":
                end = text.find("'", self.i + 1)
                if end < 0:
                    raise self.fail("unbalanced quote: the ' opened here is never closed")
                part = text[self.i + 1:end]
                parts.append(escape(part))
                self.line += part.count("\n")
                self.i = end + 1
            elif c == '"':
                parts.append(self.double_quoted())
            elif c == "$":
                parts.append(self.reference())
            elif c == "`":
                raise self.fail("command substitution with backticks cannot be imported: "
                                "jobspec never runs a shell")
            elif c in _OPERATORS:
                raise self.fail(f"shell operator {c!r}: import reads one gcloud command, without "
                                "pipes, redirections or command lists")
            else:
                parts.append(c)
                self.i += 1
        finish()
        if words:
            commands.append(words)
        return commands


def split_text(text: str, source: str) -> list[list[Word]]:
    """The commands in TEXT, minus comments, blank lines and a leading `$ ` prompt."""
    commands = _Reader(text.replace("\r\n", "\n"), source).commands()
    return [c[1:] if c[0].raw == "$" else c for c in commands if c[1:] or c[0].raw != "$"]


def from_argv(argv: Sequence[str]) -> list[Word]:
    """Words the user's shell already split: a `$` left in them was quoted to keep it."""
    words = []
    for arg in argv:
        reader = _Reader(arg, "")
        parts: list[str] = []
        while reader.i < len(arg):
            if arg[reader.i] == "$":
                parts.append(reader.reference())
            else:
                parts.append(escape(arg[reader.i]))
                reader.i += 1
        words.append(Word("".join(parts), 0, arg))
    return words
