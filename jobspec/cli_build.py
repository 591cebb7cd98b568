"""`jobspec build`: a cloud target's dependencies image, built unless its tag exists (registered
on the group by cli.py). `run` does the same on its own before it submits."""

from __future__ import annotations

import os

import click

from jobspec.cli_common import _json, _json_opt


@click.command("build")
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--target", "-t", required=True, help="Cloud target with a `build:` block.")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a spec value, validated like the file.")
@_json_opt
def build(spec: str | None, target: str, sets: tuple[str, ...], as_json: bool) -> None:
    """Build the target's dependencies image with Cloud Build, unless Artifact Registry has it.

    The image holds the base, system packages and requirements, never the trainer's code
    (that is staged at each run): its tag is a hash of what goes into it. Prints the image.
    """
    out = _json(as_json)
    from jobspec.cloudwhere import cloud_context
    from jobspec.imagebuild import for_target
    from jobspec.request import Request, load

    loaded = load(Request(spec=spec, target=target, overrides=sets))
    chosen = loaded.spec.targets[target]
    if getattr(chosen, "kind", None) != "cloud" or getattr(chosen, "build", None) is None:
        what = "is not a cloud target" if getattr(chosen, "kind", None) != "cloud" else (
            "has no `build:` block")
        raise loaded.error(("targets", target), f"target {target!r} {what}: there is no image "
                           "to build (a cloud target's `build:` names a base image, "
                           "requirements and system packages)")
    where = cloud_context(chosen, os.environ)
    project = where.require_project(f"target {target!r}")
    image = for_target(loaded.spec, chosen, project=project, region=where.region)
    assert image is not None
    from jobspec.cloud.build import ensure
    from jobspec.cloud.submit import sigterm_as_interrupt

    with sigterm_as_interrupt():
        done = ensure(image, bucket=chosen.bucket, staging_prefix=chosen.staging_prefix,
                      where=where)
    if as_json:
        out.emit_json({"image": done.image, "built": done.built, "tag": image.tag,
                       "repository": image.repository_name, "build": done.build,
                       "log_url": done.log_url})
    else:
        out.print(done.image)
