"""Fuzz the spec loader (issue 5, item 1): mutate the example specs and check that every case
ends in success or a SpecError whose every problem has a location, never anything else.

Mutations, mixed at random per case: key typos, type swaps, deletions, added keys, broken
interpolation, shared references (YAML anchors and aliases, recursive ones too), huge
scalars (on the tree, then dumped back to YAML); random bytes, odd unicode (RTL, zero-width,
emoji, combining marks, line separators), surrogates and other invalid UTF-8 as bytes, deep
nesting (flow and block), tabs, duplicated and cut lines, tags, anchors, merge keys and
document markers (on the text). Some cases also pass a --target and --set overrides.
Issue 9 adds: NUL characters and trailing newlines in keys and values (one, or every string of
the spec), interpolation growth (a 100 KB variable referenced many times, and chains through
${project} and ${bucket}), target bodies shared through aliases, and --set paths that nest
deep, run long or go through those aliases, plus a --name with a newline or NUL.

    python bench/fuzz_specs.py --cases 10000 --seed 1
    python bench/fuzz_specs.py --seed 1 --only 4711 --show   # replay one case

A crash is any other exception, an error without a location, a case slower than 2 s, or a
spec that loads holding what it must not (a NUL, a line break in a name or key, text grown
past the interpolation bound); each is printed with its seed and index, and the exit status
is 1.
"""

from __future__ import annotations

import argparse
import copy
import random
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from jobspec.diagnostics import SpecError  # noqa: E402
from jobspec.errors import JobspecError  # noqa: E402
from jobspec.loader import load  # noqa: E402

SLOW_SECONDS = 2.0
ENV = {"GOOGLE_CLOUD_PROJECT": "fuzz-project", "DATA_DIR": "/data", "EMPTY": "",
       "BIG": "x" * 100_000}
FIELDS = ["version", "name", "description", "trainer", "package_path", "module", "requirements",
          "args", "env", "targets", "kind", "extends", "job_dir", "python", "isolated",
          "distributed", "workers", "parameter_servers", "evaluators", "start_port", "project",
          "bucket", "region", "runtime_version", "python_version", "executor_image",
          "scale_tier", "chief", "machine_type", "count", "accelerator", "type", "labels",
          "service_account", "network", "max_running_time", "staging_prefix", "name_suffix",
          "secrets", "matrix", "include", "exclude", "<<"]
ODD = ["\u202e", "\u202d", "\u200b", "\u200d", "\u2060", "\ufeff", "\U0001f600", "\U0001f468"
       "\u200d\U0001f469\u200d\U0001f467", "e\u0301", "\u0130", "\ufb01", "\u00a0", "\u2028",
       "\u2029", "\x85", "\u3000", "\u05d0\u05d1", "\u0627\u0644", "\x00", "\x1b[31m", "\t",
       "\r", "\\", "'", '"', "#", ": ", "- ", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">",
       "%", "@", "`", "$", "${", "}}"]
BAD_BYTES = [b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xff", b"\xfe", b"\xc3", b"\xc0\xaf",
             b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xef\xbb\xbf", b"\xff\xfe",
             b"\x00", b"\x1b", b"\x7f"]
SCALARS: list[Any] = [0, -1, 1, 7, 65535, 10**30, 1.5, -0.0, float("inf"), True, False, None, "",
                      "x", "BASIC", "CUSTOM", "local", "cloud", "../trainer", "trainer.task",
                      "gs://b/x", "us-central1", "2.11", "3.10", "1h", "90m", "-5", "NaN",
                      "0x1F", "010", "yes", "~", "a b", "ünï", "${name}", "$$", "${target}"]
REFERENCES = ["${name}", "${target}", "${bucket}", "${project}", "${region}", "${NOPE}",
              "${DATA_DIR}", "${EMPTY}", "${EMPTY:-d}", "${NOPE:-d}", "${", "${}", "${a b}",
              "$${x}", "$$", "${matrix.lr}", "${matrix}", "${a.b.c}", "${NOPE:-${name}}",
              "${name", "$name", "${1}", "${DATA_DIR:-}", "${:-x}", "${BIG}", "${name\n}",
              "${BIG:-x}", "${NOPE:-\x00}"]
SET_KEYS = ["name", "version", "args", "env.X", "targets.local.job_dir", "targets.cloud.region",
            "targets.cloud.bucket", "targets.local.distributed.workers", "trainer.module",
            "targets.new.kind", "targets", "args.0", "args.99", "", ".", "a..b", "name.x",
            "targets.cloud.labels.team", "matrix.lr", "extends", "targets.cloud-gpu.extends",
            "targets.cloud.extends", "name\n", "env.X\n", "targets.cloud.bucket\x00",
            ".".join(["a"] * 32), ".".join(["a"] * 33), ".".join(["targets"] * 5000),
            "targets.cloud.labels." + "k" * 70_000]
SET_VALUES = ["x", "1", "true", "[a, b]", "{a: 1}", "", "[", "!!python/object:os.system x",
              "*a", "&a x", "${name}", "---", "a: b: c", "\x00", "\u202e", "0x10", "~", "'q",
              '"a\\0b"', '"x\\n"', "x\n", "cloud", "local", "../base.yaml", "cloud-gpu",
              "${BIG}", "[" + ", ".join(['"${BIG}"'] * 50) + "]", "y" * 70_000]
NAMES = [None, None, "job\n", "job\x00", "j" * 129, "job", "\njob", "census_single_2"]


@dataclass
class Case:
    index: int
    data: bytes
    target: str | None = None
    overrides: list[str] = field(default_factory=list)
    name: str | None = None
    mutations: list[str] = field(default_factory=list)


# --- tree mutations -----------------------------------------------------------------------


def _nodes(tree: Any) -> list[tuple[Any, Any]]:
    """(container, key or index) for every value under ``tree``."""
    out: list[tuple[Any, Any]] = []
    stack = [tree]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            out.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return out


def _mappings(tree: Any) -> list[dict[Any, Any]]:
    found = [tree] if isinstance(tree, dict) else []
    return found + [c[k] for c, k in _nodes(tree) if isinstance(c[k], dict)]


def _typo(word: str, rng: random.Random) -> str:
    if not word:
        return rng.choice("abc")
    i = rng.randrange(len(word))
    how = rng.randrange(5)
    if how == 0 and len(word) > 1:
        j = min(i + 1, len(word) - 1)
        chars = list(word)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    if how == 1:
        return word[:i] + word[i + 1:]
    if how == 2:
        return word[:i] + word[i] + word[i:]
    if how == 3:
        return word.upper() if rng.random() < 0.5 else word.title()
    return word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz_-. ") + word[i:]


def t_key_typo(tree: Any, rng: random.Random) -> None:
    maps = [m for m in _mappings(tree) if m]
    if maps:
        mapping = rng.choice(maps)
        key = rng.choice(list(mapping))
        mapping[_typo(str(key), rng)] = mapping.pop(key)


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.55 or depth > 2:
        return copy.copy(rng.choice(SCALARS))
    if roll < 0.7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if roll < 0.85:
        return {rng.choice(FIELDS): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return rng.choice(REFERENCES) + rng.choice(["", "/x", "-y"])


def t_type_swap(tree: Any, rng: random.Random) -> None:
    nodes = _nodes(tree)
    if nodes:
        container, key = rng.choice(nodes)
        container[key] = _random_value(rng)


def t_delete(tree: Any, rng: random.Random) -> None:
    nodes = _nodes(tree)
    if nodes:
        container, key = rng.choice(nodes)
        del container[key]


def t_add_key(tree: Any, rng: random.Random) -> None:
    maps = _mappings(tree)
    if maps:
        key = rng.choice(FIELDS) if rng.random() < 0.8 else _typo(rng.choice(FIELDS), rng)
        rng.choice(maps)[key] = _random_value(rng)


def t_interpolation(tree: Any, rng: random.Random) -> None:
    strings = [(c, k) for c, k in _nodes(tree) if isinstance(c[k], str)]
    if strings:
        container, key = rng.choice(strings)
        text = container[key]
        at = rng.randrange(len(text) + 1)
        container[key] = text[:at] + rng.choice(REFERENCES) + text[at:]


def t_share(tree: Any, rng: random.Random) -> None:
    """The same object twice: the dump writes an anchor and an alias (recursive when it
    points at one of its own ancestors)."""
    nodes = _nodes(tree)
    containers = [c[k] for c, k in nodes if isinstance(c[k], (dict, list))] + [tree]
    if nodes:
        container, key = rng.choice(nodes)
        container[key] = rng.choice(containers)


def t_huge(tree: Any, rng: random.Random) -> None:
    nodes = _nodes(tree)
    if nodes:
        container, key = rng.choice(nodes)
        size = rng.choice([300, 5_000, 70_000, 600_000])
        if rng.random() < 0.3:
            container[key] = [rng.choice(SCALARS) for _ in range(size // 50)]
        else:
            container[key] = (rng.choice(["x", "ab", "\u00e9", "\U0001f600", "a/"]) * size)[:size]


def t_odd_unicode(tree: Any, rng: random.Random) -> None:
    nodes = _nodes(tree)
    if nodes:
        container, key = rng.choice(nodes)
        odd = rng.choice([o for o in ODD if o not in ("\x00", "\x1b[31m", "\r", "\x85")])
        if isinstance(container, dict) and rng.random() < 0.5:
            container[str(key) + odd] = container.pop(key)
        else:
            container[key] = str(container[key]) + odd


PATHS = ["a" * 300, "a" * 5000, "a/" * 3000, "/", ".", "..", "", " ", "~", "/dev/null",
         "/proc/self/fd/0", "../trainer/__init__.py", "../specs", "../../../../../../etc",
         "../trainer/../trainer", "trainer\\x", "\u202etrainer", "../trainer\u200b", "C:\\x",
         "//server/share", "../trainer/", "./../trainer", "case.yaml", "../nope.yaml"]


def t_paths(tree: Any, rng: random.Random) -> None:
    """Values jobspec reads as paths: package_path, a top-level extends, python, job_dir."""
    if not isinstance(tree, dict):
        return
    path = rng.choice(PATHS)
    spot = rng.randrange(4)
    if spot == 0 and isinstance(tree.get("trainer"), dict):
        tree["trainer"]["package_path"] = path
    elif spot == 1:
        tree["extends"] = path
    elif isinstance(tree.get("targets"), dict) and tree["targets"]:
        body = tree["targets"][rng.choice(list(tree["targets"]))]
        if isinstance(body, dict):
            body["python" if spot == 2 else "job_dir"] = path


def _strings(tree: Any) -> list[tuple[Any, Any]]:
    return [(c, k) for c, k in _nodes(tree) if isinstance(c[k], str)]


def t_nul_newline(tree: Any, rng: random.Random) -> None:
    """A trailing newline or a NUL in one key or string value; the dump escapes it."""
    odd = rng.choice(["\n", "\x00", "\r\n", "\x00\n"])
    maps = [m for m in _mappings(tree) if m]
    if maps and rng.random() < 0.4:
        mapping = rng.choice(maps)
        key = rng.choice(list(mapping))
        mapping[str(key) + odd] = mapping.pop(key)
        return
    strings = _strings(tree)
    if strings:
        container, key = rng.choice(strings)
        text = container[key]
        at = len(text) if rng.random() < 0.7 else rng.randrange(len(text) + 1)
        container[key] = text[:at] + odd + text[at:]


def t_newline_everywhere(tree: Any, rng: random.Random) -> None:
    """A trailing newline in every string value: names, bucket, region, module, labels..."""
    odd = rng.choice(["\n", "\x00"])
    for container, key in _strings(tree):
        container[key] += odd
    for mapping in _mappings(tree):
        if rng.random() < 0.3 and mapping:
            key = rng.choice(list(mapping))
            mapping[str(key) + odd] = mapping.pop(key)


def t_growth(tree: Any, rng: random.Random) -> None:
    """Interpolation that grows: ${BIG} (100 KB) many times, or builtins chained from it."""
    if not isinstance(tree, dict):
        return
    count = rng.choice([1, 5, 11, 100, 1000])
    if rng.random() < 0.5:
        tree["args"] = ["${BIG}"] * count
        return
    targets = tree.get("targets")
    if isinstance(targets, dict):
        for body in list(targets.values()):  # t_share may have made targets its own value
            if isinstance(body, dict):
                body["project"] = "${BIG}" * rng.choice([1, 3, 11])
                body["bucket"] = "${project}" * rng.choice([1, 3, 11])
                body["args"] = ["${bucket}"] * count
    tree["name"] = rng.choice(["${BIG}", "job", "${BIG}${BIG}"])


def t_alias_targets(tree: Any, rng: random.Random) -> None:
    """Targets sharing one body (the dump writes an anchor and aliases); --set may then name
    one of them (see mutate)."""
    targets = tree.get("targets") if isinstance(tree, dict) else None
    if isinstance(targets, dict) and targets:
        shared = targets[rng.choice(list(targets))]
        for name in rng.sample(list(targets), k=min(len(targets), rng.randint(1, 3))):
            targets[name] = shared
        if isinstance(shared, dict) and rng.random() < 0.5:
            shared["labels"] = {"team": "ml"}
            for body in list(targets.values()):
                if isinstance(body, dict) and body is not shared:
                    body["labels"] = shared["labels"]


def t_job_dir(tree: Any, rng: random.Random) -> None:
    """A cloud job_dir inside, beside or outside gs://BUCKET/NAME/, with or without a suffix."""
    targets = tree.get("targets") if isinstance(tree, dict) else None
    if not isinstance(targets, dict):
        return
    for body in list(targets.values()):
        if isinstance(body, dict) and rng.random() < 0.7:
            body["job_dir"] = rng.choice([
                "gs://${bucket}/${name}", "gs://${bucket}/${name}/out", "gs://other/${name}",
                "gs://${bucket}/${name}_x", "gs://${bucket}/job", "gs://${bucket}/${name}/../x",
                "gs://${bucket}", "gs://${bucket}/${name}\n"])
            if rng.random() < 0.3:
                body["name_suffix"] = rng.choice(["counter", "timestamp", "none"])
            if rng.random() < 0.2:
                body["job_dir_outside_claim"] = rng.choice([True, False, "yes"])


BUCKETS = ["ab", "a" * 64, "a." + "b" * 64, "192.168.5.4", "goog-x", "my-g00gle", "a..b",
           "a.-b", "a-.b", "My-Bucket", "-x-", "data.example.com", "my_bucket", "bucket\n",
           "gs://b", "x" * 223]


def t_bucket(tree: Any, rng: random.Random) -> None:
    targets = tree.get("targets") if isinstance(tree, dict) else None
    if isinstance(targets, dict):
        for body in list(targets.values()):
            if isinstance(body, dict):
                body["bucket"] = rng.choice(BUCKETS)


TREE: dict[str, Callable[[Any, random.Random], None]] = {
    "paths": t_paths,
    "key-typo": t_key_typo, "type-swap": t_type_swap, "delete": t_delete, "add-key": t_add_key,
    "interpolation": t_interpolation, "share": t_share, "huge": t_huge,
    "odd-unicode": t_odd_unicode, "nul-newline": t_nul_newline,
    "newline-everywhere": t_newline_everywhere, "growth": t_growth,
    "alias-targets": t_alias_targets, "job-dir": t_job_dir, "bucket": t_bucket,
}


# --- text mutations -----------------------------------------------------------------------


def _line_starts(data: bytes) -> list[int]:
    return [0] + [i + 1 for i, b in enumerate(data) if b == 0x0A and i + 1 < len(data)]


def _value_spot(data: bytes, rng: random.Random) -> int:
    """Just after a random ': ' or '- ', where a value starts; else anywhere."""
    spots = [i + 2 for i in range(len(data) - 1) if data[i:i + 2] in (b": ", b"- ")]
    return rng.choice(spots) if spots else rng.randrange(len(data) + 1)


def x_random_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        at = rng.randrange(len(out) + 1)
        how = rng.randrange(3)
        if how == 0 and at < len(out):
            out[at] = rng.randrange(256)
        elif how == 1:
            out[at:at] = bytes([rng.randrange(256)])
        elif at < len(out):
            del out[at]
    return bytes(out)


def x_odd_unicode(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(ODD).encode("utf-8") * rng.randint(1, 3) + data[at:]


def x_bad_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(BAD_BYTES) + data[at:]


def x_deep(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([10, 63, 64, 65, 200, 5_000, 100_000])
    at = _value_spot(data, rng)
    shape = rng.randrange(4)
    if shape == 0:
        deep = b"[" * depth + b"x" + b"]" * depth
    elif shape == 1:
        deep = b"{a: " * depth + b"1" + b"}" * depth
    elif shape == 2:
        deep = b"\n" + b"".join(b"  " * i + b"k:\n" for i in range(min(depth, 300)))
    else:
        deep = b"- " * depth + b"x"
    if rng.random() < 0.2:  # unbalanced
        deep = deep[: len(deep) // 2]
    return data[:at] + deep + b"\n" + data[at:]


def x_huge_line(data: bytes, rng: random.Random) -> bytes:
    at = _value_spot(data, rng)
    size = rng.choice([1_000, 50_000, 900_000, 1_100_000])
    filler = rng.choice([b"x", b"9", b"a, ", b"*a, ", b"[], ", b"\xc3\xa9"])
    return data[:at] + (filler * size)[:size] + data[at:]


def x_tabs(data: bytes, rng: random.Random) -> bytes:
    starts = _line_starts(data)
    at = rng.choice(starts)
    return data[:at] + b"\t" + data[at:].lstrip(b" ")


def x_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    how = rng.randrange(4)
    if how == 0:
        lines.insert(i, lines[rng.randrange(len(lines))])  # often a duplicate key
    elif how == 1:
        del lines[i]
    elif how == 2:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    else:
        return data[: rng.randrange(len(data) + 1)]  # cut the file short
    return b"\n".join(lines)


TAGS = [b"!!python/object/apply:os.system ['touch PWNED'] ", b"!!python/name:os.system ",
        b"!!binary aGk= ", b"!!set ", b"!!omap ", b"!!str ", b"!!int ", b"!!float ", b"!!bool ",
        b"!!null ", b"!!map ", b"!!seq ", b"!!timestamp ", b"!!merge ", b"!!value ", b"!foo ",
        b"!<tag:yaml.org,2002:str> ", b"! ", b"!e!x "]


def x_tag(data: bytes, rng: random.Random) -> bytes:
    at = _value_spot(data, rng)
    return data[:at] + rng.choice(TAGS) + data[at:]


def x_anchors(data: bytes, rng: random.Random) -> bytes:
    """Anchors and aliases by hand: forward, unknown, merge keys, bombs, keys."""
    pieces = [b"&a ", b"*a", b"*nope", b"&a &b ", b"<<: *a\n", b"<<: [*a, *a]\n", b"*a : 1\n",
              b"? *a\n: 1\n", b"&" + b"x" * 300 + b" ", b"[*a, *a, *a, *a, *a, *a, *a, *a]"]
    out = data
    for _ in range(rng.randint(1, 4)):
        at = _value_spot(out, rng)
        out = out[:at] + rng.choice(pieces) + out[at:]
    if rng.random() < 0.3:
        lol = b"lol: &l0 [a, a, a, a, a, a, a, a, a]\n" + b"".join(
            b"l%d: &l%d [" % (i, i) + b", ".join([b"*l%d" % (i - 1)] * 9) + b"]\n"
            for i in range(1, 8))
        out = lol + out
    return out


def x_document(data: bytes, rng: random.Random) -> bytes:
    pieces = [b"---\n", b"...\n", b"--- |\n", b"%YAML 1.2\n---\n", b"%YAML 1.1\n", b"%TAG ! !\n",
              b"--- !!map\n", b"---\n---\n"]
    at = rng.choice([0, len(data), rng.choice(_line_starts(data))])
    return data[:at] + rng.choice(pieces) + data[at:]


def x_line_breaks(data: bytes, rng: random.Random) -> bytes:
    how = rng.randrange(4)
    if how == 0:
        return data.replace(b"\n", b"\r\n")
    if how == 1:
        return data.replace(b"\n", b"\r")
    if how == 2:
        return b"\xef\xbb\xbf" + data
    return data.replace(b"\n", rng.choice(["\u2028", "\x85"]).encode(), rng.randint(1, 5))


TEXT: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "random-bytes": x_random_bytes, "odd-unicode-text": x_odd_unicode, "bad-bytes": x_bad_bytes,
    "deep": x_deep, "huge-line": x_huge_line, "tabs": x_tabs, "lines": x_lines, "tag": x_tag,
    "anchors": x_anchors, "document": x_document, "line-breaks": x_line_breaks,
}


# --- cases --------------------------------------------------------------------------------


_PARSED: dict[str, Any] = {}


def _parsed(base: str) -> Any:
    if base not in _PARSED:
        _PARSED[base] = yaml.safe_load(base)
    return _PARSED[base]


def make_case(seed: int, index: int, bases: list[str]) -> Case:
    return mutate(random.Random(f"{seed}:{index}"), bases, index)


def mutate(rng: random.Random, bases: list[str], index: int = 0) -> Case:
    """One case: 1-3 tree mutations (dumped back to YAML), then 1-3 text mutations, each
    chosen by ``rng``; sometimes a --target and --set overrides too."""
    base = rng.choice(bases)
    case = Case(index, base.encode())
    if rng.random() < 0.65:
        tree = copy.deepcopy(_parsed(base))
        for name in rng.choices(list(TREE), k=rng.randint(1, 3)):
            TREE[name](tree, rng)
            case.mutations.append(name)
        try:
            case.data = yaml.safe_dump(tree, sort_keys=False, allow_unicode=rng.random() < 0.7,
                                       default_flow_style=rng.choice([False, None, True]),
                                       width=rng.choice([80, 4096])).encode("utf-8", "replace")
        except (yaml.YAMLError, RecursionError, ValueError, TypeError):
            case.mutations.append("(dump failed: base text)")
    if rng.random() < 0.55 or not case.mutations:
        for name in rng.choices(list(TEXT), k=rng.randint(1, 3)):
            case.data = TEXT[name](case.data, rng)
            case.mutations.append(name)
    if rng.random() < 0.2 or "alias-targets" in case.mutations:
        case.target = rng.choice(["local", "cloud", "cloud-gpu", "local-distributed", "nope",
                                  "", "\u202e"])
        case.overrides = [_set_key(rng) + rng.choice(["=", "=", ""])
                          + rng.choice(SET_VALUES) for _ in range(rng.randint(0, 3))]
        case.name = rng.choice(NAMES)
    return case


def _set_key(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.7:
        return rng.choice(SET_KEYS)
    if roll < 0.85:  # a path through a target that may be shared through an alias
        return (f"targets.{rng.choice(['local', 'cloud', 'cloud-gpu'])}."
                + rng.choice(["region", "labels.team", "env.X", "args.0", "extends", "job_dir"]))
    depth = rng.choice([2, 31, 32, 33, 64, 1000])
    return ".".join(rng.choice(["targets", "cloud", "a", "0", "env"]) for _ in range(depth))


# names that must never hold a line break (issue 9): the spec's own, per target, per label/env
_ONE_LINE = ("name", "module", "bucket", "region", "project", "python_version", "network",
             "service_account", "staging_prefix", "job_dir", "runtime_version", "executor_image")


def accepted_wrongly(data: Any, path: str = "") -> str | None:
    """What a spec that loaded should not hold: a NUL anywhere, a line break in a name or key,
    or text grown past what interpolation may add (MAX_GROWTH over the 1 MiB file)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if "\x00" in key or "\n" in key:
                return f"the key {key!r} at {path or 'the top'}"
            found = accepted_wrongly(value, f"{path}.{key}" if path else key)
            if found:
                return found
            if key in _ONE_LINE and isinstance(value, str) and (
                    "\n" in value or "\r" in value or "\x00" in value):
                return f"{path}.{key} = {value[:80]!r}"
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found = accepted_wrongly(item, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(data, str):
        if "\x00" in data:
            return f"a NUL in {path} = {data[:80]!r}"
        if len(data) > (2 << 20):
            return f"{len(data):,} characters in {path}"
    return None


class Slow(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` in the loader eats it."""


def _alarm(signum: int, frame: Any) -> None:
    raise Slow()


def check(case: Case, spec: Path, alarm: bool = True) -> tuple[str, str]:
    """('ok' | 'spec-error' | 'usage-error' | 'crash', detail). ``alarm``: a case slower than
    SLOW_SECONDS is a crash (needs the SIGALRM handler that main() installs)."""
    spec.write_bytes(case.data)
    if alarm:
        signal.setitimer(signal.ITIMER_REAL, SLOW_SECONDS)
    try:
        loaded = load(spec, target=case.target, overrides=case.overrides, env=ENV,
                      name=case.name, strict_all=case.target is None)
        wrong = accepted_wrongly(loaded.spec.model_dump(mode="json"))
        return ("crash", f"accepted {wrong}") if wrong else ("ok", "")
    except SpecError as exc:
        bad = [p for p in exc.problems
               if not (p.loc.file and p.loc.line >= 1 and p.loc.col >= 1)]
        if bad or not exc.problems:
            return "crash", f"problem without a location: {bad or 'no problems'}"
        exc.render()
        return "spec-error", ""
    except JobspecError as exc:
        # only a --target the spec does not have is an error about no place in the file
        if case.target is not None and "no target named" in exc.message:
            return "usage-error", ""
        return "crash", f"unlocated {type(exc).__name__}: {exc.message}"
    except Slow:
        return "crash", f"slower than {SLOW_SECONDS:g} s"
    except Exception:  # anything else is the bug this script looks for
        return "crash", traceback.format_exc(limit=-6)
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _short(overrides: list[str]) -> str:
    return repr([o if len(o) <= 200 else o[:200] + f"...({len(o):,} chars)" for o in overrides])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", type=int, default=None, help="run just this case index")
    parser.add_argument("--show", action="store_true", help="print each case's mutations")
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    bases = [p.read_text() for p in sorted((REPO / "specs").glob("*.yaml"))]
    counts = {"ok": 0, "spec-error": 0, "usage-error": 0, "crash": 0}
    slowest = (0.0, -1)
    indices = [args.only] if args.only is not None else range(args.cases)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # the examples say package_path: ../trainer, relative to the spec's folder
        (Path(tmp) / "trainer").mkdir()
        (Path(tmp) / "trainer" / "__init__.py").write_text("")
        for module in ("task", "oops"):  # the modules the example specs name: validate checks
            (Path(tmp) / "trainer" / f"{module}.py").write_text("")
        (Path(tmp) / "specs").mkdir()
        for base in (REPO / "specs").glob("*.yaml"):  # what an example extends (census.yaml)
            (Path(tmp) / "specs" / base.name).write_text(base.read_text())
        spec = Path(tmp) / "specs" / "case.yaml"
        for index in indices:
            case = make_case(args.seed, index, bases)
            began = time.perf_counter()
            outcome, detail = check(case, spec)
            took = time.perf_counter() - began
            slowest = max(slowest, (took, index))
            counts[outcome] += 1
            if args.show:
                extra = "" if case.target is None else (
                    f" --target {case.target!r} --set {_short(case.overrides)} "
                    f"--name {case.name!r}")
                print(f"case {index}: {outcome} in {took * 1000:.1f} ms; {case.mutations}{extra}")
            if outcome == "crash":
                print(f"CRASH seed={args.seed} case={index} mutations={case.mutations} "
                      f"target={case.target!r} overrides={_short(case.overrides)} "
                      f"name={case.name!r}\n"
                      f"  replay: python bench/fuzz_specs.py --seed {args.seed} --only {index}\n"
                      f"  {detail[:3000]}")
    total = sum(counts.values())
    print(f"cases: {total}, ok: {counts['ok']}, spec errors: {counts['spec-error']}, "
          f"usage errors: {counts['usage-error']}, crashes: {counts['crash']}, "
          f"slowest case: {slowest[0] * 1000:.0f} ms (case {slowest[1]}), "
          f"total: {time.perf_counter() - started:.1f} s")
    return 1 if counts["crash"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
