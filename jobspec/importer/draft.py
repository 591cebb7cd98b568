"""What an import has found so far, and the mappings both gcloud families share."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobspec import runtimes
from jobspec.errors import UsageError
from jobspec.importer.words import Word, escape, has_ref, literal, refs
from jobspec.spec import JobName, problem

# variable names people give the job id; `gs://$BUCKET/$JOB_NAME` then means `${name}`
_JOB_VARS = {"JOB_NAME", "JOB_ID", "JOB", "JOBNAME", "JOBID"}
_GS = re.compile(r"gs://([^/]+)(?:/(.*))?", re.S)


@dataclass
class PoolDraft:
    machine_type: str | None = None
    count: int | None = None
    accelerator: dict[str, Any] | None = None
    # what only a config file sets per pool, as the spec's pool keys: tpu_topology, boot_disk,
    # reservation (jobspec/joboptions.py MachinePool)
    options: dict[str, Any] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.machine_type is not None:
            out["machine_type"] = self.machine_type
        if self.count is not None:
            out["count"] = self.count
        if self.accelerator is not None:
            out["accelerator"] = self.accelerator
        out.update(self.options)
        return out


@dataclass
class PoolSpec:
    """One worker pool as a custom job gives it: the keys of --worker-pool-spec, or a config's
    workerPoolSpec as those keys plus what only a config says (its command, args, env and
    machine options). None: not given."""

    keys: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:  # `{}`: a pool that keeps the next one's position
        return not (self.keys or self.options) and (self.command, self.args, self.env) == (
            None, None, None)


@dataclass
class Draft:
    command: str  # e.g. "gcloud ml-engine jobs submit training"
    kind: str  # "local" | "cloud"
    cwd: Path
    job_id: Word | None = None  # the gcloud job id / display name, as written
    module: str | None = None
    package: str | None = None  # spec text of the package folder, as gcloud was given it
    package_is_workdir: bool = False  # custom jobs: local-package-path holds the package
    requirements: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)
    pools: list[PoolDraft | None] = field(default_factory=list)  # chief, workers, ps, evaluators
    tier: str | None = None
    job_dir: str | None = None
    staging_bucket: str | None = None
    package_uris: list[tuple[str, str]] = field(default_factory=list)  # (uri, where given)
    image_comment: str | None = None
    tuning: dict[str, Any] | None = None  # the spec's tuning block (jobspec/importer/tuning.py)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def unsupported(self, what: str, why: str) -> None:
        self.warnings.append(f"{what} is not supported: {why}")

    def ignored(self, what: str, why: str) -> None:
        self.notes.append(f"{what} is ignored: {why}")


# --- values --------------------------------------------------------------------------------


def bucket_of(text: str, flag: str) -> str:
    """`gs://b`, `gs://b/` or `b` → `b` (spec text)."""
    value = text.removeprefix("gs://").rstrip("/")
    if "/" in value or not value:
        raise UsageError(f"{flag} expects a bucket like gs://my-bucket, got {text!r}")
    return value


def enum_name(text: str) -> str:
    """gcloud's choice spelling (`basic-gpu`, `nvidia-tesla-t4`) as the API enum."""
    return text.strip().upper().replace("-", "_")


def accelerator(values: dict[str, str], flag: str) -> dict[str, Any]:
    missing = [k for k in ("type", "count") if k not in values]
    extra = [k for k in values if k not in ("type", "count")]
    if missing or extra:
        raise UsageError(f"{flag} expects type=TYPE,count=N"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unknown {', '.join(extra)}" if extra else ""))
    count = values["count"]
    if not count.isdigit() or int(count) < 1:
        raise UsageError(f"{flag}: count must be a whole number above 0, got {count!r}")
    return {"type": enum_name(values["type"]), "count": int(count)}


def duration(text: str, where: str, draft: Draft) -> str | int | None:
    """A google-duration ("7200s", "1.5s") as the spec's max_running_time."""
    match = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?s", text.strip())
    if match is None:
        draft.unsupported(where, f"{text!r} is not a duration like '7200s'")
        return None
    seconds = int(match.group(1)) + (1 if match.group(2) and int(match.group(2)) else 0)
    return max(seconds, 1)


def check_machine(name: str, where: str, draft: Draft) -> str:
    if not has_ref(name):
        try:
            runtimes.map_machine_type(name)
        except runtimes.ShapeUnavailable as exc:
            draft.warnings.append(f"{where}: {exc.message}")
    return name


# --- name, job dir, bucket ---------------------------------------------------------------


def spec_name(draft: Draft, override: str | None) -> str:
    if override is not None:
        if problem(JobName, override) is not None:
            raise UsageError(f"--name {override!r}: a job name is a letter, then letters, digits "
                             "or underscores, at most 128 characters")
        return override
    derived = re.sub(r"[^A-Za-z0-9_]", "_", draft.module or "job")
    derived = (derived if derived[:1].isalpha() else "job_" + derived)[:128]
    if draft.job_id is None:
        draft.notes.append(f"name {derived!r} comes from the module (the gcloud command has no "
                           "job name); pass --name to choose another")
        return derived
    text = draft.job_id.text
    plain = literal(text)
    if plain is None:
        draft.warnings.append(
            f"the job name {draft.job_id.raw!r} is a variable, which a spec name cannot be: "
            f"the spec is named {derived!r} (from the module); pass --name to choose")
        return derived
    if problem(JobName, plain) is None:
        return plain
    fixed = re.sub(r"[^A-Za-z0-9_]", "_", plain)
    fixed = (fixed if fixed[:1].isalpha() else "job_" + fixed)[:128]
    draft.warnings.append(f"the job name {plain!r} is not a valid spec name (a letter, then "
                          f"letters, digits or underscores): the spec is named {fixed!r}")
    return fixed


def _names_the_job(segment: str, draft: Draft) -> bool:
    if draft.job_id is not None and segment == draft.job_id.text:
        return True
    found = refs(segment)
    if segment == "${" + (found[0] if found else "") + "}" and found[0].upper() in _JOB_VARS:
        draft.notes.append(f"took {segment} in the job dir to be the job name: it is ${{name}}")
        return True
    return False


def place_cloud_dirs(draft: Draft) -> None:
    """The bucket and job dir of a cloud target, written in terms of ${bucket} and ${name}."""
    job_dir = draft.job_dir
    bucket = draft.staging_bucket
    match = _GS.fullmatch(job_dir) if job_dir is not None else None
    if job_dir is not None and match is None and not job_dir.startswith("${"):
        raise UsageError(f"--job-dir must be a gs:// path for a cloud job, got {job_dir!r}")
    if bucket is None and match is not None:
        bucket = match.group(1)
    if bucket is None:
        bucket = "replace-with-your-bucket"
        draft.warnings.append(
            "the command names no bucket (no gs:// job dir or staging bucket), and a cloud target "
            f"needs one for staging, claims and output: edit targets.cloud.bucket ({bucket!r})")
    draft.target["bucket"] = bucket
    if job_dir is None:
        draft.notes.append("jobspec passes --job-dir gs://BUCKET/NAME to the trainer (and sets it "
                           "as the job's output folder) even though the command gave no job dir")
        return
    if match is None:
        draft.target["job_dir"] = job_dir
        return
    parts = (match.group(2) or "").split("/")
    parts = ["${name}" if p and _names_the_job(p, draft) else p for p in parts]
    head = "gs://${bucket}" if match.group(1) == bucket else f"gs://{match.group(1)}"
    rest = "/".join(parts)
    draft.target["job_dir"] = head + ("/" + rest if rest else "")
    if head != "gs://${bucket}" or parts[0] != "${name}":
        # jobspec refuses an output folder its name claim does not protect, unless told
        draft.target["job_dir_outside_claim"] = True
        draft.notes.append(f"the job dir {job_dir} is outside gs://BUCKET/NAME/, the folder "
                           "jobspec claims for the job name: job_dir_outside_claim: true keeps it "
                           "(another run could write there); gs://${bucket}/${name} would not")


_ARCHIVE = re.compile(r"(?:^|/)([A-Za-z_][A-Za-z0-9_]*)-[0-9][^/]*\.(?:tar\.gz|zip|whl)\Z")


def settle_package(draft: Draft, needed: str) -> None:
    """Prebuilt archives (--packages, packageUris) cannot be used: jobspec builds the package
    from source. When there is no source folder but one archive is named like gcloud names the
    sdist it builds (`trainer-0.0.0.tar.gz` from folder `trainer`) and that folder is here, it is
    the source; otherwise NEEDED says what to give."""
    if draft.package is None:
        found = {(m.group(1), uri, where) for uri, where in draft.package_uris
                 if (m := _ARCHIVE.search(literal(uri) or ""))
                 and (draft.cwd / m.group(1) / "__init__.py").is_file()}
        if len(found) == 1:
            folder, uri, where = found.pop()
            draft.package = escape(folder)
            draft.notes.append(f"{where}: {uri} is built from ./{folder}, as gcloud names the "
                               "sdist it builds: jobspec builds and stages it from that folder")
            draft.package_uris = [u for u in draft.package_uris if u[0] != uri]
        else:
            raise UsageError(f"jobspec builds the package from source and needs {needed}; "
                             "prebuilt archives (--packages, packageUris, --python-package-uris) "
                             "are not supported")
    for uri, where in draft.package_uris:
        draft.unsupported(where, f"{uri} is a prebuilt archive, and jobspec builds and stages "
                          "the package from source itself; put extra pip requirements in "
                          "trainer.requirements")


def package_for_spec(draft: Draft, out_dir: Path) -> str:
    """The package folder relative to the spec's folder (gcloud's is relative to the cwd)."""
    given = draft.package if draft.package is not None else "."
    plain = literal(given)
    if plain is None:
        draft.warnings.append(f"the package path {given!r} uses a variable: in the spec it "
                              "resolves against the spec file's folder, not the current folder")
        return given
    path = Path(os.path.abspath(draft.cwd / plain))
    if draft.package_is_workdir and draft.module:
        top = draft.module.split(".")[0]
        inner = path / top
        if (inner / "__init__.py").is_file() or path.name != top or not (
                path / "__init__.py").is_file():
            path = inner
        else:
            draft.notes.append(f"local-package-path {plain!r} is itself the package "
                               f"{path.name!r}: it is the spec's package_path")
    if not (path / "__init__.py").is_file():
        draft.warnings.append(f"{path} is not a Python package folder (no __init__.py) here: "
                              "jobspec validate will say so until it is")
    return escape(Path(os.path.relpath(path, out_dir)).as_posix())


def settle_pools(draft: Draft) -> None:
    """Worker pools as the spec writes them: a named scale tier when they are exactly one."""
    pools = draft.pools
    while pools and pools[-1] is None:
        pools.pop()
    roles = ("chief", "workers", "parameter_servers", "evaluators")
    _hoist_options(draft, pools)
    if draft.tier not in (None, "CUSTOM"):  # a pool that was only options is gone now
        pools[:] = [p if p is not None and p.data() else None for p in pools]
        while pools and pools[-1] is None:
            pools.pop()
    if draft.tier is None and pools:
        draft.tier = _matching_tier(pools) or "CUSTOM"
        if draft.tier != "CUSTOM":
            draft.notes.append(f"the worker pools are exactly scale tier {draft.tier}")
            pools.clear()
    if draft.tier is not None:
        draft.target["scale_tier"] = draft.tier
    if draft.tier == "CUSTOM":
        chief = pools[0] if pools else None
        if chief is None or chief.machine_type is None:
            raise UsageError("scale tier CUSTOM needs the chief's machine type "
                             "(--master-machine-type, masterType, or a first --worker-pool-spec)")
    elif pools:
        given = [roles[i] for i, p in enumerate(pools) if p is not None]
        options = sorted({k for p in pools if p is not None for k in p.options})
        raise UsageError(f"machine types and counts ({', '.join(given)}) only apply to scale "
                         f"tier CUSTOM, and the command asks for {draft.tier}" if not options
                         else f"{', '.join(options)} for some pools only ({', '.join(given)}) "
                         f"apply to scale tier CUSTOM, and the command asks for {draft.tier}: "
                         "give every pool the same, or use CUSTOM")
    for role, pool in zip(roles, pools, strict=False):
        if pool is not None:
            draft.target[role] = pool.data()


def _hoist_options(draft: Draft, pools: list[PoolDraft | None]) -> None:
    """A boot disk or reservation every pool of the job has alike becomes the target's own
    (which applies to every pool, whatever the tier); tpu_topology exists per pool only."""
    given = [p for p in pools if p is not None]
    if not given:
        return
    if draft.tier not in (None, "CUSTOM"):  # the tier's pools, each of them given
        size = len(runtimes.scale_tier_pools(draft.tier))
        if len(pools) != size or len(given) != size:
            return
    for key in ("boot_disk", "reservation"):
        values = [p.options.get(key) for p in given]
        if values[0] is not None and all(v == values[0] for v in values):
            draft.target[key] = values[0]
            for pool in given:
                del pool.options[key]


def _matching_tier(pools: list[PoolDraft | None]) -> str | None:
    if any(p is not None and p.options for p in pools):
        return None
    for tier in ("BASIC", "BASIC_GPU", "STANDARD_1", "PREMIUM_1"):
        shapes = runtimes.scale_tier_pools(tier)
        if len(shapes) != len(pools):
            continue
        same = True
        for shape, pool in zip(shapes, pools, strict=True):
            accel = pool.accelerator if pool else None
            same = same and pool is not None and pool.machine_type == shape.machine_type and (
                (pool.count or 1) == shape.count) and (
                (accel or {}).get("type") == shape.accelerator_type) and (
                (accel or {}).get("count", 0) == shape.accelerator_count)
        if same:
            return tier
    return None
