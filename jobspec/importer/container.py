"""A custom job on a container image that holds the trainer (`container-image-uri`, gcloud's
--command, or a config's containerSpec) as a bring-your-own-image cloud target: `image:` and
`command:`. The spec still names the trainer's package and module, which local runs use; the
cloud job packages and stages nothing."""

from __future__ import annotations

import os
import re
from datetime import date

from jobspec import runtimes
from jobspec.errors import UsageError
from jobspec.importer.draft import Draft
from jobspec.importer.words import escape, literal
from jobspec.states import DEFAULT_REGION

_PYTHON = re.compile(r"python(?:[0-9]+(?:\.[0-9]+)?)?")
# interpreter options before -m that take no value, and those that take the next word
_SWITCHES = re.compile(r"-[bBdEhiIOPqRsSuvx]+")
_WITH_VALUE = ("-W", "-X")


def module_of(command: list[str]) -> str | None:
    """MODULE when COMMAND runs `python[3[.X]] [options] -m MODULE ...`, else None."""
    if not command or not _PYTHON.fullmatch(os.path.basename(command[0])):
        return None
    i = 1
    while i < len(command):
        word = command[i]
        if word == "-m":
            return command[i + 1] if i + 1 < len(command) else None
        if word.startswith("-m"):
            return word[2:]
        if word in _WITH_VALUE:
            i += 2
        elif _SWITCHES.fullmatch(word) or word[:2] in _WITH_VALUE:
            i += 1
        else:
            return None
    return None


def own_image(image: str, command: list[str] | None, draft: Draft) -> None:
    """IMAGE runs COMMAND in every pool: the target's image: and command:, and the trainer's
    package and module from the `python -m MODULE` in the command."""
    if not command:
        raise UsageError(
            f"the job runs {image} with the image's own entrypoint (no --command, no "
            "containerSpec.command), and a spec's command: must say what runs: add "
            "--command with the image's entrypoint (`docker inspect` shows it)")
    draft.target["image"] = image
    draft.target["command"] = command
    shown = " ".join(command)
    plain = [literal(word) for word in command]
    module = module_of([w for w in plain if w is not None]) if None not in plain else None
    if module is None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*",
                                          module):
        raise UsageError(
            f"the image's command `{shown}` does not run a Python module (python3 -m MODULE), "
            "and a spec names the trainer's module and its package folder even when the image "
            "holds them (local runs use them): import reads them from a command like "
            "`--command=python3,-m,trainer.task`; otherwise write the spec's trainer block "
            "yourself")
    draft.module = module
    top = module.split(".")[0]
    draft.package = escape(top)
    if literal(image) is not None and runtimes.known_image(image) is not None:
        draft.warnings += runtimes.resolve(runtime_version=None, executor_image=None,
                                           image=image, region=DEFAULT_REGION, gpu=False,
                                           today=date.today()).warnings
    draft.notes.append(f"bring your own image: the cloud job runs `{shown}` in {image}, which "
                       "holds the trainer, and nothing is packaged or staged; trainer."
                       f"package_path ({top}/ here) and module are what local runs use")
    draft.warnings.append(f"jobspec passes --job-dir JOB_DIR after the trainer's arguments, so "
                          f"`{shown}` gets it in the cloud too (gcloud did not add it): the "
                          "program must accept --job-dir")
