"""`jobspec import`: a spec from a gcloud training command line.

Reads `gcloud ml-engine|ai-platform local train`, `... jobs submit training JOB` and
`gcloud ai custom-jobs create` and `gcloud ai hp-tuning-jobs create` (with an optional alpha/beta
track). Every flag is mapped into the
spec or reported on stderr as a note (mapped with a caveat, or ignored because it only changes
gcloud's own output) or a warning (not supported); an unknown flag or a malformed command is a
UsageError (exit 2). Nothing here runs a shell or evaluates anything from the command.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobspec.diagnostics import did_you_mean
from jobspec.errors import UsageError
from jobspec.fileread import Refused, read_stream
from jobspec.importer import emit, flags, mlengine, tuning, vertex
from jobspec.importer.draft import (
    Draft,
    package_for_spec,
    place_cloud_dirs,
    settle_pools,
    spec_name,
)
from jobspec.importer.flags import Flag, Parsed
from jobspec.importer.words import (
    Word,
    assignment,
    from_argv,
    literal,
    refs,
    split_text,
    substitute,
)
from jobspec.interpolate import BUILTINS

Mapper = Callable[[Parsed, list[Word], Draft], None]
MAX_COMMAND = 1 << 18  # a pasted script is a few KiB


def _custom_job(parsed: Parsed, user_args: list[Word], draft: Draft) -> None:
    if user_args:
        raise UsageError(f"`{parsed.command}` takes no arguments after `--`: give the trainer's "
                         "arguments with --args")
    vertex.custom_job(parsed, draft)


def _tuning_job(parsed: Parsed, user_args: list[Word], draft: Draft) -> None:
    if user_args:
        raise UsageError(f"`{parsed.command}` takes no arguments after `--`: the trainer's "
                         "arguments are in the config's trialJobSpec")
    from jobspec.importer.hptuning import hp_tuning_job

    hp_tuning_job(parsed, draft)


_ML = {"local train": ("local", flags.LOCAL_TRAIN, mlengine.local_train),
       "jobs submit training": ("cloud", flags.SUBMIT_TRAINING, mlengine.submit_training)}
COMMANDS: dict[tuple[str, ...], tuple[str, dict[str, Flag], Mapper]] = {
    **{(group, *verb.split()): entry for group in ("ml-engine", "ai-platform")
       for verb, entry in _ML.items()},
    ("ai", "custom-jobs", "create"): ("cloud", flags.CUSTOM_JOBS_CREATE, _custom_job),
    ("ai", "hp-tuning-jobs", "create"): ("cloud", tuning.HP_TUNING_JOBS_CREATE, _tuning_job),
}
_TRACKS = ("alpha", "beta")
_IGNORED_GLOBALS = ("--quiet", "--verbosity", "--format", "--flatten", "--log-http",
                    "--user-output-enabled", "--trace-token", "--http-timeout")
_AUTH_GLOBALS = ("--account", "--impersonate-service-account", "--access-token-file",
                 "--configuration", "--billing-project", "--universe-domain",
                 "--authority-selector", "--authorization-token-file",
                 "--credential-file-override")


@dataclass(frozen=True)
class Imported:
    text: str
    name: str
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    written: Path | None


def _from_text(text: str, source: str, notes: list[str]) -> list[Word]:
    """The one command in TEXT, with `NAME=value` lines before it filled in."""
    values: dict[str, str] = {}
    found: list[list[Word]] = []
    for words in split_text(text, source):
        rest = words[1:] if words[0].raw == "export" and len(words) > 1 else words
        while rest and (pair := assignment(rest[0])) is not None:
            values[pair[0]] = substitute(pair[1], values)
            rest = rest[1:]
        if rest and rest[0].raw == "set":  # `set -euo pipefail` and friends change no flag
            notes.append(f"{source}:{rest[0].line}: ignored the shell setting "
                         f"`{' '.join(w.raw for w in rest)}`")
        elif rest:
            found.append(rest)
    if not found:
        raise UsageError(f"{source}: no command found (only comments, blank lines or "
                         "assignments)")
    if len(found) > 1:
        listed = "; ".join(f"line {c[0].line}: {' '.join(w.raw for w in c[:4])} ..."
                           for c in found[:4])
        raise UsageError(f"{source}: {len(found)} commands ({listed}); import reads one gcloud "
                         "command: put only that one in the file or string")
    used = {n for n in values if any(f"${{{n}" in w.text for w in found[0])}
    if used:
        notes.append("filled in from the assignments before the command: "
                     + ", ".join(f"{n}={values[n]}" for n in sorted(used)))
    return [Word(substitute(w.text, values), w.line, w.raw) for w in found[0]]


def _no_builtin_names(words: list[Word]) -> None:
    """`$region` in a script is the shell's; in a spec, `${region}` is the spec's own value."""
    for word in words:
        for ref in refs(word.text):
            if ref in BUILTINS:
                raise UsageError(
                    f"{word.raw}: ${ref} cannot be imported: in a spec, ${{{ref}}} means the "
                    f"spec's own {ref}, not the environment variable; put the value in the "
                    f"command, or use a variable with another name (e.g. ${ref.upper()})")


def _command(words: list[Word]) -> tuple[tuple[str, ...], list[Word], list[Word], str]:
    """(command key, global flags before it, the words after it, display name)."""
    if not words:
        raise UsageError("no gcloud command given: `jobspec import -- gcloud ...`, "
                         "--string '...' or --file FILE")
    program = literal(words[0].text) or words[0].raw
    if Path(program).name not in ("gcloud", "gcloud.cmd"):
        raise UsageError(f"not a gcloud command: it starts with {words[0].raw!r}; jobspec "
                         "import reads `gcloud ml-engine|ai-platform local train`, `gcloud "
                         "ml-engine|ai-platform jobs submit training` and `gcloud ai "
                         "custom-jobs create`")
    path: list[str] = []
    before: list[Word] = []
    i = 1
    while i < len(words):
        word = words[i]
        i += 1
        if word.text.startswith("-"):
            name = word.text.partition("=")[0]
            flag = flags.GLOBAL.get(name) or next(
                (f for f in flags.GLOBAL.values() if f.short == name), None)
            if flag is None:
                shown = " ".join(["gcloud", *path])
                raise UsageError(f"unknown flag {name} before the command is complete "
                                 f"(`{shown}` ...)" + did_you_mean(name, flags.GLOBAL))
            before.append(word)
            if flag.value and "=" not in word.text and i < len(words):
                before.append(words[i])
                i += 1
            continue
        path.append(word.text)
        key = tuple(path[1:] if path[0] in _TRACKS else path)
        if not key:
            continue
        if key in COMMANDS:
            return key, before, words[i:], " ".join(["gcloud", *path])
        depth = len(key)
        choices = sorted({k[depth - 1] for k in COMMANDS if k[:depth - 1] == key[:-1]})
        if not choices or key[-1] not in choices:
            where = " ".join(["gcloud", *path[:-1]])
            known = ", ".join(choices) if choices else "none"
            raise UsageError(f"`{where} {word.raw}` is not a command jobspec import reads"
                             + did_you_mean(word.text, choices)
                             + f"; after `{where}` it knows: {known}")
    shown = " ".join(["gcloud", *path])
    raise UsageError(f"`{shown}` is incomplete: jobspec import reads " + ", ".join(
        "`gcloud " + " ".join(k) + "`" for k in COMMANDS))


def _globals(parsed: Parsed, draft: Draft) -> None:
    if parsed.switches.get("--help"):
        raise UsageError("--help: that command prints gcloud's help, there is no job to import")
    if parsed.has("--flags-file"):
        raise UsageError("--flags-file is not supported: write its flags on the command line")
    if draft.kind == "local" and parsed.has("--project"):
        draft.ignored("--project", "a local run uses no project")
    for flag in _IGNORED_GLOBALS:
        if parsed.has(flag):
            draft.ignored(flag, "it only changes how gcloud itself prints or prompts")
    for flag in _AUTH_GLOBALS:
        if parsed.has(flag):
            draft.unsupported(flag, "jobspec uses Application Default Credentials, and the "
                              "spec's project (else GOOGLE_CLOUD_PROJECT)")
    for flag in dict.fromkeys(parsed.repeated):
        word = parsed.one(flag)
        draft.notes.append(f"{flag} is given more than once: the last one "
                           f"({word.raw if word else ''}) wins, as in gcloud")


def _words(argv: Sequence[str], string: str | None, file: str | None,
           notes: list[str]) -> list[Word]:
    given = [bool(argv), string is not None, file is not None]
    if sum(given) > 1:
        raise UsageError("give the gcloud command once: after --, with --string, or with --file")
    if string is not None:
        if len(string) > MAX_COMMAND:
            raise UsageError(f"--string is longer than {MAX_COMMAND:,} characters; a gcloud "
                             "command never needs to be")
        return _from_text(string, "--string", notes)
    if file is not None:
        return _from_text(_read_command(file), "stdin" if file == "-" else file, notes)
    return from_argv(argv)


def _read_command(file: str) -> str:
    """The text of --file FILE (- is stdin), read up to MAX_COMMAND bytes: a FIFO or
    `<(...)` is fine, as the user named it, but /dev/zero or an endless pipe stops there."""
    label = "stdin" if file == "-" else f"--file {file}"
    try:
        if file == "-":
            stdin = sys.stdin
            if stdin is None:
                raise UsageError("--file -: there is no stdin to read")
            data = read_stream(getattr(stdin, "buffer", stdin), MAX_COMMAND)
            text = data if isinstance(data, str) else data.decode("utf-8")
        else:
            with open(file, "rb") as fh:
                text = read_stream(fh, MAX_COMMAND).decode("utf-8")
    except Refused:
        raise UsageError(f"{label} is larger than {MAX_COMMAND:,} bytes; a gcloud command "
                         "never needs to be (nothing of it was imported)") from None
    except UnicodeDecodeError:
        raise UsageError(f"{label}: not UTF-8 text") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{label}: cannot be read: {reason}") from None
    return text


def import_gcloud(*, argv: Sequence[str] = (), string: str | None = None,
                  file: str | None = None, output: str | None = None, name: str | None = None,
                  force: bool = False, cwd: Path | None = None) -> Imported:
    """Read one gcloud command, return the spec text, and write it to OUTPUT when given."""
    cwd = cwd or Path.cwd()
    notes: list[str] = []
    words = _words(argv, string, file, notes)
    _no_builtin_names(words)
    key, before, rest, shown = _command(words)
    kind, table, mapper = COMMANDS[key]
    if key[-1] == "training" and shown.split()[1] in _TRACKS:
        table = {**table, **flags.SUBMIT_TRAINING_PRE_GA}
    cut = next((i for i, w in enumerate(rest) if w.text == "--"), len(rest))
    parsed = flags.parse(rest[:cut], table, shown, before)
    draft = Draft(shown, kind, cwd, notes=notes)
    if kind == "local" and parsed.positionals:
        raise UsageError(f"`{shown}` takes no positional argument, got "
                         f"{parsed.positionals[0].raw!r} (the trainer's arguments go after --)")
    if key[-1] == "training" and len(parsed.positionals) > 1:
        raise UsageError(f"`{shown}` takes one job name, got {parsed.positionals[1].raw!r} too "
                         "(the trainer's arguments go after --)")
    mapper(parsed, list(rest[cut + 1:]), draft)
    _globals(parsed, draft)
    out_path = Path(os.path.abspath(cwd / output)) if output else None
    out_dir = out_path.parent if out_path else cwd
    spec = spec_name(draft, name)
    if kind == "cloud":
        settle_pools(draft)
        place_cloud_dirs(draft)
    text = emit.render(draft, spec, package_for_spec(draft, out_dir), words, out_dir)
    if out_path is not None:
        _write_output(out_path, output or "", text, force=force)
        draft.warnings += _validation(out_path, output or "")
    return Imported(text, spec, tuple(draft.notes), tuple(draft.warnings), out_path)


def _write_output(path: Path, shown: str, text: str, *, force: bool) -> None:
    """Write the spec to -o PATH: a regular file or nothing yet, never a FIFO (the write would
    wait for a reader) or a device; a failed write is a usage error naming the file."""
    from jobspec.fileread import not_regular

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(f"-o {shown}: cannot be written: {exc.strerror or exc}") from None
    if mode is not None:
        why = not_regular(mode)
        if why is not None:
            raise UsageError(f"-o {shown} {why}: expected a spec file to write")
        if not force:
            raise UsageError(f"{shown} already exists: pass --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"-o {shown}: cannot be written: {exc.strerror or exc}") from None


def _validation(path: Path, shown: str) -> list[str]:
    """What `jobspec validate` would say now, e.g. about a variable that is not set here."""
    from jobspec.checkmany import check

    found = check(path)
    if found is None:
        return []
    text, count = found[0], found[1]
    if count:
        head = f"{shown} does not validate yet (`jobspec validate {shlex.quote(shown)}`):"
    else:  # only variables that are not set here: validate passes, plan and run would not
        head = (f"{shown} needs variables that are not set here before `jobspec plan` or `run` "
                f"(`jobspec validate --strict-env {shlex.quote(shown)}`):")
    return [head + "\n  " + "\n  ".join(text.splitlines())]
