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
from jobspec.cli_common import _argv, _info, _json, _json_opt, _spec_path, _trailing
from jobspec.errors import EXIT_INTERRUPTED, EXIT_USAGE, JobspecError, UsageError
from jobspec.output import COLOR_MODES, Output, current, using


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
_container_opt = click.option(
    "--container", is_flag=True,
    help="Local: run the cloud target's image and command with docker or podman "
    "(JOBSPEC_CONTAINER_RUNTIME picks one).")


def _one_way(isolated: bool | None, container: bool) -> bool | None:
    if isolated and container:
        raise click.UsageError("--isolated and --container are two ways to run the cloud's "
                               "launcher here: pass one")
    return isolated


@cli.command()
@_spec_arg
@_target_opt
@_set_opt
@_name_opt
@click.option("--isolated", is_flag=True, default=None, help="Plan an isolated local run.")
@_container_opt
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the complete plan to FILE, for `jobspec run --plan FILE`.")
@click.pass_context
def plan(ctx: click.Context, spec: str | None, target: str, sets: tuple[str, ...],
         name: str | None, isolated: bool | None, container: bool, as_json: bool,
         out: str | None) -> None:
    """Show exactly what `run` would do, without doing any of it."""
    from jobspec.plandata import GroupPlan, dump_plan
    from jobspec.render import plan_json, plan_text
    from jobspec.request import Request, load, shown
    from jobspec.request import plan as make_plan

    request = Request(spec=spec, target=target, overrides=sets, extra_args=_trailing(ctx),
                      name=name, isolated=_one_way(isolated, container), container=container)
    loaded = load(request)
    made = make_plan(request, loaded)
    from jobspec.studyplan import StudyPlan

    if isinstance(made, StudyPlan):
        from jobspec import study

        if out is not None:
            raise UsageError("a study's plan cannot be written with --out: its trials are "
                             "planned as it runs", hint="run the spec itself")
        click.echo(json.dumps(study.plan_data(made), indent=2) if as_json
                   else study.plan_text(made))
        return
    if out is not None:
        _write_plan(Path(out), dump_plan(made))
    plans: list[Any] = [shown(m) for m in made.members] if isinstance(made, GroupPlan) else [
        shown(made)]
    if as_json:
        data = ({"group": made.group, "members": [plan_json(p) for p in plans],
                 **_group_price(plans)}
                if isinstance(made, GroupPlan) else plan_json(plans[0]))
        click.echo(json.dumps(data, indent=2))
    elif isinstance(made, GroupPlan):
        click.echo(f"group       {made.group}: {len(plans)} jobs, one per matrix combination")
        for member, each in zip(loaded.members, plans, strict=True):
            values = ", ".join(f"{k}={v}" for k, v in (member.matrix or {}).items())
            click.echo(f"\n=== {each.name} ({values}) ===\n{plan_text(each)}")
        price = _group_price(plans)
        if price:
            from jobspec.prices_text import group_plan_line

            click.echo("\n" + group_plan_line(price["price"]))
    else:
        click.echo(plan_text(plans[0]))
    if out is not None:
        _info(f"wrote the plan to {out}: `jobspec run --plan {out}` carries it out")


def _group_price(plans: list[Any]) -> dict[str, Any]:
    """A cloud group's total price ({"price": ...}); nothing for a local group."""
    from jobspec.plandata import CloudPlan

    if not plans or not all(isinstance(p, CloudPlan) for p in plans):
        return {}
    from jobspec.prices_text import group_plan

    return {"price": group_plan([(p.body, p.region) for p in plans])}


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
@_container_opt
@click.option("--detach", is_flag=True, help="Cloud: return once the job is submitted.")
@click.option("--reclaim", is_flag=True, help="Cloud: take over this name's failed claim.")
@click.option("--cancel-on-interrupt", is_flag=True,
              help="Cloud: Ctrl-C cancels the job instead of detaching.")
@click.option("--parallel", type=click.IntRange(1, 32), default=None, metavar="N",
              help="Local matrix sweeps: run N members at a time (default: one after another); "
              "local studies: N trials at a time (default: the block's parallel_trial_count).")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Carry out a plan written by `jobspec plan --out FILE` (instead of SPEC).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the outcome as JSON on stdout (with --detach, the submitted job); "
              "the trainer's output and messages go to stderr.")
@click.pass_context
def run(ctx: click.Context, spec: str | None, target: str | None, sets: tuple[str, ...],
        name: str | None, isolated: bool | None, container: bool, detach: bool, reclaim: bool,
        cancel_on_interrupt: bool, parallel: int | None, plan_file: str | None,
        as_json: bool) -> None:
    """Run the job on TARGET: here (local) or on Vertex AI (cloud)."""
    _json(as_json)
    from jobspec.request import Request, RunOptions, execute

    options = RunOptions(detach=detach, reclaim=reclaim,
                         cancel_on_interrupt=cancel_on_interrupt, parallel=parallel)
    if plan_file is not None:
        given = [flag for flag, value in (("SPEC", spec), ("--target", target), ("--set", sets),
                                          ("--name", name), ("--isolated", isolated),
                                          ("--container", container),
                                          ("-- ARGS", _trailing(ctx))) if value]
        if given:
            raise click.UsageError(f"--plan runs the plan as written: {', '.join(given)} "
                                   "cannot change it (make a new plan instead)")
        raise SystemExit(execute(_read_plan(Path(plan_file)), options))
    if target is None:
        param = next(p for p in ctx.command.params if p.name == "target")
        raise click.MissingParameter(ctx=ctx, param=param)
    request = Request(spec=spec, target=target, overrides=sets, extra_args=_trailing(ctx),
                      name=name, isolated=_one_way(isolated, container), container=container,
                      options=options)
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




# the other commands live beside this module, one file a family; the group takes them here
from jobspec.cli_build import build  # noqa: E402
from jobspec.cli_jobs import cancel, clean, list_, logs, status  # noqa: E402
from jobspec.cli_prices import prices  # noqa: E402
from jobspec.cli_project import import_, init, runtimes, schema  # noqa: E402
from jobspec.cli_ui import ui  # noqa: E402

for _command in (status, logs, cancel, list_, clean, schema, runtimes, init, import_, build,
                 prices, ui):
    cli.add_command(_command)


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
