"""Hostile spec files (issue 5, item 2): each is refused with a clear message and exit 2, in a
real process whose peak memory stays under 200 MB. Speed is measured in bench/hostile_yaml.py,
not asserted here."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_RSS_MB = 200
DEEP = 100_000

# Runs the real CLI in a fresh interpreter, then records that process's own peak RSS (KiB on
# Linux) in a side file: the child's figure alone, whatever else the test session has run.
RUNNER = """\
import resource, sys
from jobspec.cli import main
try:
    main(sys.argv[2:])
finally:
    try:  # VmHWM is this process's own peak; ru_maxrss also holds the parent's RSS at fork,
        # which Linux carries across exec
        with open("/proc/self/status") as status:
            peak = next(int(x.split()[1]) for x in status if x.startswith("VmHWM:"))
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(sys.argv[1], "w") as fh:
        fh.write(str(peak))
"""


@dataclass
class Measured:
    code: int
    err: str
    peak_mb: float


def validate_in_a_process(folder: Path) -> Measured:
    side = folder / "peak_rss"
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(side), "validate", "spec.yaml"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    return Measured(done.returncode, done.stderr, int(side.read_text()) / 1024)


def billion_laughs() -> bytes:
    lines = ["version: 1", 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def many_targets(targets: int, top_values: int) -> bytes:
    """Each target checks its own copy of the top-level values: copies multiply the work."""
    items = ", ".join(f"a{i}" for i in range(top_values))
    head = ["version: 1", "name: job", f"args: [{items}]", "targets:"]
    return ("\n".join(head + [f"  t{i}: {{kind: local}}" for i in range(targets)]) + "\n").encode()


CASES = [
    pytest.param(billion_laughs(),
                 "spec.yaml:6:12: more than 20,000 values after expanding aliases",
                 id="billion-laughs"),
    pytest.param(("version: 1\nargs: [&x a, " + ", ".join(["*x"] * 10_000) + "]\n").encode(),
                 "spec.yaml:2:270: more than 64 aliases; a job file needs only a few",
                 id="alias-flood"),
    pytest.param(("args: " + "[" * DEEP + "]" * DEEP + "\n").encode(),
                 "spec.yaml:1:70: nesting deeper than 64 levels", id="deep-flow-lists"),
    pytest.param(("args: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n").encode(),
                 "spec.yaml:1:259: nesting deeper than 64 levels", id="deep-flow-mappings"),
    pytest.param(("args:\n" + "- " * DEEP + "x\n").encode(),
                 "spec.yaml:2:127: nesting deeper than 64 levels", id="deep-block-lists"),
    pytest.param(b"version: 1\nname: " + b"x" * (50 << 20) + b"\n",
                 "spec.yaml:1:1: file is larger than 1 MiB (52,428,818 bytes); a job file never "
                 "needs to be", id="50-MB"),
    pytest.param(many_targets(80, 1500),
                 "spec.yaml:4:1: targets: too much to check: 80 target(s) each check their own "
                 "copy of the 1,504 top-level values, 121,280 values in all (at most 100,000)",
                 id="copies-multiplied-by-targets"),
    pytest.param(many_targets(101, 1),
                 "spec.yaml:4:1: targets: 101 targets; at most 100 are allowed",
                 id="too-many-targets"),
    pytest.param(b'version: 1\nname: !!python/object/apply:os.system ["touch PWNED"]\n',
                 "spec.yaml:2:7: YAML tag '!!python/object/apply:os.system' is not allowed: a job "
                 "file holds plain data (strings, numbers, booleans, lists and mappings) only",
                 id="python-object-apply"),
    pytest.param(b'version: 1\nname: !!python/object/new:subprocess.Popen [["touch", "PWNED"]]\n',
                 "spec.yaml:2:7: YAML tag '!!python/object/new:subprocess.Popen' is not allowed: "
                 "a job file holds plain data (strings, numbers, booleans, lists and mappings) "
                 "only", id="python-object-new"),
    pytest.param(b"version: 1\nname: !!python/name:os.system\n",
                 "spec.yaml:2:7: YAML tag '!!python/name:os.system' is not allowed: a job file "
                 "holds plain data (strings, numbers, booleans, lists and mappings) only",
                 id="python-name"),
    pytest.param(b"version: 1\nname: a\ntargets: {}\nname: b\n",
                 "spec.yaml:4:1: duplicate key 'name' (first defined at line 2); YAML would keep "
                 "only one", id="duplicate-keys"),
    pytest.param(b"version: 1\nname: caf\xe9\n",
                 "spec.yaml:2:10: not UTF-8 text (byte 0xe9); save the file as UTF-8",
                 id="not-utf8"),
    pytest.param("version: 1\nname: job\n".encode("utf-16"),
                 "spec.yaml:1:1: not UTF-8 text: the file starts with a UTF-16 byte order mark; "
                 "save it as UTF-8", id="utf16"),
]


@pytest.mark.parametrize(("content", "message"), CASES)
def test_hostile_file_is_refused(content: bytes, message: str, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_bytes(content)
    result = validate_in_a_process(tmp_path)
    lines = result.err.splitlines()
    assert result.code == 2, result.err[:2000]
    assert "Traceback" not in result.err
    assert lines[0] == message
    assert lines[-1] == "1 problem(s) in 1 file(s)"
    # the report stays readable: at most the message, one source line (cut to a window) and
    # its caret, never the 50 MB or the 100,000 brackets
    assert len(lines) in (2, 4)
    assert all(len(line) <= 200 for line in lines[1:])
    assert 5 < result.peak_mb < MAX_RSS_MB  # above 5: the figure is a real measurement
    assert not (tmp_path / "PWNED").exists()


def test_source_excerpt_of_a_deep_line(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_bytes(("args: " + "[" * DEEP + "]" * DEEP + "\n").encode())
    result = validate_in_a_process(tmp_path)
    assert result.err.splitlines()[1:3] == [
        "    1 | args: " + "[" * 154 + "...",
        "      | " + " " * 69 + "^",
    ]


def test_thousands_of_problems_are_counted_not_printed(tmp_path: Path) -> None:
    broken = ",".join(["[]"] * 15_000)  # 15,000 list items that should be strings, 3 targets
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "spec.yaml").write_text(
        "version: 1\nname: job\ntrainer: {package_path: trainer, module: trainer.task}\n"
        f"args: [{broken}]\ntargets:\n  t0: {{kind: local}}\n  t1: {{kind: local}}\n"
        "  t2: {kind: local}\n")
    result = validate_in_a_process(tmp_path)
    lines = result.err.splitlines()
    assert result.code == 2
    assert lines[0] == "spec.yaml:1:1: 15,000 problems; the first 1,000 found are listed"
    assert lines[3] == "spec.yaml:4:8: args[0]: expected a string, got a list"
    assert lines[-2:] == ["... and 951 more problem(s)", "1001 problem(s) in 1 file(s)"]
    assert len(lines) == 50 * 3 + 2
    assert 5 < result.peak_mb < MAX_RSS_MB
