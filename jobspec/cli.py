"""The command line: parse, call one function, map errors to exit codes. Nothing else."""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from jobspec import __version__
from jobspec.errors import EXIT_INTERRUPTED, EXIT_USAGE, JobspecError, UsageError
from jobspec.output import COLOR_MODES, Output, current, using


def _spec_path(spec: str | None) -> Path:
    from jobspec.project import default_spec

    return Path(spec) if spec else default_spec(Path.cwd())


def _load(spec: str | None, target: str | None) -> Any:
    from jobspec.request import Request, load

    return load(Request(spec=spec, target=target), strict=False)  # only the target's kind


def _trailing(ctx: click.Context) -> tuple[str, ...]:
    """What followed `--` on the command line (main() splits it off before click parses)."""
    obj = ctx.find_root().obj
    return tuple(obj.get("trailing", ())) if isinstance(obj, dict) else ()


def _argv(ctx: click.Context) -> tuple[str, ...] | None:
    obj = ctx.find_root().obj
    return tuple(obj["argv"]) if isinstance(obj, dict) and "argv" in obj else None


def _warn(message: str) -> None:
    from jobspec.secrets import mask

    current().warn(mask(message))


def _json(as_json: bool) -> Output:
    """The current Output, switched to JSON when the command was given --json."""
    out = current()
    out.as_json = out.as_json or as_json
    return out


_json_opt = click.option("--json", "as_json", is_flag=True,
                         help="Print JSON on stdout (and messages as JSON lines on stderr).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jobspec")
@click.option("--color", type=click.Choice(COLOR_MODES), default="auto", show_default=True,
              help="Colour output. auto: on a terminal, unless NO_COLOR is set (FORCE_COLOR "
                   "forces it).")
@click.option("-q", "--quiet", is_flag=True, help="Print only results, warnings and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print more detail.")
def cli(color: str, quiet: bool, verbose: bool) -> None:
    """Run a version-controlled YAML job file as a training job, here or on Vertex AI.

    Arguments after `--` go to the trainer untouched.
    """
    if quiet and verbose:
        raise click.UsageError("-q and -v contradict each other: pass one")
    out = current()
    out.color_mode = "always" if color == "always" else "never" if color == "never" else "auto"
    out.verbosity = -1 if quiet else 1 if verbose else 0


@cli.command()
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--strict-env", is_flag=True,
              help="An unset ${VAR} without a default is an error, as at plan and run; "
              "without this flag it is a note (CI and pre-commit lack your environment).")
@_json_opt
def validate(specs: tuple[str, ...], strict_env: bool, as_json: bool) -> None:
    """Check spec files; print every problem as file:line:col (exit 2 if any)."""
    out = _json(as_json)
    paths = [Path(s) for s in specs] or [_spec_path(None)]
    failed = count = 0
    from jobspec.checkmany import checked

    files: list[dict[str, Any]] = []
    for path, outcome in zip(paths, checked(paths, strict_env), strict=True):
        if outcome is None:
            files.append({"file": str(path), "ok": True})
            out.detail(f"{path}: valid")
            continue
        if not outcome[1]:  # only notes: ${VAR}s unset here, which --strict-env counts
            files.append({"file": str(path), "ok": True, "notes": outcome[2]})
            if not as_json:
                out.problems(outcome[0])
            continue
        failed += 1
        count += outcome[1]
        files.append({"file": str(path), "ok": False, "problems": outcome[2]})
        if not as_json:
            out.problems(outcome[0])
    summary = f"{count} problem(s) in {failed} file(s)"
    if as_json:
        out.emit_json({"ok": not failed, "files": files,
                       "summary": summary if failed else f"{len(paths)} spec(s) valid"})
        if failed:
            out.error(summary, exit_code=EXIT_USAGE)
            raise SystemExit(EXIT_USAGE)
        return
    if failed:
        out.error(summary, exit_code=EXIT_USAGE)
        raise SystemExit(EXIT_USAGE)
    out.print(f"{len(paths)} spec(s) valid")


_target_opt = click.option("--target", "-t", required=True,
                           help="Target to use (a key of targets).")
_spec_arg = click.argument("spec", required=False, type=click.Path(dir_okay=False))
_set_opt = click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
                        help="Override a spec value, validated like the file.")
_name_opt = click.option("--name", help="Override the job name.")


@cli.command()
@_spec_arg
@_target_opt
@_set_opt
@_name_opt
@click.option("--isolated", is_flag=True, default=None, help="Plan an isolated local run.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the complete plan to FILE, for `jobspec run --plan FILE`.")
@click.pass_context
def plan(ctx: click.Context, spec: str | None, target: str, sets: tuple[str, ...],
         name: str | None, isolated: bool | None, as_json: bool, out: str | None) -> None:
    """Show exactly what `run` would do, without doing any of it."""
    from jobspec.plandata import GroupPlan, dump_plan
    from jobspec.render import plan_json, plan_text
    from jobspec.request import Request, load, shown
    from jobspec.request import plan as make_plan

    request = Request(spec=spec, target=target, overrides=sets, extra_args=_trailing(ctx),
                      name=name, isolated=isolated)
    loaded = load(request)
    made = make_plan(request, loaded)
    if out is not None:
        _write_plan(Path(out), dump_plan(made))
    plans: list[Any] = [shown(m) for m in made.members] if isinstance(made, GroupPlan) else [
        shown(made)]
    if as_json:
        data = ({"group": made.group, "members": [plan_json(p) for p in plans]}
                if isinstance(made, GroupPlan) else plan_json(plans[0]))
        click.echo(json.dumps(data, indent=2))
    elif isinstance(made, GroupPlan):
        click.echo(f"group       {made.group}: {len(plans)} jobs, one per matrix combination")
        for member, each in zip(loaded.members, plans, strict=True):
            values = ", ".join(f"{k}={v}" for k, v in (member.matrix or {}).items())
            click.echo(f"\n=== {each.name} ({values}) ===\n{plan_text(each)}")
    else:
        click.echo(plan_text(plans[0]))
    if out is not None:
        _info(f"wrote the plan to {out}: `jobspec run --plan {out}` carries it out")


def _write_plan(path: Path, text: str) -> None:
    import os

    try:
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"cannot write the plan to {path}: {exc.strerror}") from None


@cli.command()
@_spec_arg
@click.option("--target", "-t", default=None, help="Target to use (a key of targets).")
@_set_opt
@_name_opt
@click.option("--isolated", is_flag=True, default=None,
              help="Local: install the package's sdist in a venv and run it from an empty folder.")
@click.option("--detach", is_flag=True, help="Cloud: return once the job is submitted.")
@click.option("--reclaim", is_flag=True, help="Cloud: take over this name's failed claim.")
@click.option("--cancel-on-interrupt", is_flag=True,
              help="Cloud: Ctrl-C cancels the job instead of detaching.")
@click.option("--parallel", type=click.IntRange(1, 32), default=1, metavar="N",
              help="Local matrix sweeps: run N members at a time (default: one after another).")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Carry out a plan written by `jobspec plan --out FILE` (instead of SPEC).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the outcome as JSON on stdout (with --detach, the submitted job); "
              "the trainer's output and messages go to stderr.")
@click.pass_context
def run(ctx: click.Context, spec: str | None, target: str | None, sets: tuple[str, ...],
        name: str | None, isolated: bool | None, detach: bool, reclaim: bool,
        cancel_on_interrupt: bool, parallel: int, plan_file: str | None,
        as_json: bool) -> None:
    """Run the job on TARGET: here (local) or on Vertex AI (cloud)."""
    _json(as_json)
    from jobspec.request import Request, RunOptions, execute

    options = RunOptions(detach=detach, reclaim=reclaim,
                         cancel_on_interrupt=cancel_on_interrupt, parallel=parallel)
    if plan_file is not None:
        given = [flag for flag, value in (("SPEC", spec), ("--target", target), ("--set", sets),
                                          ("--name", name), ("--isolated", isolated),
                                          ("-- ARGS", _trailing(ctx))) if value]
        if given:
            raise click.UsageError(f"--plan runs the plan as written: {', '.join(given)} "
                                   "cannot change it (make a new plan instead)")
        raise SystemExit(execute(_read_plan(Path(plan_file)), options))
    if target is None:
        param = next(p for p in ctx.command.params if p.name == "target")
        raise click.MissingParameter(ctx=ctx, param=param)
    request = Request(spec=spec, target=target, overrides=sets, extra_args=_trailing(ctx),
                      name=name, isolated=isolated, options=options)
    raise SystemExit(_run(request, _argv(ctx)))


def _run(request: Any, argv: tuple[str, ...] | None) -> int:
    from jobspec.request import execute, load
    from jobspec.request import plan as make_plan

    loaded = load(request)
    made = make_plan(request, loaded)
    if argv is not None:
        from jobspec.fastpath import store

        store(argv, request, loaded, made)
    return execute(made, request.options)


def _read_plan(path: Path) -> Any:
    from jobspec.errors import UsageError
    from jobspec.fileread import read_regular
    from jobspec.plandata import load_plan

    try:
        text = read_regular(path, 64 << 20)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the plan {path}: "
                         f"{exc.strerror if isinstance(exc, OSError) else exc}") from None
    return load_plan(text, str(path))


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
    _info(f"found {name} in gs://{place.bucket}/{name}/ (target {place.target} of "
          f"{_shown(place.spec)})")
    return "cloud", place.target, str(place.spec), place.bucket


def _info(message: str) -> None:
    current().info(message)


def _shown(path: Path) -> str:
    from jobspec.diagnostics import display_path

    return display_path(str(path))


_where_help = "Default: look in local runs, then in the cloud targets' buckets."


@cli.command()
@click.argument("name")
@click.option("--target", "-t", default=None, help="local or a cloud target. " + _where_help)
@click.option("--spec", default=None, help="Spec to read the bucket from (cloud).")
@click.option("--bucket", default=None, callback=_check_bucket,
              help="Bucket holding the job's claim (cloud).")
@_json_opt
def status(name: str, target: str | None, spec: str | None, bucket: str | None,
           as_json: bool) -> None:
    """Show the state of job NAME."""
    out = _json(as_json)
    kind, target, spec, bucket = _find(name, target, spec, bucket)
    if kind == "local":
        from jobspec.sweep import group_status

        records = _records(target, spec)
        group = group_status(records.root.parent.parent, name, as_json=as_json)
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


@cli.command()
@click.argument("name")
@click.option("--target", "-t", default=None, help="local or a cloud target. " + _where_help)
@click.option("--spec", default=None, help="Spec to read the bucket from (cloud).")
@click.option("--bucket", default=None, callback=_check_bucket,
              help="Bucket holding the job's claim (cloud).")
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


@cli.command()
@click.argument("name")
@click.option("--target", "-t", default=None, help="local or a cloud target. " + _where_help)
@click.option("--spec", default=None, help="Spec to read the bucket from (cloud).")
@click.option("--bucket", default=None, callback=_check_bucket,
              help="Bucket holding the job's claim (cloud).")
@_json_opt
def cancel(name: str, target: str | None, spec: str | None, bucket: str | None,
           as_json: bool) -> None:
    """Cancel job NAME: a cloud job, or a local run (as Ctrl-C would stop it)."""
    out = _json(as_json)
    kind, target, spec, bucket = _find(name, target, spec, bucket)
    if kind == "local":
        from jobspec.places import project_root
        from jobspec.whereis import cancel_local

        outcomes: list[dict[str, Any]] = []
        code = cancel_local(name, project_root(spec), outcomes)
        if as_json:
            out.emit_json({"name": name, "where": "local", "members": outcomes})
        raise SystemExit(code)
    from jobspec.cloud.manage import cancel as cloud_cancel

    raise SystemExit(cloud_cancel(name, target=target, spec=spec, bucket=bucket,
                                  as_json=as_json))


@cli.command(name="list")
@click.option("--target", "-t", default=None, help="local (the default) or a cloud target.")
@click.option("--spec", default=None, help="Spec to read the bucket from (cloud).")
@click.option("--bucket", default=None, callback=_check_bucket,
              help="Bucket to list (cloud).")
@_json_opt
def list_(target: str | None, spec: str | None, bucket: str | None, as_json: bool) -> None:
    """List jobs: local run records, or (with a cloud --target or --bucket) a bucket's jobs."""
    out = _json(as_json)
    if bucket is None and _kind(target, spec) == "local":
        records = _records(target, spec)
        if as_json:
            out.emit_json(records.list_rows())
        else:
            records.print_list(out)
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


@cli.command()
@click.option("--older-than", "older_than", default="30d", show_default=True,
              callback=_duration, help="Remove run records and venvs unused for this long "
              "(a whole number and s, m, h, d or w).")
@click.option("--keep", default=1, show_default=True, type=click.IntRange(min=0),
              help="Keep the latest N runs of each job, however old.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@_json_opt
def clean(older_than: float, keep: int, dry_run: bool, as_json: bool) -> None:
    """Remove old run records, unused isolated venvs and stale caches from .jobspec/.

    A run still running and a venv a run uses are never removed; nothing outside .jobspec/ is
    touched (symbolic links in it are not followed). A path that cannot be removed is a
    warning: the command still exits 0."""
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


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the spec (for editors)."""
    from jobspec.spec import json_schema

    current().print(json.dumps(json_schema(), indent=2))


@cli.command()
@_json_opt
def runtimes(as_json: bool) -> None:
    """List runtime versions and prebuilt images, with their status today."""
    from datetime import date

    from jobspec import runtimes_table

    out = _json(as_json)
    if as_json:
        out.emit_json(runtimes_table.table_data(date.today()))
    else:
        runtimes_table.print_table(date.today(), out)


@cli.command()
@click.option("--dir", "directory", default=".", type=click.Path(file_okay=False),
              help="Project folder to scaffold in (default: here).")
@click.option("--name", help="Job name; the spec becomes specs/NAME.yaml.")
@click.option("--package-path", help="Trainer package folder (default: trainer).")
@click.option("--module", help="Module to run (default: PACKAGE.task).")
@click.option("--bucket", help="Cloud Storage bucket (default: $JOBSPEC_BUCKET at run time).")
@click.option("--region", help="Vertex AI region (default: us-central1).")
@click.option("--executor-image", help="Training image URI for the cloud target.")
@click.option("--runtime-version", help='Runtime version "X.Y" instead of an image.')
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the files written and the next commands as JSON (asks nothing).")
def init(directory: str, name: str | None, package_path: str | None, module: str | None,
         bucket: str | None, region: str | None, executor_image: str | None,
         runtime_version: str | None, force: bool, as_json: bool) -> None:
    """Scaffold specs/NAME.yaml (and a trainer).

    Also writes a trainer package when --package-path has none, and jobspec.schema.json when
    it is missing. Missing values are asked for when stdin is a terminal, else defaults are
    used. Existing files are kept unless --force.
    """
    from datetime import date

    from jobspec.scaffold import Choices, init_project

    choices = Choices(Path(directory), name, package_path, module, bucket, region,
                      executor_image, runtime_version, force)
    out = _json(as_json)
    # a prompt would land in the JSON on stdout: with --json, the defaults
    asking = sys.stdin is not None and sys.stdin.isatty() and not as_json
    report = init_project(choices, prompt=click.prompt if asking else None, today=date.today())
    if as_json:
        out.emit_json(report.data(Path(directory)))
        return
    for warning in report.warnings:
        _warn(warning)
    out.print(report.text(Path(directory)))


@cli.command(name="import")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the spec to this file (default: print it).")
@click.option("--name", help="The spec's name (default: the gcloud job name, or the module).")
@click.option("--file", "from_file", metavar="FILE",
              help="Read the gcloud command from FILE (shell quoting and line continuations; "
                   "- is stdin).")
@click.option("--string", "from_string", metavar="COMMAND",
              help="Read the gcloud command from this one string.")
@click.option("--force", is_flag=True, help="Overwrite the --output file if it exists.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the spec as data, its text, notes and warnings as JSON.")
def import_(output: str | None, name: str | None, from_file: str | None,
            from_string: str | None, force: bool, as_json: bool) -> None:
    """Write a spec from a gcloud training command: `jobspec import [-o FILE] -- gcloud ...`."""
    from jobspec.importer import import_gcloud

    out = _json(as_json)
    result = import_gcloud(argv=list(_trailing(click.get_current_context())),
                           string=from_string, file=from_file, output=output,
                           name=name, force=force)
    if as_json:
        from jobspec.located import plain
        from jobspec.yamlread import build

        out.emit_json({"name": result.name, "spec": plain(build(result.text, "import")),
                       "text": result.text, "written": output if result.written else None,
                       "notes": list(result.notes), "warnings": list(result.warnings)})
        return
    for note in result.notes:
        out.note(note)
    for warning in result.warnings:
        _warn(warning)
    if result.written is None:
        out.write(result.text)
    else:
        out.info(f"wrote {output}")


def _take_over_interrupts() -> None:
    """From here on Ctrl-C raises KeyboardInterrupt, which a run turns into stopping its
    processes and exit 130 (until now, jobspec/__init__.py made it exit 130 at once)."""
    import signal

    import jobspec

    if signal.getsignal(signal.SIGINT) is jobspec._quit_quietly:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: Sequence[str] | None = None) -> None:
    # At exit, spare the collector its passes over every object the imports made: ~0.1 s after
    # a cloud command (bench/README.md). Objects are still freed; only garbage cycles left at
    # exit are not collected, which Python never promised. Registered once per process.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    args = list(sys.argv[1:] if argv is None else argv)
    # What follows `--` belongs to the trainer (or, for `import`, to gcloud): split it off
    # before click sees it, so jobspec never parses a single trainer argument.
    obj = {"argv": tuple(args), "trailing": ()}
    if "--" in args:
        cut = args.index("--")
        obj["trailing"] = tuple(args[cut + 1:])
        args = args[:cut]
    # the one Output of this command: the group's options and a command's --json set it up
    with using(Output()) as out:
        try:
            _take_over_interrupts()
            cli.main(args=args, prog_name="jobspec", standalone_mode=False, obj=obj)
        except click.exceptions.Abort:
            raise SystemExit(EXIT_INTERRUPTED) from None
        except click.ClickException as exc:
            if out.as_json or "--json" in args:  # a usage error can come before --json is read
                out.as_json = True
                out.error(exc.format_message(), exit_code=EXIT_USAGE)
            else:
                exc.show()
            raise SystemExit(EXIT_USAGE) from None
        except JobspecError as exc:
            from jobspec.secrets import mask

            out.failure(exc, mask)
            raise SystemExit(exc.exit_code) from None
        except KeyboardInterrupt:
            out.error("interrupted", exit_code=EXIT_INTERRUPTED)
            raise SystemExit(EXIT_INTERRUPTED) from None
        except OSError as exc:
            if not _output_failed(exc):
                raise
            raise SystemExit(_output_exit(exc)) from None
        try:
            sys.stdout.flush()  # now, not at interpreter exit where a failure would be a traceback
        except OSError as exc:
            if not _output_failed(exc):
                raise
            raise SystemExit(_output_exit(exc)) from None
    raise SystemExit(0)


_OUTPUT_ERRNOS = ("EPIPE", "ENOSPC", "EIO", "EDQUOT", "EFBIG")


def _output_failed(exc: OSError) -> bool:
    """Writing what jobspec prints failed: a reader that went away (`| head`), a full disk
    (`> /dev/full`). An OSError of anything else is not this."""
    import errno

    return exc.errno in {getattr(errno, name) for name in _OUTPUT_ERRNOS if hasattr(errno, name)}


def _output_exit(exc: OSError) -> int:
    """Stop writing: stdout goes to /dev/null so the interpreter's last flush cannot fail. A
    reader that stopped reading is no error (exit 0, as the work is done); a full disk is
    exit 2 with one line on stderr."""
    import errno
    import os

    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    if exc.errno == errno.EPIPE:
        return 0
    with contextlib.suppress(OSError):
        print(f"jobspec: cannot write the output: {exc.strerror}", file=sys.stderr, flush=True)
    return EXIT_USAGE
