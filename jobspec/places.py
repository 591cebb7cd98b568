"""Where this project keeps its jobs: the folder of its local records, the buckets of its spec's
cloud targets, and the follow-up commands jobspec prints, spelled so that they find a job when
typed verbatim in the same folder. Below the cloud modules, which print those commands;
`jobspec.whereis` (the search itself) is above them."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from jobspec.errors import JobspecError


@dataclass(frozen=True)
class Place:
    """A bucket where cloud jobs of this project are claimed, and the target that names it."""

    bucket: str
    target: str
    spec: Path


def project_root(spec: str | None) -> Path:
    from jobspec.project import find_root

    start = Path(spec).parent if spec else Path.cwd()
    return find_root(start) or Path.cwd()


def shown(path: Path) -> str:
    from jobspec.diagnostics import display_path

    return display_path(str(path))


def has_local(name: str, root: Path) -> bool:
    from jobspec.records import StateDir

    state = StateDir(root)
    return (bool(state.records().runs(name)) or state.group_file(name).is_file()
            or state.study_file(name).is_file())


def _specs(spec: str | None) -> tuple[list[Path], list[str]]:
    """The spec files whose cloud targets say where to look: --spec, and the default spec."""
    from jobspec.project import default_spec

    paths = [Path(spec)] if spec else []
    try:
        default = default_spec(Path.cwd())
    except JobspecError:
        return paths, ([] if paths else ["no spec to read cloud buckets from (no SPEC, no "
                                         "[tool.jobspec] default-spec, no ./jobspec.yaml)"])
    if not paths or default.resolve() != paths[0].resolve():
        paths.append(default)
    return paths, []


def cloud_places(spec: str | None) -> tuple[list[Place], list[str]]:
    """Buckets of the cloud targets of the spec(s), and why a spec gave none."""
    from jobspec.loader import load

    paths, notes = _specs(spec)
    places: dict[str, Place] = {}
    for path in paths:
        try:
            loaded = load(path)
        except JobspecError as exc:
            first = exc.render().splitlines()[0] if exc.render() else type(exc).__name__
            notes.append(f"{shown(path)} could not be read ({first})")
            continue
        clouds = [(n, t) for n, t in loaded.spec.targets.items() if t.kind == "cloud"]
        if not clouds:
            notes.append(f"{shown(path)} has no cloud target")
        for target, body in clouds:
            places.setdefault(str(body.bucket), Place(str(body.bucket), target, path))
    return list(places.values()), notes


def followup(verb: str, name: str, bucket: str, *more: str) -> str:
    """`jobspec VERB NAME ...` for a cloud job in BUCKET, as it must be typed here to find it:
    plain when the search without --target lands on it (no local run of that name, and BUCKET
    is a cloud target's bucket of this folder's default spec), else with --bucket."""
    words = ["jobspec", verb, name, *more]
    try:
        plain = not has_local(name, project_root(None)) and any(
            p.bucket == bucket for p in cloud_places(None)[0])
    except JobspecError:
        plain = False
    if not plain:
        words += ["--bucket", bucket]
    return shlex.join(words)
