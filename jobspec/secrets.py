"""Which values are secret, and the one masking that every output path goes through.

A value is secret when it is the value of an env entry whose name looks secret (TOKEN, SECRET,
PASSWORD, ... or listed under `secrets:`), or the value of an environment variable with such a
name that the spec read through `${VAR}`. A secret is masked wherever it appears, also inside a
longer argument, in every text jobspec prints or stores: plans, the gcloud line, run records,
the trainer's streamed output and stderr tail, logs, and error messages.

Masking replaces text, so a secret must be long enough not to occur by chance: masking "abc"
would shred unrelated output (and still leak it, since every "abc" left visible would be
known not to be it). A shorter non-empty secret is refused at plan time, naming the variable
and never the value.

Each plan carries its secret values (`plan.secret_values`); plans also `remember()` them for
the process, so an error message rendered far from the plan (cli.main, a claim's error text)
is masked with what this process knows.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jobspec.errors import UsageError

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
        self.names.add(key)
        value = self.env.get(key, default)
        if isinstance(value, str) and is_secret_name(key):
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


def _strings(data: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            yield from _strings(value, f"{path}[{i}]")


def _carries(path: str) -> bool:
    """Keys whose values reach only the trainer, where a secret may go."""
    parts = re.sub(r"\[\d+\]", "", path).split(".")
    top = parts[0] in ("args", "env", "secrets")
    in_target = len(parts) >= 3 and parts[0] == "targets" and parts[2] in ("args", "env")
    return top or in_target


def plan_secrets(spec: Any, env_entries: Mapping[str, str], env: Mapping[str, str],
                 read: Iterable[str], trainer_values: Sequence[str]) -> tuple[str, ...]:
    """The plan's secret values, after refusing the ones that cannot be kept secret.

    ``spec`` is the validated Spec, ``env_entries`` the trainer's env from the spec, ``env``
    the environment interpolation read from and ``read`` the variables it read;
    ``trainer_values`` are the trainer's args and env values.
    """
    listed = tuple(spec.secrets)
    found: list[tuple[str, str]] = []  # (how to name it, value)
    for name, value in env_entries.items():
        if is_secret_name(name, listed) and value:
            found.append((f"env {name}", value))
    for name in sorted(read):
        read_value = env.get(name)
        if read_value and is_secret_name(name, listed):
            found.append((f"environment variable {name} (read through ${{{name}}})",
                          read_value))
    joined = "\0".join(trainer_values)
    for what, value in found:
        if len(value) < MIN_LENGTH and (what.startswith("env ") or value in joined):
            raise UsageError(
                f"secret {what} is {len(value)} character(s) long: too short to mask safely "
                f"(a secret needs at least {MIN_LENGTH})",
                hint=f"use a longer secret; if it is not a secret, give it a name without "
                f"{SECRET_NAMES}, and leave it out of `secrets:`")
    values = [v for _, v in found if len(v) >= MIN_LENGTH]
    dumped = spec.model_dump(mode="json", exclude_none=True)
    for what, value in found:
        if len(value) < MIN_LENGTH:
            continue
        for path, text in _strings(dumped, ""):
            if value in text and not _carries(path):
                raise UsageError(
                    f"secret {what} is used in {path}: only args and env may carry a secret "
                    f"({path} is shown, stored or uploaded as written)",
                    hint="pass the secret to the trainer through env or args")
    remember(values)
    return tuple(sorted(set(values), key=lambda v: (-len(v), v)))
