"""`jobspec init`: a new job file, plus a trainer package and the schema when they are missing.

Layout, relative to the project folder (``--dir``): ``specs/NAME.yaml``; the trainer package at
``--package-path`` (created only when it has no ``__init__.py``); ``jobspec.schema.json``
(written only when missing, so the spec's ``$schema`` comment always points at a file that
exists). Nothing is written until every value is checked and no file would be overwritten
without ``--force``; an existing trainer package is never touched, even with ``--force``.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jobspec.errors import UsageError
from jobspec.spec import (
    VERSION_RE,
    BucketName,
    JobName,
    ModuleName,
    Region,
    json_schema,
    problem,
)
from jobspec.states import DEFAULT_REGION

SCHEMA_FILE = "jobspec.schema.json"
# The image a scaffolded cloud target runs on, as the example specs do: Docker Hub's official
# Python image (python3 and pip, all the container launcher needs; `jobspec runtimes` cites it).
DEFAULT_IMAGE = "python:3.11-slim"
# Read at run time, so a scaffolded spec is valid before anyone has picked a bucket.
BUCKET_PLACEHOLDER = "${JOBSPEC_BUCKET:-my-jobspec-bucket}"

Prompt = Callable[..., Any]  # click.prompt's signature


@dataclass(frozen=True)
class Choices:
    """What the user asked for; None means "ask, or take the default"."""

    directory: Path
    name: str | None = None
    package_path: str | None = None
    module: str | None = None
    bucket: str | None = None
    region: str | None = None
    executor_image: str | None = None
    runtime_version: str | None = None
    force: bool = False


@dataclass
class Report:
    written: list[Path] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    spec: Path | None = None

    def text(self, root: Path) -> str:
        lines = [f"wrote {_shown(p, root)}" for p in self.written]
        lines += [f"kept {what}" for what in self.kept]
        if self.spec is not None:
            lines += ["next:", *(f"  {command}" for command in self.next_commands())]
        return "\n".join(lines)

    def next_commands(self) -> list[str]:
        """Commands to type here: the spec's path from this folder."""
        if self.spec is None:
            return []
        spec = shlex.quote(os.path.relpath(self.spec))
        return [f"jobspec validate {spec}", f"jobspec run {spec} --target local"]

    def data(self, root: Path) -> dict[str, Any]:
        """`jobspec init --json`."""
        return {"written": [_shown(p, root) for p in self.written], "kept": list(self.kept),
                "warnings": list(self.warnings),
                "spec": os.path.relpath(self.spec) if self.spec is not None else None,
                "next": self.next_commands()}


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


# --- checks: each returns the value to use or raises ValueError with the reason -------------


def check_name(value: str) -> str:
    if problem(JobName, value) is not None:
        raise ValueError(f"job name {value!r}: expected a letter, then letters, digits or "
                         "underscores, at most 128 characters")
    return value


def check_package_path(value: str) -> str:
    path = value.strip().replace("\\", "/").rstrip("/")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or path.startswith("/") or ".." in parts:
        raise ValueError(f"package path {value!r}: expected a folder inside the project, "
                         "like trainer or src/trainer")
    # what `python -m PACKAGE.task` and the module check accept: ASCII, and not a keyword
    if problem(ModuleName, parts[-1]) is not None or keyword.iskeyword(parts[-1]):
        raise ValueError(f"package path {value!r}: {parts[-1]!r} is not a Python package name")
    return "/".join(parts)


def check_module(value: str, package: str) -> str:
    if problem(ModuleName, value) is not None:
        raise ValueError(f"module {value!r}: expected a dotted module name like trainer.task")
    if not value.startswith(package + "."):
        # the trainer runs as `python -m MODULE` from the package's parent folder
        raise ValueError(f"module {value!r} is not in package {package!r}: "
                         f"expected {package}.SOMETHING")
    return value


def check_bucket(value: str) -> str:
    """A bucket name; empty keeps the placeholder read from $JOBSPEC_BUCKET at run time."""
    bucket = value.strip().removeprefix("gs://").rstrip("/")
    if not bucket:
        return ""
    found = problem(BucketName, bucket)
    if found is not None:
        raise ValueError(f"bucket {value!r}: {found.partition('bucket name: ')[2] or found}")
    return bucket


def check_region(value: str) -> str:
    if problem(Region, value) is not None:
        raise ValueError(f"region {value!r}: expected a region like us-central1")
    return value


def check_image(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"executor image {value!r}: expected a container image URI")
    return value


def check_runtime(value: str) -> str:
    if not VERSION_RE.fullmatch(value):
        raise ValueError(f'runtime version {value!r}: expected "X.Y", like 2.17')
    return value


def default_name(directory: Path) -> str:
    """The project folder's name, made into a job name."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", directory.resolve().name).lstrip("_0123456789")
    return cleaned[:128] or "my_job"


# --- answers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answers:
    name: str
    package_path: str
    module: str
    bucket: str
    region: str
    executor_image: str | None
    runtime_version: str | None
    image_key: str = "image"  # "executor_image": a Google prebuilt image (pythonPackageSpec)


def _value(given: str | None, check: Callable[[str], str], default: str, question: str,
           prompt: Prompt | None) -> str:
    if given is not None or prompt is None:
        try:
            return check(default if given is None else given)
        except ValueError as exc:  # a default can fail too: one made from a bad --dir name
            raise UsageError(str(exc)) from None

    def proc(text: str) -> str:
        import click

        try:
            return check(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None  # click asks again

    return str(prompt(question, default=default, value_proc=proc))


def _answers(choices: Choices, prompt: Prompt | None) -> _Answers:
    if choices.executor_image is not None and choices.runtime_version is not None:
        raise UsageError("give --executor-image or --runtime-version, not both")
    name = _value(choices.name, check_name, default_name(choices.directory), "Job name", prompt)
    package_path = _value(choices.package_path, check_package_path, "trainer",
                          "Trainer package folder", prompt)
    package = package_path.rsplit("/", 1)[-1]
    module = _value(choices.module, lambda m: check_module(m, package), f"{package}.task",
                    "Module to run (python -m)", prompt)
    bucket = _value(choices.bucket, check_bucket, "",
                    "Cloud Storage bucket (empty: $JOBSPEC_BUCKET at run time)", prompt)
    region = _value(choices.region, check_region, DEFAULT_REGION, "Vertex AI region", prompt)
    runtime = choices.runtime_version
    image: str | None = None
    key = "image"
    if runtime is not None:
        runtime = _value(runtime, check_runtime, "", "", None)
    else:
        image = _value(choices.executor_image, check_image, DEFAULT_IMAGE,
                       "Training image (any image with python3 and pip)", prompt)
        if choices.executor_image is not None or "/vertex-ai/training/" in image:
            key = "executor_image"
    return _Answers(name, package_path, module, bucket, region, image, runtime, key)


# --- files -------------------------------------------------------------------------------


# words YAML 1.1 (PyYAML) reads as booleans or null when plain
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}


def _scalar(value: str) -> str:
    """VALUE as a YAML scalar: plain when that reads back as the same string, else quoted."""
    if re.fullmatch(r"[A-Za-z._/][A-Za-z0-9_./:@-]*", value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)


def _noted(line: str, note: str) -> str:
    return f"{line:<34} # {note}"


def spec_text(a: _Answers, *, schema_ref: str, package_ref: str, new_trainer: bool) -> str:
    spec = f"specs/{a.name}.yaml"
    if a.runtime_version is not None:
        image = [_noted("    # or executor_image: IMAGE_URI", "see `jobspec runtimes`"),
                 f"    runtime_version: {json.dumps(a.runtime_version)}"]
    else:
        image = [_noted('    # or runtime_version: "X.Y"', "see `jobspec runtimes`"),
                 f"    {a.image_key}: {_scalar(a.executor_image or '')}"]
    if new_trainer:
        args = [_noted("args:", "the trainer's own arguments"),
                "  - --steps=200", "  - --learning-rate=0.1"]
    else:
        args = [_noted("args: []", "the trainer's own arguments")]
    bucket = _scalar(a.bucket) if a.bucket else BUCKET_PLACEHOLDER
    lines = [
        f"# yaml-language-server: $schema={schema_ref}",
        "# Made by `jobspec init`. Try it:",
        f"#   jobspec validate {spec}",
        f"#   jobspec run {spec} --target local",
        f"#   GOOGLE_CLOUD_PROJECT=my-project jobspec plan {spec} --target cloud",
        "version: 1",
        f"name: {_scalar(a.name)}",
        "description: scaffolded by jobspec init",
        "trainer:",
        _noted(f"  package_path: {_scalar(package_ref)}", "relative to this file"),
        f"  module: {a.module}",
        _noted("  requirements: []", "pip requirements installed with the package"),
        *args,
        "env: {}",
        "targets:",
        "  local:",
        _noted("    job_dir: output/${name}", "from the package's parent folder"),
        "  cloud:",
        _noted("    # project: my-gcp-project", "else $GOOGLE_CLOUD_PROJECT"),
        _noted(f"    bucket: {bucket}", "without gs://") if a.bucket else
        _noted(f"    bucket: {bucket}", "set JOBSPEC_BUCKET, or write the name"),
        f"    region: {a.region}",
        *image,
        "    scale_tier: BASIC",
        "    job_dir: gs://${bucket}/${name}",
    ]
    return "\n".join(lines) + "\n"


INIT_TEXT = '"""The training package run by jobspec."""\n'

TRAINER_TEXT = '''\
"""A tiny trainer made by `jobspec init`: replace the model, keep the interface.

It fits y = 3x + 1 by gradient descent in plain Python and writes what it learned to
JOB_DIR/model.json. jobspec, like gcloud, appends --job-dir JOB_DIR to the spec's args.
"""

from __future__ import annotations

import argparse
import json
import keyword
import os
import random


def local_path(job_dir: str) -> str:
    """Vertex AI custom training mounts Cloud Storage buckets under /gcs/ (Cloud Storage FUSE)."""
    if job_dir.startswith("gs://"):
        return "/gcs/" + job_dir[len("gs://"):]
    return job_dir


def train(steps: int, learning_rate: float, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    xs = [rng.uniform(-1.0, 1.0) for _ in range(64)]
    ys = [3.0 * x + 1.0 for x in xs]
    w = b = 0.0
    for _ in range(steps):
        errors = [w * x + b - y for x, y in zip(xs, ys)]
        w -= learning_rate * 2.0 * sum(e * x for e, x in zip(errors, xs)) / len(xs)
        b -= learning_rate * 2.0 * sum(errors) / len(xs)
    loss = sum((w * x + b - y) ** 2 for x, y in zip(xs, ys)) / len(xs)
    return {"w": w, "b": b, "loss": loss}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fit y = 3x + 1; write JOB_DIR/model.json.")
    parser.add_argument("--job-dir", default="output", help="where model.json goes")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = train(args.steps, args.learning_rate, args.seed)
    out = local_path(args.job_dir)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "model.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"steps": args.steps, **result}, fh, indent=2)
    print(f"steps={args.steps} w={result['w']:.4f} b={result['b']:.4f} "
          f"loss={result['loss']:.6f} -> {path}")


if __name__ == "__main__":
    main()
'''


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def _trainer_files(package_dir: Path, module: str) -> dict[Path, str]:
    """__init__.py files down to the module, and the module itself."""
    parts = module.split(".")[1:]
    files = {package_dir / "__init__.py": INIT_TEXT}
    folder = package_dir
    for part in parts[:-1]:
        folder = folder / part
        files[folder / "__init__.py"] = INIT_TEXT
    files[folder / f"{parts[-1]}.py"] = TRAINER_TEXT
    return files


def _module_file(package_dir: Path, module: str) -> Path | None:
    """Where MODULE lives in an existing package, or None if it is not there."""
    rest = module.split(".")[1:]
    for candidate in (package_dir.joinpath(*rest).with_suffix(".py"),
                      package_dir.joinpath(*rest, "__main__.py")):
        if candidate.is_file():
            return candidate
    return None


def _image_warnings(a: _Answers, root: Path, today: date) -> list[str]:
    """The runtime policy's verdict now, instead of at the first `plan`; raises if unusable."""
    from jobspec.project import settings
    from jobspec.runtimes import resolve

    container = a.image_key == "image"
    resolved = resolve(runtime_version=a.runtime_version,
                       executor_image=None if container else a.executor_image,
                       image=a.executor_image if container else None,
                       region=a.region, gpu=False, today=today,
                       extra=settings(root).runtimes)
    return list(resolved.warnings)


def init_project(choices: Choices, *, prompt: Prompt | None, today: date) -> Report:
    """Ask for what is missing (when PROMPT is given), check it all, then write the files."""
    root = choices.directory
    a = _answers(choices, prompt)
    report = Report()
    try:
        if root.exists() and not root.is_dir():
            raise UsageError(f"--dir {str(root)!r} is not a folder")
        return _write_project(choices, a, report, today)
    except OSError as exc:  # a name too long, a read-only or full disk, a file in the way
        where = exc.filename if exc.filename is not None else root
        wrote = ", ".join(_shown(p, root) for p in report.written)
        raise UsageError(f"cannot write {str(where)!r}: {exc.strerror or exc}",
                         hint=f"already written: {wrote}" if wrote else None) from None


def _write_project(choices: Choices, a: _Answers, report: Report, today: date) -> Report:
    root = choices.directory
    report.warnings = _image_warnings(a, root, today)
    specs_dir = root / "specs"
    spec_path = specs_dir / f"{a.name}.yaml"
    package_dir = root / a.package_path
    schema_path = root / SCHEMA_FILE
    new_trainer = not (package_dir / "__init__.py").is_file()

    files: dict[Path, str] = {}
    if not schema_path.exists():
        files[schema_path] = json.dumps(json_schema(), indent=2) + "\n"
    else:
        report.kept.append(f"{SCHEMA_FILE} (regenerate: jobspec schema > {SCHEMA_FILE})")
    if new_trainer:
        files.update(_trainer_files(package_dir, a.module))
    else:
        report.kept.append(f"{a.package_path}/ (existing package, not modified)")
        if _module_file(package_dir, a.module) is None:
            report.warnings.append(f"module {a.module} was not found in the existing package "
                                   f"{a.package_path}/; create it before running the job")
    files[spec_path] = spec_text(a, schema_ref=_relative(schema_path, specs_dir),
                                 package_ref=_relative(package_dir, specs_dir),
                                 new_trainer=new_trainer)

    existing = [p for p in files if p.exists()]
    if existing and not choices.force:
        shown = ", ".join(_shown(p, root) for p in existing)
        raise UsageError(f"refusing to overwrite {shown}", hint="pass --force to replace")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        report.written.append(path)
    report.spec = spec_path
    return report
