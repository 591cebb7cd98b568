"""gcloud's flag grammar, for the commands import reads: which flags exist and how they parse.

The tables mirror gcloud 528's own definitions (surface/ai_platform/local/train.py,
surface/ai_platform/jobs/submit/training.py, command_lib/ml_engine/flags.py,
command_lib/ai/custom_jobs/flags.py, calliope's global flags), so a flag gcloud would refuse is
refused here too, with the same did-you-mean help.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from jobspec.diagnostics import did_you_mean
from jobspec.errors import UsageError
from jobspec.importer.words import Word, literal


@dataclass(frozen=True)
class Flag:
    name: str
    value: bool = True  # takes a value
    many: bool = False  # repeatable: every occurrence counts (append / update actions)
    short: str | None = None


def flags(*specs: str) -> dict[str, Flag]:
    """`--x` takes a value, `--x!` is a switch, `--x*` repeats, `--x|-q` has a short form."""
    table: dict[str, Flag] = {}
    for spec in specs:
        name, _, short = spec.partition("|")
        flag = Flag(name.rstrip("!*"), value=not name.endswith("!"), many=name.endswith("*"),
                    short=short or None)
        table[flag.name] = flag
    return table


GLOBAL = flags(
    "--project", "--quiet!|-q", "--verbosity", "--format", "--flatten", "--log-http!",
    "--user-output-enabled!", "--trace-token", "--http-timeout", "--account",
    "--impersonate-service-account", "--access-token-file", "--configuration",
    "--billing-project", "--universe-domain", "--authority-selector",
    "--authorization-token-file", "--credential-file-override", "--flags-file", "--help!|-h",
)
# tri-state global switches also have a --no- form
NEGATABLE = ("--log-http", "--user-output-enabled")

LOCAL_TRAIN = flags(
    "--package-path", "--module-name", "--distributed!", "--evaluator-count",
    "--parameter-server-count", "--job-dir", "--worker-count", "--start-port",
)

_KMS = ("--kms-key", "--kms-keyring", "--kms-location", "--kms-project")
SUBMIT_TRAINING = flags(
    "--package-path", "--packages", "--module-name", "--region", "--config", "--staging-bucket",
    "--job-dir", "--scale-tier", "--runtime-version", "--python-version", "--service-account",
    "--enable-web-access!", "--async!", "--stream-logs!", "--labels*",
    "--master-machine-type", "--master-accelerator", "--master-image-uri",
    "--parameter-server-machine-type", "--parameter-server-count",
    "--parameter-server-accelerator", "--parameter-server-image-uri",
    "--worker-machine-type", "--worker-count", "--worker-accelerator", "--worker-image-uri",
    "--use-chief-in-tf-config", *_KMS,
)
# alpha and beta add these to `jobs submit training`
SUBMIT_TRAINING_PRE_GA = flags("--network", "--tpu-tf-version")

CUSTOM_JOBS_CREATE = flags(
    "--region", "--service-account", "--network", "--enable-web-access!",
    "--enable-dashboard-access!", *_KMS, "--labels*", "--display-name", "--python-package-uris",
    "--args*", "--command*", "--persistent-resource-id", "--config", "--worker-pool-spec*",
)
WORKER_POOL_KEYS = (
    "replica-count", "machine-type", "accelerator-type", "accelerator-count",
    "container-image-uri", "executor-image-uri", "output-image-uri", "python-module", "script",
    "local-package-path", "requirements", "extra-dirs", "extra-packages",
)


@dataclass
class Parsed:
    command: str
    values: dict[str, list[Word]] = field(default_factory=dict)  # flag -> each value given
    switches: dict[str, bool] = field(default_factory=dict)
    positionals: list[Word] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)  # single-valued flags given twice

    def has(self, name: str) -> bool:
        return name in self.values or name in self.switches

    def one(self, name: str) -> Word | None:
        given = self.values.get(name)
        return given[-1] if given else None


def _looks_negative(text: str) -> bool:
    return text[:1] == "-" and text[1:].replace(".", "", 1).isdigit()


def parse(words: Sequence[Word], table: dict[str, Flag], command: str,
          before: Iterable[Word] = ()) -> Parsed:
    """Flags of COMMAND (and the global ones, which BEFORE may already hold) from WORDS."""
    known = {**GLOBAL, **table}
    shorts = {f.short: f for f in known.values() if f.short}
    parsed = Parsed(command)
    i = 0
    pending = [*before, *words]
    while i < len(pending):
        word = pending[i]
        text = word.text
        i += 1
        if not text.startswith("-") or text == "-" or _looks_negative(text):
            parsed.positionals.append(word)
            continue
        name, has_eq, inline = text.partition("=")
        flag = known.get(name) or shorts.get(name)
        negated = False
        if flag is None and name.startswith("--no-") and "--" + name[5:] in NEGATABLE:
            flag, negated = known["--" + name[5:]], True
        if flag is None:
            raise UsageError(
                f"unknown flag {name} for `{command}`"
                + did_you_mean(name, [*table, *GLOBAL]),
                hint=f"`{command} --help` lists its flags; jobspec import reads the flags gcloud "
                "528 defines")
        if not flag.value:
            if has_eq:
                raise UsageError(f"{flag.name} takes no value (got {text!r})")
            parsed.switches[flag.name] = not negated
            continue
        if has_eq:
            value = Word(inline, word.line, word.raw.partition("=")[2])
        elif i < len(pending) and (not pending[i].text.startswith("-")
                                   or _looks_negative(pending[i].text)
                                   or pending[i].text == "-"):
            value = pending[i]
            i += 1
        else:
            raise UsageError(f"{flag.name} needs a value (`{command}` expects "
                             f"{flag.name} VALUE or {flag.name}=VALUE)")
        if flag.name in parsed.values and not flag.many:
            parsed.repeated.append(flag.name)
        parsed.values.setdefault(flag.name, []).append(value)
    return parsed


def split_list(text: str, delim: str = ",") -> list[str]:
    """gcloud's ArgList: `a,b`, or `^:^a:b` to choose another delimiter."""
    if text.startswith("^") and "^" in text[1:]:
        custom, text = text[1:].split("^", 1)
        if not custom:
            raise UsageError(f"{text!r}: an empty delimiter between ^ and ^")
        delim = custom
    if not text:
        return []
    return text.removesuffix(delim).split(delim) if text.endswith(delim) else text.split(delim)


def split_dict(text: str, flag: str, keys: Sequence[str] | None = None) -> dict[str, str]:
    """gcloud's ArgDict: `k=v,k2=v2` (with the same ^D^ delimiter escape)."""
    out: dict[str, str] = {}
    for item in split_list(text):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise UsageError(f"{flag}: expected KEY=VALUE items separated by ',', got {item!r}")
        if keys is not None and key not in keys:
            raise UsageError(f"{flag}: unknown key {key!r}" + did_you_mean(key, keys)
                             + f"; known keys: {', '.join(keys)}")
        out[key] = value.strip()
    return out


def integer(word: Word, flag: str, minimum: int = 0) -> int:
    value = literal(word.text)
    try:
        number = int(value) if value is not None else None
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise UsageError(f"{flag} expects a whole number of at least {minimum}, got {word.raw!r}"
                         + (" (a variable cannot be imported here)" if value is None else ""))
    return number
