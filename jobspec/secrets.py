"""Which values are secret, and the one masking that every output path goes through.

A value is secret when it is the value of an env entry whose name looks secret (TOKEN, SECRET,
PASSWORD, ... or listed under `secrets:`), or the value of an environment variable with such a
name that the spec read through `${VAR}`. A secret is masked wherever it appears, also inside a
longer argument, in every text jobspec prints or stores: plans, the gcloud line, run records,
the trainer's streamed output and stderr tail, logs, and error messages.

Masking replaces text, so a secret must be long enough not to occur by chance: masking "abc"
would shred unrelated output (and still leak it, since every "abc" left visible would be
known not to be it). Eight characters is where a value stops turning up in ordinary log text
(paths, numbers, words) and where real tokens and passwords start. A shorter non-empty secret
is refused at plan time, naming the variable and its place, never the value. A secret used
outside args and env (a job_dir, a label, a requirement) is refused too: those are object
names, resource fields or package metadata, shown and uploaded as written.

Each plan carries its secret values (`plan.secret_values`); plans also `remember()` them for
the process, so an error message rendered far from the plan (cli.main, a claim's error text)
is masked with what this process knows. A later `jobspec logs` of a cloud job made no plan:
the claim records where the secrets sit in the request (positions, never values) and the
values are read back from the job itself (jobspec/cloud/logs.py).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the validator (pydantic) loads only for an error: masking needs none of it
    from jobspec.diagnostics import SpecError

MASK = "****"
MIN_LENGTH = 8
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|CREDENTIALS|PASSWD|_KEY$|^KEY$", re.I)
SECRET_NAMES = "TOKEN, SECRET, PASSWORD, CREDENTIALS, PASSWD, or ending in _KEY"


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    return bool(_SECRET_NAME.search(name)) or name in set(extra)


def _forms(value: str) -> set[str]:
    """The value as it may be written: as is, escaped inside JSON text (TF_CONFIG, the request
    body, records), and inside a Python repr (an error quoting a value with !r)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
            repr(value)[1:-1], repr('"' + value)[2:-1]}


@dataclass(frozen=True)
class Secrets:
    """Secret values, longest first (a secret inside a longer one is masked with it)."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[str]) -> Secrets:
        forms: set[str] = set()
        for value in values:
            if len(value) >= MIN_LENGTH:  # shorter ones were refused when the plan was made
                forms |= _forms(value)
        return cls(tuple(sorted(forms, key=lambda v: (-len(v), v))))

    def __bool__(self) -> bool:
        return bool(self.values)

    def __or__(self, other: Secrets) -> Secrets:
        return Secrets.of((*self.values, *other.values))

    def mask(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def mask_data(self, data: Any) -> Any:
        """A copy of JSON-like data with every string (keys too) masked."""
        if not self.values:
            return data
        if isinstance(data, str):
            return self.mask(data)
        if isinstance(data, Mapping):
            return {self.mask(str(k)): self.mask_data(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.mask_data(item) for item in data]
        return data


# What this process knows: every plan made here adds its secrets.
_lock = threading.Lock()
_known: set[str] = set()


def remember(values: Iterable[str]) -> None:
    with _lock:
        _known.update(v for v in values if len(v) >= MIN_LENGTH)


def known() -> Secrets:
    with _lock:
        return Secrets.of(_known)


def mask(text: str) -> str:
    """Mask every secret this process has seen: for messages made far from the plan."""
    return known().mask(text)


class EnvReads(Mapping[str, str]):
    """The environment, noting which variables interpolation reads. Values of secret-looking
    names are remembered at once: an error about the spec may quote them before any plan."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.names: set[str] = set()

    def __getitem__(self, key: str) -> str:
        value: str = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self.env.get(key, default)
        if key not in self.names:  # validate reads a few variables per target: check once
            self.names.add(key)
            if isinstance(value, str) and len(value) >= MIN_LENGTH and _SECRET_NAME.search(key):
                remember((value,))
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.names.add(key)
        return key in self.env


def remember_written(root: Mapping[str, Any], targets: Mapping[str, Any]) -> None:
    """Values written in the spec for secret-named env entries, remembered before validation:
    an error that shows a line of the spec must not show them."""
    listed = root.get("secrets")
    names = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
    for holder in (root, *targets.values()):
        env = holder.get("env") if isinstance(holder, Mapping) else None
        if isinstance(env, Mapping):
            remember(str(v) for k, v in env.items()
                     if isinstance(v, (str, int, float)) and not isinstance(v, bool)
                     and "$" not in str(v) and is_secret_name(str(k), names))


def _strings(data: Any, path: tuple[str | int, ...] = ()
             ) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from _strings(value, (*path, str(key)))
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            yield from _strings(value, (*path, i))


def _carries(path: tuple[str | int, ...]) -> bool:
    """Keys whose values reach only the trainer, where a secret may go."""
    keys = [p for p in path if isinstance(p, str)]
    top = bool(keys) and keys[0] in ("args", "env", "secrets")
    in_target = len(keys) >= 3 and keys[0] == "targets" and keys[2] in ("args", "env")
    return top or in_target


def _problem(loaded: Any, path: tuple[str | int, ...], message: str, *,
             show_line: bool) -> SpecError:
    """An error at the value's place; without its line when that line would show the secret
    (a short one, which masking cannot hide)."""
    from jobspec.diagnostics import Problem, SpecError, display_path
    from jobspec.located import Loc, locate
    from jobspec.validation import dotted

    where = locate(loaded.tree, path) or Loc(display_path(str(loaded.path)), 1, 1)
    if not show_line and where.file.startswith("--set ") and "=" in where.file:
        where = where._replace(file=where.file.split("=", 1)[0] + "=…")  # it holds the value
    return SpecError([Problem(where, dotted(path), message)],
                     loaded.sources if show_line else {})


def plan_secrets(loaded: Any, env_entries: Mapping[str, str], env: Mapping[str, str],
                 trainer_values: Sequence[str]) -> tuple[str, ...]:
    """The plan's secret values, after refusing the ones that cannot be kept secret.

    ``loaded`` is the assembled spec (jobspec.assemble.Loaded), ``env_entries`` the trainer's
    env from the spec, ``env`` the environment interpolation read from; ``trainer_values``
    are the trainer's args and env values.
    """
    spec = loaded.spec
    listed = tuple(spec.secrets)
    target_env = spec.targets[loaded.target].env if loaded.target in spec.targets else {}
    found: list[tuple[str, str, tuple[str | int, ...] | None]] = []  # (what, value, where)
    for name, value in env_entries.items():
        if is_secret_name(name, listed) and value:
            place: tuple[str | int, ...] = (
                ("targets", loaded.target, "env", name) if name in target_env else ("env", name))
            found.append((f"env {name}", value, place))
    for name in sorted(loaded.env_read):
        read_value = env.get(name)
        if read_value and is_secret_name(name, listed):
            found.append((f"environment variable {name} (read through ${{{name}}})",
                          read_value, None))
    dumped = spec.model_dump(mode="json", exclude_none=True)
    strings = list(_strings(dumped))
    joined = "\0".join(trainer_values)
    for what, value, where in found:
        if len(value) >= MIN_LENGTH or (where is None and value not in joined):
            continue
        if where is None:
            where = next((p for p, text in strings if _carries(p) and value in text), ())
        raise _problem(loaded, where, f"secret {what} is {len(value)} character(s) long: too "
                       f"short to mask safely (a secret needs at least {MIN_LENGTH}); if it "
                       f"is not a secret, give it a name without {SECRET_NAMES}, and leave it "
                       "out of `secrets:`", show_line=False)
    values = [v for _, v, _ in found if len(v) >= MIN_LENGTH]
    for what, value, _ in found:
        if len(value) < MIN_LENGTH:
            continue
        for path, text in strings:
            if value in text and not _carries(path):
                raise _problem(loaded, path, f"secret {what} is used here: only args and env "
                               "may carry a secret (this value is shown, stored or uploaded as "
                               "written)", show_line=True)
    remember(values)
    return tuple(sorted(set(values), key=lambda v: (-len(v), v)))
