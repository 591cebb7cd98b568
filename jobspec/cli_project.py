"""The commands about the project and its files: schema, runtimes, init, import (registered
on the group by cli.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from jobspec.cli_common import _json, _json_opt, _trailing, _warn
from jobspec.output import current


@click.command()
def schema() -> None:
    """Print the JSON Schema of the spec (for editors)."""
    from jobspec.spec import json_schema

    current().print(json.dumps(json_schema(), indent=2))


@click.command()
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


@click.command()
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


@click.command(name="import")
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


