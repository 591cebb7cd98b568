"""The commands about jobs that exist: status, logs, cancel, list, clean (registered on the
group by cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from jobspec.cli_common import _info, _json, _json_opt, _load, _warn
from jobspec.errors import UsageError


def _records(target: str | None, spec: str | None) -> Any:
    """Local run records live under the project root of the spec (or the current folder)."""
    from jobspec.places import project_root
    from jobspec.records import StateDir

    return StateDir(project_root(spec)).records()


def _kind(target: str | None, spec: str | None) -> str:
    if target is None or target == "local":
        return "local"
    if target == "cloud":
        return "cloud"
    loaded = _load(spec, target)
    return str(loaded.spec.targets[target].kind)


def _check_bucket(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--bucket follows GCS's rules, as a spec's bucket does: checked here, not by the client
    library's own error half-way through a command."""
    if value is not None:
        from jobspec.spec import bucket_problem

        problem = bucket_problem(value)
        if problem is not None:
            raise click.BadParameter(f"{value!r} is not a bucket name: {problem}")
    return value


def _find(name: str, target: str | None, spec: str | None, bucket: str | None
          ) -> tuple[str, str | None, str | None, str | None]:
    """(kind, target, spec, bucket) for a command about job NAME. With --target, that target,
    as always; with only --bucket, that bucket; with neither, wherever the job is."""
    from jobspec.records import job_name

    job_name(name)  # NAME becomes a folder of .jobspec/runs/ and of the bucket: never a path
    if target is not None:
        return _kind(target, spec), target, spec, bucket
    if bucket is not None:
        return "cloud", None, spec, bucket
    from jobspec.whereis import find

    found = find(name, spec)
    if found.place is None:
        return "local", None, spec, None
    place = found.place
    from jobspec.places import shown

    _info(f"found {name} in gs://{place.bucket}/{name}/ (target {place.target} of "
          f"{shown(place.spec)})")
    return "cloud", place.target, str(place.spec), place.bucket


_where_help = "Default: look in local runs, then in the cloud targets' buckets."


def _where_opts(command: Any) -> Any:
    """--target, --spec and --bucket: where status, logs and cancel look for job NAME."""
    options = (
        click.option("--target", "-t", default=None,
                     help="local or a cloud target. " + _where_help),
        click.option("--spec", default=None, help="Spec to read the bucket from (cloud)."),
        click.option("--bucket", default=None, callback=_check_bucket,
                     help="Bucket holding the job's claim (cloud)."),
    )
    for option in reversed(options):  # applied bottom-up, as stacked decorators are
        command = option(command)
    return command


@click.command()
@click.argument("name")
@_where_opts
@_json_opt
def status(name: str, target: str | None, spec: str | None, bucket: str | None,
           as_json: bool) -> None:
    """Show the state of job NAME."""
    out = _json(as_json)
    kind, target, spec, bucket = _find(name, target, spec, bucket)
    if kind == "local":
        from jobspec.studyrecord import study_status
        from jobspec.sweep import group_status

        records = _records(target, spec)
        root = records.root.parent.parent
        group = (study_status(root, name, as_json=as_json)
                 or group_status(root, name, as_json=as_json))
        if group is not None:
            out.print(group)
        elif as_json:
            out.emit_json(records.status_data(name))
        else:
            out.print(records.status_text(name))
        return
    from jobspec.cloud.manage import status as cloud_status

    raise SystemExit(cloud_status(name, target=target, spec=spec, bucket=bucket,
                                  as_json=as_json))


@click.command()
@click.argument("name")
@_where_opts
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the job ends.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON lines: one object per log line, with its task and text.")
def logs(name: str, target: str | None, spec: str | None, bucket: str | None,
         follow: bool, as_json: bool) -> None:
    """Print the log of job NAME (the latest local run, or the cloud job)."""
    _json(as_json)
    kind, target, spec, bucket = _find(name, target, spec, bucket)
    if kind == "local":
        raise SystemExit(_records(target, spec).print_log(name, follow=follow))
    from jobspec.cloud.manage import logs as cloud_logs

    raise SystemExit(cloud_logs(name, target=target, spec=spec, bucket=bucket,
                                follow_logs=follow))


@click.command()
@click.argument("name")
@_where_opts
@_json_opt
def cancel(name: str, target: str | None, spec: str | None, bucket: str | None,
           as_json: bool) -> None:
    """Cancel job NAME: a cloud job, or a local run (as Ctrl-C would stop it)."""
    out = _json(as_json)
    kind, target, spec, bucket = _find(name, target, spec, bucket)
    if kind == "local":
        from jobspec.places import project_root
        from jobspec.studyrecord import cancel_study
        from jobspec.whereis import cancel_local

        outcomes: list[dict[str, Any]] = []
        code = cancel_study(project_root(spec), name, outcomes)
        if code is None:
            code = cancel_local(name, project_root(spec), outcomes)
        if as_json:
            out.emit_json({"name": name, "where": "local", "members": outcomes})
        raise SystemExit(code)
    from jobspec.cloud.manage import cancel as cloud_cancel

    raise SystemExit(cloud_cancel(name, target=target, spec=spec, bucket=bucket,
                                  as_json=as_json))


@click.command(name="list")
@click.option("--target", "-t", default=None, help="local (the default) or a cloud target.")
@click.option("--spec", default=None, help="Spec to read the bucket from (cloud).")
@click.option("--bucket", default=None, callback=_check_bucket,
              help="Bucket to list (cloud).")
@_json_opt
def list_(target: str | None, spec: str | None, bucket: str | None, as_json: bool) -> None:
    """List jobs: local run records, or (with a cloud --target or --bucket) a bucket's jobs."""
    out = _json(as_json)
    if bucket is None and _kind(target, spec) == "local":
        from jobspec.studyrecord import study_rows

        records = _records(target, spec)
        studies = study_rows(records.root.parent.parent)
        if as_json:
            out.emit_json(records.list_rows() + studies)
        else:
            records.print_list(out)
            if studies:
                out.print()
            for line in out.table([(r["name"], str(r["state"]), str(r["runs"]),
                                    str(r["start"])) for r in studies],
                                  ("STUDY", "STATE", "TRIALS", "STARTED")) if studies else ():
                out.print(line)
        if target is None:
            import shlex

            from jobspec.places import cloud_places

            for place in cloud_places(spec)[0]:
                command = ["jobspec", "list", "--target", place.target]
                if spec is not None and place.spec == Path(spec):
                    command += ["--spec", spec]
                _info(f"cloud jobs of target {place.target} (gs://{place.bucket}) are listed "
                      f"with `{shlex.join(command)}`")
        return
    from jobspec.cloud.manage import list_jobs

    raise SystemExit(list_jobs(target=target, spec=spec, bucket=bucket, as_json=as_json))


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from jobspec.clean import parse_duration

    try:
        return parse_duration(value)
    except UsageError as exc:
        raise click.BadParameter(exc.message) from None


@click.command()
@click.option("--older-than", "older_than", default="30d", show_default=True,
              callback=_duration, help="Remove run and study records, venvs and staged sdists "
              "unused for this long (a whole number and s, m, h, d or w).")
@click.option("--keep", default=1, show_default=True, type=click.IntRange(min=0),
              help="Keep the latest N runs of each job (a study's one record with N > 0, and N "
              "staged sdists of each package), however old.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@_json_opt
def clean(older_than: float, keep: int, dry_run: bool, as_json: bool) -> None:
    """Remove old run and study records, unused isolated venvs, staged sdists and stale caches
    from .jobspec/.

    A run or study still running, and a venv or sdist a running run uses, are never removed;
    nothing outside .jobspec/ is touched (symbolic links in it are not followed). A path that
    cannot be removed is a warning: the command still exits 0."""
    from jobspec.clean import clean as clean_state
    from jobspec.clean import size_text
    from jobspec.places import project_root, shown
    from jobspec.records import StateDir

    out = _json(as_json)
    state = StateDir(project_root(None))
    report = clean_state(state, older_than=older_than, keep=keep, dry_run=dry_run)
    for path, error in report.failed:
        _warn(f"cannot remove {shown(path)}: {error}")
    if as_json:
        out.emit_json(report.data(state))
        return
    verb = "would remove" if dry_run else "removed"
    for removal in report.removed:
        out.print(f"{verb} {removal.kind} {shown(removal.path)} ({size_text(removal.size)})")
    for path in report.kept_running:
        _info(f"kept {shown(path)}: still running")
    for path in report.skipped_links:
        _info(f"left alone {shown(path)}: a symbolic link (never followed)")
    if not report.removed:
        out.print(f"nothing to clean under {shown(state.root)}")
    else:
        freed = "would free" if dry_run else "freed"
        out.print(f"{freed} {size_text(report.size)} ({len(report.removed)} "
                  f"item{'s' if len(report.removed) != 1 else ''})")


