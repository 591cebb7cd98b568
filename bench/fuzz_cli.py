"""Fuzz the whole command line (issue 9): hostile argv and environment for every command, each
case run as a real `python -m jobspec` process in a throw-away project.

A case fails when its output holds a traceback, when it runs past the timeout (a hang), or
when its exit code is not one README.md documents (0 ok, 1 job failed, 2 usage, 3 name taken,
4 cloud/network, 130 interrupted). No case can reach the internet: the endpoints point at a
loopback port nothing listens on, credentials at a file that does not exist, and every Python
process runs under the test suite's network guard (tests/standins/netguard.py), which turns an
attempt into a traceback and a logged refusal.

    python bench/fuzz_cli.py --cases 500 --seed 1
    python bench/fuzz_cli.py --seed 1 --only 17 --show    # replay one case, print its output

Argument tokens starting with @ are placeholders filled in per case (see `_places`); the
reproducers print them as they are, with the legend, and long strings shortened.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCUMENTED_EXITS = frozenset({0, 1, 2, 3, 4, 130})
LONG = "x" * 100_000  # 100 KB: under the kernel's 128 KiB limit on one argument

# --- hostile values ---------------------------------------------------------------------------

TEXT = ["", " ", "\n", "a\nb", "\r\n", "\t", "../", "../../etc/passwd", "..", ".", "/", "-",
        "--", "-x", "--bogus", "=", "%s%n", "{}", "{0}", "${HOME}", "$(id)", "`id`", "'", '"',
        "\\", "ünï", "\u202e", "\u200b", "\U0001f600", "名前", "e\u0301", "\x1b[31mred",
        "\x7f", "a" * 129, LONG, "gs://", "gs://b/x", "http://127.0.0.1:1/", "C:\\x", "~",
        "*", "?", "[0]", "a b"]
NAMES = ["", "x", "ok_name", "1abc", "_x", "a-b", "a.b", "a/b", "../x", "a" * 128, "a" * 129,
         "ünï", "a\nb", "a\n", " a", "a ", "\U0001f600", "--target", "-", LONG, "a\x1bb",
         "null", "0", "True"]
SET_KEYS = ["name", "version", "args", "env.X", "env", "targets.local.job_dir",
            "targets.local.distributed.workers", "targets.local.distributed.start_port",
            "trainer.module", "trainer.package_path", "targets.cloud.bucket", "targets",
            "args.0", "args.99", "args[0]", "[0]", "", ".", "a..b", "..", "name.x", "x",
            "targets.local", "targets.new.kind", "trainer", "matrix.x", "env.A\nB", "env.",
            ".name", "name.", "targets..local", "ünï", "a" * 1000,
            ".".join(["a"] * 1000), ".".join(["x"] * 1000) + ".y"]
SET_VALUES = ["x", "", "1", "-1", "0", "99999999999999999999", "true", "null", "~", "[a, b]",
              "{a: 1}", "[", "{", "'", "!!python/object/apply:os.system [id]", "*a", "&a x",
              "${name}", "${NOPE}", "---", "a: b: c", "\u202e", "\n", "a\nb", "..", "../..",
              "/etc/passwd", "[" * 1000 + "]" * 1000, "[" * 1000, LONG, "0x10", "1e999"]
SETS = ["=", "x=", "=x", "a..b=1", "[0]=1", "name", "name==x", "=" * 10, "...=1", "a.=1",
        ".a=1", "name=" + LONG]
PARALLEL = ["0", "-1", "abc", "", "33", "1", "2", "99999999999999999999", "1.5", " 1", "0x2"]
TARGETS = ["local", "cloud", "cloud-gpu", "local-distributed", "nope", "", " ", "LOCAL",
           "targets", "../local", "local\n", "\u202e", LONG, "-", "--json"]
OPTIONS = ["--bogus", "-z", "--target", "--set", "--name", "--json=1", "--json=", "-", "--",
           "--help", "-h", "--version", "--=", "---", "--target=", "--set=", "-tlocal",
           "--no-such-option=" + LONG]
GCLOUD = ["gcloud", "ai-platform", "ml-engine", "jobs", "submit", "training", "local",
          "train", "--module-name", "trainer.task", "--package-path", "trainer/", "--region",
          "us-central1", "--job-dir", "gs://b/j", "--runtime-version", "2.11", "--config",
          "@DIR", "@FIFO", "@MISSING", "--scale-tier", "BASIC", "--", "--x", "1", "\\",
          "'", '"', "&&", "|", ";", "$(id)", "--distributed", "--worker-count", "-1",
          "--parameter-server-count", "abc", "job_1", "--python-version", "3.7", "--labels",
          "a=b,c", "--stream-logs", "--async", "--master-machine-type", "n1"]
IMPORT_STRINGS = ["", "gcloud", "gcloud ai-platform jobs submit training j --module-name m "
                  "--package-path p", "gcloud ml-engine local train --module-name trainer.task "
                  "--package-path trainer/ -- --x 1", "'", '"', "\\", "gcloud \\\n",
                  "a\x00b".replace("\x00", ""), "gcloud $(rm -rf /)", "gcloud `id`",
                  "gcloud --config=@MISSING jobs submit training x", LONG, "ünï \u202e",
                  "gcloud ai-platform jobs submit training " + "x" * 200]
# Paths: a tiny spec, the census spec, a matrix spec, and things that are not readable specs.
SPEC_PATHS = ["@SPEC", "@CENSUS", "@SWEEP", "@MISSING", "@DIR", "@FIFO", "/dev/null",
              "/dev/zero", "/dev/stdin", "/proc/self/environ", "@EMPTY", "@BINARY",
              "@TRAVERSE", "specs/", "specs/../specs/oops.yaml", "", ".", "-", LONG + ".yaml",
              "ünï.yaml", "a\nb.yaml", "@BADSPEC"]
BROKEN_SPECS = {
    "@EMPTY": b"",
    "@BINARY": b"\xff\xfe\x00\x01\x02version: 1\n",
    "@BADSPEC": b"version: 1\nname: [\n",
}

ENV_HOSTILE: list[dict[str, str | None]] = [
    {"NO_COLOR": "1"}, {"COLUMNS": "0"}, {"COLUMNS": "-5"}, {"COLUMNS": "abc"},
    {"LINES": "0"}, {"TERM": "dumb"}, {"TERM": ""}, {"FORCE_COLOR": "1"},
    {"GOOGLE_CLOUD_PROJECT": ""}, {"GOOGLE_CLOUD_PROJECT": "a\nb"},
    {"CLOUDSDK_CORE_PROJECT": ""}, {"STORAGE_EMULATOR_HOST": "garbage"},
    {"STORAGE_EMULATOR_HOST": ""}, {"STORAGE_EMULATOR_HOST": "http://"},
    {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:notaport"},
    {"CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": "http://127.0.0.1:1/"},
    {"CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": "garbage"},
    {"CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": ""},
    {"CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": "::::"},
    {"CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": "http://127.0.0.1:99999/"},
    {"GOOGLE_APPLICATION_CREDENTIALS": "@DIR"}, {"GOOGLE_APPLICATION_CREDENTIALS": "@FIFO"},
    {"GOOGLE_APPLICATION_CREDENTIALS": "@EMPTY"}, {"GOOGLE_APPLICATION_CREDENTIALS": ""},
    {"HOME": "@MISSING"}, {"HOME": "@FIFO"}, {"HOME": None}, {"PWD": "/nonexistent"},
    {"LANG": "C"}, {"LC_ALL": "C"}, {"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "xx_XX.bogus"},
    {"JOBSPEC_POLL_MIN": "abc"}, {"JOBSPEC_POLL_MAX": "-1"}, {"JOBSPEC_RETRY_BASE": "nan"},
    {"JOBSPEC_RETRY_BASE": "abc"}, {"TMPDIR": "@MISSING"}, {"TMPDIR": "@FIFO"},
    {"JOBSPEC_JOBS": "0"}, {"JOBSPEC_JOBS": "99999999999999999999"}, {"JOBSPEC_JOBS": "-2"},
    {"XDG_CACHE_HOME": "@FIFO"}, {"CLOUDSDK_CONFIG": "@FIFO"}, {"PATH": ""},
]
ENV_NAMES = ["GOOGLE_CLOUD_PROJECT", "JOBSPEC_BUCKET", "HOME", "COLUMNS", "X"]


# What a damaged or hand-edited local run record may hold (.jobspec/runs/broken/STAMP/).
RECORDS = ["{}", "[]", "not json", "", '{"state": null, "start": null}',
           '{"state": "running", "pid": 99999999999999999999}',
           '{"state": "running", "pid": -1}', '{"state": "running", "pid": 0}',
           '{"state": "running", "pid": "1"}', '{"state": {"a": 1}, "exit_code": "x"}',
           '{"state": "succeeded", "exit_code": 0, "start": 5, "end": [1]}', "\xff\xfe",
           '{"state": "' + "x" * 2000 + '"}']
# A misbehaving service: what the loopback stand-in answers (status, body), by request count.
ANSWERS = [(200, b"{}"), (200, b"not json"), (200, b""), (200, b"[]"), (404, b"{}"),
           (403, b'{"error": {"code": 403, "message": "denied"}}'), (400, b"<html>"),
           (200, b'{"items": 5, "kind": null, "name": {"a": 1}}'),
           (409, b'{"error": "conflict"}'), (200, b'{"state": "JOB_STATE_SUCCEEDED"}'),
           (200, b'{"customJobs": [{"name": 7}], "entries": [{"textPayload": 1}]}')]


@dataclass
class Case:
    index: int
    family: str
    argv: list[str]
    env: dict[str, str | None] = field(default_factory=dict)
    record: str = "{}"
    service: str = "dead"  # the cloud endpoints: "dead" (nothing listens) or "garbage"
    full_stdout: bool = False  # stdout is /dev/full: every write fails with ENOSPC


@dataclass
class Result:
    case: Case
    code: int | None
    traceback: bool
    hung: bool
    seconds: float
    out: str
    err: str
    network: list[str]

    @property
    def bad_exit(self) -> bool:
        return not self.hung and self.code not in DOCUMENTED_EXITS

    @property
    def ok(self) -> bool:
        return not (self.traceback or self.hung or self.bad_exit or self.network)


# --- generation -------------------------------------------------------------------------------


def _maybe(rng: random.Random, p: float = 0.5) -> bool:
    return rng.random() < p


VALID_SETS = ["args=[--x, '1']", "name=ok_name", "env.X=1", "env.EMPTY=''",
              "targets.local.job_dir=out/x", "description=ünï \u202e", "args=[]",
              "targets.local.distributed.workers=0"]


def _sets(rng: random.Random) -> list[str]:
    out: list[str] = []
    for _ in range(rng.randrange(1, 4)):
        roll = rng.random()
        out += ["--set", rng.choice(VALID_SETS) if roll < 0.4 else rng.choice(SETS)
                if roll < 0.55 else f"{rng.choice(SET_KEYS)}={rng.choice(SET_VALUES)}"]
    return out


def _spice(rng: random.Random, argv: list[str]) -> list[str]:
    """Sometimes drop, duplicate or insert a token, or cut the last option's value."""
    argv = list(argv)
    how = rng.randrange(6)
    if how == 0 and len(argv) > 1:
        argv.insert(rng.randrange(1, len(argv) + 1), rng.choice(OPTIONS))
    elif how == 1 and len(argv) > 1:
        del argv[rng.randrange(1, len(argv))]
    elif how == 2 and argv:
        argv.append(rng.choice(TEXT))
    elif how == 3:
        cut = [i for i, a in enumerate(argv) if a.startswith("--") and i + 1 < len(argv)]
        if cut:  # an option left without its value
            argv = argv[:rng.choice(cut) + 1]
    return argv


def _spec_or_default(rng: random.Random, good: str = "@SPEC") -> list[str]:
    roll = rng.random()
    if roll < 0.4:
        return [good]
    if roll < 0.5:
        return []  # the default spec: pyproject.toml or jobspec.yaml (absent here)
    return [rng.choice(SPEC_PATHS)]


def gen_validate(rng: random.Random) -> list[str]:
    argv = ["validate"]
    if _maybe(rng, 0.15):  # enough files for validate to fork helpers (checkmany)
        paths = [p for p in SPEC_PATHS if len(p) < 1000] + ["@SPEC"] * 10
        return argv + [rng.choice(paths) for _ in range(60)]
    for _ in range(rng.randrange(0, 4)):
        argv.append(rng.choice(SPEC_PATHS) if _maybe(rng, 0.7) else rng.choice(TEXT))
    return argv


def gen_plan(rng: random.Random) -> list[str]:
    argv = ["plan", *_spec_or_default(rng, rng.choice(["@SPEC", "@CENSUS", "@SWEEP"]))]
    if _maybe(rng, 0.85):
        argv += ["--target", rng.choice(TARGETS) if _maybe(rng, 0.5) else "local"]
    if _maybe(rng, 0.4):
        argv += _sets(rng)
    if _maybe(rng, 0.3):
        argv += ["--name", rng.choice(NAMES)]
    if _maybe(rng, 0.3):
        argv.append("--json")
    if _maybe(rng, 0.15):
        argv.append("--isolated")
    if _maybe(rng, 0.3):
        argv += ["--", *rng.sample(TEXT, rng.randrange(1, 4))]
    return argv


def gen_run(rng: random.Random) -> list[str]:
    argv = ["run", rng.choice(["@SPEC", "@SPEC", "@SWEEP", "@FAILSPEC"]) if _maybe(rng, 0.85)
            else rng.choice(SPEC_PATHS), "--target", "local"]
    if _maybe(rng, 0.3):
        argv += _sets(rng)
    if _maybe(rng, 0.25):
        argv += ["--name", rng.choice(NAMES)]
    if _maybe(rng, 0.25):
        argv += ["--parallel", rng.choice(PARALLEL)]
    if _maybe(rng, 0.1):
        argv.append(rng.choice(["--detach", "--reclaim", "--cancel-on-interrupt"]))
    if _maybe(rng, 0.3):
        argv += ["--", *rng.sample(TEXT, rng.randrange(1, 4))]
    return argv


def gen_cloud(rng: random.Random) -> list[str]:
    """run/plan on a cloud target while every endpoint is a dead loopback port: exit 4 (run)
    or 0/2 (plan), quickly, never a traceback."""
    spec = rng.choice(["@SPEC", "@CENSUS", "@SWEEP"])
    argv = [rng.choice(["run", "run", "plan"]), spec, "--target",
            rng.choice(["cloud", "cloud-gpu"]) if spec == "@CENSUS" else "cloud"]
    if _maybe(rng, 0.5):
        argv += ["--name", rng.choice(NAMES[:4] + ["ok_name"])]
    if _maybe(rng, 0.3):
        argv += _sets(rng)
    if _maybe(rng, 0.3):
        argv.append("--json" if argv[0] == "plan" else
                    rng.choice(["--detach", "--reclaim", "--cancel-on-interrupt"]))
    return argv


def _manage(command: str, rng: random.Random, *, with_name: bool = True) -> list[str]:
    argv = [command]
    if with_name:
        argv.append(rng.choice(NAMES + ["oops", "broken", "broken", "oops"]))
    cloud = _maybe(rng, 0.4)
    if cloud:  # reach the cloud path: a cloud target of a spec that loads
        argv += ["--target", rng.choice(["cloud", "cloud-gpu"]), "--spec",
                 rng.choice(["@SPEC", "@CENSUS", "@CENSUS", rng.choice(SPEC_PATHS)])]
    elif _maybe(rng, 0.5):
        argv += ["--target", rng.choice(TARGETS)]
    if not cloud and _maybe(rng, 0.3):
        argv += ["--spec", rng.choice(SPEC_PATHS)]
    if _maybe(rng, 0.3):
        argv += ["--bucket", rng.choice(TEXT + ["b", "my_bucket", "Bad..Bucket"])]
    return argv


def gen_status(rng: random.Random) -> list[str]:
    return _manage("status", rng) + (["--json"] if _maybe(rng, 0.3) else [])


def gen_logs(rng: random.Random) -> list[str]:
    # --follow only where it cannot wait on a job that is still running: none of ours is
    return _manage("logs", rng) + (["--follow"] if _maybe(rng, 0.2) else [])


def gen_list(rng: random.Random) -> list[str]:
    return _manage("list", rng, with_name=False) + (["--json"] if _maybe(rng, 0.3) else [])


def gen_cancel(rng: random.Random) -> list[str]:
    return _manage("cancel", rng)


def gen_schema(rng: random.Random) -> list[str]:
    return ["schema", *([rng.choice(OPTIONS + TEXT)] if _maybe(rng, 0.5) else [])]


def gen_runtimes(rng: random.Random) -> list[str]:
    return ["runtimes", *([rng.choice(OPTIONS + TEXT)] if _maybe(rng, 0.5) else [])]


def gen_import(rng: random.Random) -> list[str]:
    argv = ["import"]
    how = rng.randrange(4)
    if how == 0:
        argv += ["--string", rng.choice(IMPORT_STRINGS + TEXT)]
    elif how == 1:
        # not a FIFO: --file reads one on purpose (`--file <(...)`), and waits for its writer
        argv += ["--file", rng.choice(["@GCLOUDFILE", "@MISSING", "@DIR", "-",
                                       "/dev/null", "/dev/zero", "@BINARY", "@EMPTY", "",
                                       "/proc/self/environ"])]
    elif how == 2:
        start = (["gcloud", "ai-platform", rng.choice(["local", "jobs"])] if _maybe(rng) else [])
        start += ["train"] if start[-1:] == ["local"] else ["submit", "training"] if start else []
        start += ["--module-name", "trainer.task", "--package-path", "trainer/"] if start else []
        argv += ["--", *start, *[rng.choice(GCLOUD) for _ in range(rng.randrange(0, 8))]]
    else:
        argv += ["--string", rng.choice(IMPORT_STRINGS), "--file", "@GCLOUDFILE"]
    if _maybe(rng, 0.3):
        argv += ["-o", rng.choice(["@OUTFILE", "@DIR", "@FIFO", "@MISSINGDIR/x.yaml", "",
                                   "@SPEC", "/dev/full", "-"])]
    if _maybe(rng, 0.3):
        argv += ["--name", rng.choice(NAMES)]
    if _maybe(rng, 0.2):
        argv.append("--force")
    return argv


def gen_init(rng: random.Random) -> list[str]:
    argv = ["init", "--dir", rng.choice(["@INITDIR"] * 6 + ["@FIFO", "@SPEC", "/dev/null",
                                                          "@MISSINGDIR/deep/er", ""])]
    for option, values in (("--name", NAMES), ("--package-path", TEXT + ["trainer", "pkg"]),
                           ("--module", TEXT + ["pkg.task", "a..b", "1x"]),
                           ("--bucket", TEXT + ["b"]), ("--region", TEXT),
                           ("--executor-image", TEXT), ("--runtime-version", TEXT + ["2.11"])):
        if _maybe(rng, 0.25):
            argv += [option, rng.choice(values)]
    if _maybe(rng, 0.3):
        argv.append("--force")
    return argv


def gen_toplevel(rng: random.Random) -> list[str]:
    return rng.choice([[], ["--bogus"], ["nope"], ["--version"], ["-h"], ["--help", "x"],
                       [rng.choice(TEXT)], ["validate", "--help"], ["--", "run"],
                       ["run", "--", "--target", "local"], ["\u202e"], [LONG]])


FAMILIES: dict[str, Callable[[random.Random], list[str]]] = {
    "validate": gen_validate, "plan": gen_plan, "run": gen_run, "cloud": gen_cloud,
    "status": gen_status, "logs": gen_logs, "list": gen_list, "cancel": gen_cancel,
    "schema": gen_schema, "runtimes": gen_runtimes, "import": gen_import, "init": gen_init,
    "toplevel": gen_toplevel,
}


def reaches_cloud(case: Case) -> bool:
    """Whether the case talks to the cloud endpoints (status/logs/list/cancel of a cloud target,
    or with --bucket; run on a cloud target)."""
    argv = case.argv
    targets = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--target", "-t")}
    if case.family in ("cancel", "cloud"):
        return True
    if case.family in ("status", "logs", "list"):
        return "--bucket" in argv or bool(targets - {"local"})
    return argv[:1] == ["run"] and bool(targets & {"cloud", "cloud-gpu"})


def known_open(case: Case) -> str | None:
    """The open defect (and its owner) a case runs into, for inputs still known to fail."""
    if reaches_cloud(case) and case.service == "dead":
        return ("nothing listening at the endpoints: exit 4 only after the 60 s storage "
                "deadline, past the 20 s bound (cloudsvc)")
    return None


def guard_cases(seed: int, count: int, families: list[str]) -> list[Case]:
    """COUNT cases of no known open defect, the families taken in turn; cloud cases talk to
    the garbage stand-in (a dead endpoint takes a minute to give up)."""
    cases: list[Case] = []
    index = 0
    while len(cases) < count:
        case = make_case(seed, index, [families[len(cases) % len(families)]])
        case.service = "garbage"
        if known_open(case) is None:
            cases.append(case)
        index += 1
    return cases


def make_case(seed: int, index: int, families: list[str] | None = None) -> Case:
    rng = random.Random(f"{seed}:{index}")
    family = rng.choice(families or sorted(FAMILIES))
    argv = FAMILIES[family](rng)
    if _maybe(rng, 0.2):
        argv = _spice(rng, argv)
    env: dict[str, str | None] = {}
    if _maybe(rng, 0.35):
        for _ in range(rng.randrange(1, 3)):
            env.update(rng.choice(ENV_HOSTILE))
    if _maybe(rng, 0.05):
        env[rng.choice(ENV_NAMES)] = rng.choice(TEXT)
    return Case(index, family, argv, env, record=rng.choice(RECORDS),
                service="garbage" if _maybe(rng, 0.5) else "dead",
                full_stdout=_maybe(rng, 0.04))


# --- running ----------------------------------------------------------------------------------

SWEEP_SPEC = """version: 1
name: sweep
trainer: {package_path: ../trainer, module: trainer.oops}
matrix:
  lr: [0.1, 0.2]
args:
  - --lr=${matrix.lr}
targets:
  local: {}
"""
STAMP = "20260101T000000.000000Z"
GOOD_RECORD = ('{"name": "oops", "target": "local", "state": "succeeded", "exit_code": 0, '
               '"start": "2026-01-01T00:00:00.000Z", "end": "2026-01-01T00:00:01.000Z"}')
SWEEP_CLOUD = """  cloud:
    bucket: fuzz_bucket
    executor_image: us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest
"""
FAIL_SPEC = """version: 1
name: fails
trainer: {package_path: ../trainer, module: trainer.nosuchmodule}
targets:
  local: {}
"""
GCLOUD_FILE = ("gcloud ai-platform jobs submit training census_1 \\\n  --module-name trainer.task"
               " --package-path trainer/ \\\n  --region us-central1 --runtime-version 2.11 \\\n"
               "  --job-dir gs://b/census_1 -- --train-steps 10\n")


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Garbage(BaseHTTPRequestHandler):
    """Answers every request with the next of ANSWERS: a service that misbehaves."""

    count = 0
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, body = ANSWERS[_Garbage.count % len(ANSWERS)]
        _Garbage.count += 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


class Sandbox:
    """One folder for the whole run: the network guard, and per case a fresh project."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.guard = root / "guard"
        self.guard.mkdir()
        shutil.copyfile(REPO / "tests" / "standins" / "netguard.py",
                        self.guard / "_jobspec_netguard.py")
        (self.guard / "sitecustomize.py").write_text(
            "import _jobspec_netguard\n_jobspec_netguard.install()\n", encoding="utf-8")
        self.guard_log = root / "network-attempts.log"
        self.garbage = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
        self.garbage.daemon_threads = True
        threading.Thread(target=self.garbage.serve_forever, daemon=True).start()
        port = _dead_port()
        self.base_env = {k: v for k, v in os.environ.items()
                         if not k.startswith(("GOOGLE_", "CLOUDSDK_", "JOBSPEC_", "GCE_"))
                         and k not in ("STORAGE_EMULATOR_HOST", "PYTHONPATH", "NO_COLOR",
                                       "FORCE_COLOR", "COLUMNS", "LINES")}
        self.base_env.update({
            "PYTHONPATH": os.pathsep.join([str(self.guard), str(REPO)]),
            "JOBSPEC_NETGUARD_LOG": str(self.guard_log),
            "NO_GCE_CHECK": "True", "GCE_METADATA_HOST": f"127.0.0.1:{port}",
            "GCE_METADATA_IP": f"127.0.0.1:{port}", "GOOGLE_CLOUD_PROJECT": "fuzz-project",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": f"http://127.0.0.1:{port}/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": f"http://127.0.0.1:{port}/",
            "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })

    def project(self, index: int, record: str) -> tuple[Path, dict[str, str]]:
        case_dir = self.root / f"case{index}"
        proj = case_dir / "proj"
        shutil.copytree(REPO / "specs", proj / "specs")
        shutil.copytree(REPO / "trainer", proj / "trainer",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (proj / "pyproject.toml").write_text("[tool.fuzz]\n", encoding="utf-8")
        (proj / "specs" / "sweep.yaml").write_text(SWEEP_SPEC + SWEEP_CLOUD, encoding="utf-8")
        (proj / "specs" / "fails.yaml").write_text(FAIL_SPEC, encoding="utf-8")
        for token, data in BROKEN_SPECS.items():
            (proj / f"{token[1:].lower()}.yaml").write_bytes(data)
        (proj / "gcloud.txt").write_text(GCLOUD_FILE, encoding="utf-8")
        (proj / "adir.yaml").mkdir()
        os.mkfifo(proj / "fifo.yaml")
        home = case_dir / "home"
        home.mkdir()
        runs = proj / ".jobspec" / "runs"
        for name, status in (("oops", GOOD_RECORD), ("broken", record)):
            (runs / name / STAMP).mkdir(parents=True)
            (runs / name / STAMP / "status.json").write_text(status, encoding="utf-8")
            (runs / name / STAMP / "plan.json").write_text("{}", encoding="utf-8")
            (runs / name / STAMP / "log").write_text("line 1\nline 2\n", encoding="utf-8")
        places = {
            "@SPEC": "specs/oops.yaml", "@CENSUS": "specs/census.yaml",
            "@SWEEP": "specs/sweep.yaml", "@FAILSPEC": "specs/fails.yaml",
            "@MISSING": str(case_dir / "missing.yaml"), "@DIR": "adir.yaml",
            "@FIFO": str(proj / "fifo.yaml"), "@TRAVERSE": "../../../../../../etc/passwd",
            "@GCLOUDFILE": "gcloud.txt", "@OUTFILE": "out/imported.yaml",
            "@MISSINGDIR": str(case_dir / "no" / "such"), "@INITDIR": str(case_dir / "init"),
            "@RAN": "oops", "@HOME": str(home),
            **{token: f"{token[1:].lower()}.yaml" for token in BROKEN_SPECS},
        }
        return proj, places

    def run(self, case: Case, timeout: float) -> Result:
        proj, places = self.project(case.index, case.record)
        argv = [_fill(a, places) for a in case.argv]
        env = dict(self.base_env, HOME=places["@HOME"])
        if case.service == "garbage":
            url = f"http://127.0.0.1:{self.garbage.server_address[1]}"
            env.update({"STORAGE_EMULATOR_HOST": url,
                        "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": url + "/",
                        "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": url + "/"})
        for key, value in case.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = _fill(value, places)
        before = _lines(self.guard_log)
        start = time.monotonic()
        stdout = open("/dev/full", "wb") if case.full_stdout else subprocess.PIPE  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "jobspec", *argv], cwd=proj, env=env,
                                stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=subprocess.PIPE, start_new_session=True)
        if case.full_stdout:
            stdout.close()
        hung = False
        try:
            out_b, err_b = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            hung = True
            os.killpg(proc.pid, signal.SIGKILL)  # the process group: jobspec and its trainers
            out_b, err_b = proc.communicate()
        seconds = time.monotonic() - start
        out = (out_b or b"").decode("utf-8", "replace")
        err = err_b.decode("utf-8", "replace")
        mine = [line.split(" ", 1)[1] for line in _lines(self.guard_log)[len(before):]]
        shutil.rmtree(proj.parent, ignore_errors=True)
        return Result(case, None if hung else proc.returncode,
                      "Traceback (most recent call last)" in out + err, hung, seconds, out, err,
                      mine)


def _fill(text: str, places: dict[str, str]) -> str:
    for token in sorted(places, key=len, reverse=True):
        text = text.replace(token, places[token])
    return text


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def short(text: str) -> str:
    """repr of a value, a 100 KB string as 'x' * 100000."""
    if text == LONG:
        return "'x' * 100000"
    if len(text) > 300:
        return repr(text[:60]) + f" + ... ({len(text)} chars)"
    return repr(text)


def reproducer(case: Case) -> str:
    env = " ".join(f"{k}={'<unset>' if v is None else short(v)}" for k, v in case.env.items())
    args = " ".join(short(a) for a in case.argv)
    extra = f" (record {case.record[:60]!r})" if "broken" in case.argv else ""
    service = " [garbage service]" if case.service == "garbage" else ""
    service += " [stdout /dev/full]" if case.full_stdout else ""
    return f"[{case.family}]{service} {env + ' ' if env else ''}jobspec {args}{extra}"


def describe(result: Result) -> str:
    what = []
    if result.traceback:
        what.append("traceback")
    if result.hung:
        what.append(f"hang (> {result.seconds:.0f} s)")
    if result.bad_exit:
        what.append(f"exit {result.code}")
    if result.network:
        what.append("network: " + ", ".join(sorted(set(result.network))))
    tail = [line for line in (result.err or result.out).strip().splitlines() if line][-1:]
    return (f"case {result.case.index}: {'; '.join(what)}\n  {reproducer(result.case)}\n"
            f"  last line: {short(tail[0]) if tail else '(none)'}")


def run_cases(cases: list[Case], *, jobs: int, timeout: float,
              on_result: Callable[[Result], None] | None = None) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as tmp:
        sandbox = Sandbox(Path(tmp))
        try:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                results = []
                for result in pool.map(lambda c: sandbox.run(c, timeout), cases):
                    results.append(result)
                    if on_result:
                        on_result(result)
        finally:
            sandbox.garbage.shutdown()
            sandbox.garbage.server_close()
    return results


def summary(results: list[Result]) -> str:
    return (f"cases: {len(results)}, ok: {sum(r.ok for r in results)}, "
            f"tracebacks: {sum(r.traceback for r in results)}, "
            f"hangs: {sum(r.hung for r in results)}, "
            f"bad exit codes: {sum(r.bad_exit for r in results)}, "
            f"network attempts: {sum(bool(r.network) for r in results)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="cases at a time (default 2)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a hang")
    parser.add_argument("--family", action="append", choices=sorted(FAMILIES),
                        help="only these commands (repeatable)")
    parser.add_argument("--service", choices=["dead", "garbage"],
                        help="every case's cloud endpoints: nothing listening, or garbage")
    parser.add_argument("--only", type=int, action="append", help="replay case N")
    parser.add_argument("--show", action="store_true", help="print each case's output")
    opts = parser.parse_args()
    indexes = opts.only or range(opts.cases)
    cases = [make_case(opts.seed, i, opts.family) for i in indexes]
    for case in cases if opts.service else ():
        case.service = opts.service

    def show(result: Result) -> None:
        if not result.ok and not opts.show:
            print(describe(result), flush=True)  # as it happens: a long run shows progress
        if opts.show:
            print(f"--- case {result.case.index} exit {result.code} "
                  f"({result.seconds:.1f} s)\n{reproducer(result.case)}\n"
                  f"stdout: {result.out[-2000:]}\nstderr: {result.err[-4000:]}")

    started = time.monotonic()
    results = run_cases(cases, jobs=opts.jobs, timeout=opts.timeout, on_result=show)
    failures = [r for r in results if not r.ok]
    known = Counter(known_open(r.case) for r in failures)
    for what, count in known.items():
        print(f"{count} failure(s): " + (what or "not a known open defect"))
    codes: dict[str, Counter[int | None]] = {}
    for result in results:
        codes.setdefault(result.case.family, Counter())[result.code] += 1
    print("exit codes by command: " + "; ".join(
        f"{family} " + " ".join(f"{'hang' if c is None else c}:{n}" for c, n in
                                sorted(counts.items(), key=lambda i: -1 if i[0] is None else i[0]))
        for family, counts in sorted(codes.items())))
    by_family = Counter(r.case.family for r in failures)
    if by_family:
        print("failures by command: " + ", ".join(f"{k} {v}" for k, v in by_family.items()))
    print(f"seed {opts.seed}, {time.monotonic() - started:.0f} s")
    print(summary(results))
    print("placeholders: @SPEC specs/oops.yaml, @CENSUS specs/census.yaml, @SWEEP a matrix of "
          "trainer.oops, @FAILSPEC a missing module, @DIR a folder, @FIFO a named pipe, "
          "@MISSING a path that does not exist, @INITDIR a fresh folder, @GCLOUDFILE a gcloud "
          "command in a file; cwd is the project, HOME an empty folder")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
