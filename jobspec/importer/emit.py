"""A draft as spec text: the schema comment, where it came from, then plain YAML."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobspec.importer.draft import Draft
from jobspec.importer.options import OPTION_KEYS
from jobspec.importer.words import Word
from jobspec.project import find_root

_CLOUD_ORDER = ("project", "bucket", "region", "image", "command", "runtime_version",
                "executor_image", "python_version", "scale_tier", "chief", "workers",
                "parameter_servers", "evaluators", "boot_disk", "reservation", "job_dir",
                "job_dir_outside_claim", "labels", "service_account", "network",
                "max_running_time", *OPTION_KEYS)


def schema_line(out_dir: Path) -> str:
    """The editor modeline when the repo keeps jobspec.schema.json; else how to get one (there
    is no published URL to point at)."""
    root = find_root(out_dir)
    if root is not None and (root / "jobspec.schema.json").is_file():
        ref = Path(os.path.relpath(root / "jobspec.schema.json", out_dir)).as_posix()
        return f"# yaml-language-server: $schema={ref}"
    return ("# Editor schema: `jobspec schema > jobspec.schema.json` at the repo root, then add "
            "`# yaml-language-server: $schema=<its path>` here")


def _command_comment(words: Sequence[Word]) -> list[str]:
    """The gcloud command as written, one flag per line, as comment lines."""
    lines: list[str] = []
    user_args = False
    for word in words:
        # words from the command line lost their quotes to the shell: quote them again
        raw = shlex.quote(word.raw) if word.line == 0 else word.raw
        raw = " ".join(raw.split())  # a comment line cannot hold a line break
        if word.text == "--" and not user_args:
            user_args = True
            lines.append(raw)
        elif not lines or (not user_args and raw.startswith("-") and not raw[1:2].isdigit()):
            lines.append(raw)
        else:
            lines[-1] += " " + raw
    return [("#   " if i == 0 else "#       ") + line + (" \\" if i < len(lines) - 1 else "")
            for i, line in enumerate(lines)]


def render(draft: Draft, name: str, package_path: str, words: Sequence[Word],
           out_dir: Path) -> str:
    from jobspec.yamlread import dump

    trainer: dict[str, Any] = {"package_path": package_path, "module": draft.module}
    if draft.requirements:
        trainer["requirements"] = draft.requirements
    data: dict[str, Any] = {"version": 1, "name": name,
                            "description": f"Imported from `{draft.command}`",
                            "trainer": trainer}
    if draft.args:
        data["args"] = draft.args
    if draft.env:
        data["env"] = draft.env
    if draft.tuning is not None:
        data["tuning"] = draft.tuning
    if draft.kind == "cloud":
        cloud = {k: draft.target[k] for k in _CLOUD_ORDER if k in draft.target}
        data["targets"] = {"local": {}, "cloud": cloud}
    else:
        data["targets"] = {"local": draft.target}
    body = dump(data).splitlines()
    if draft.image_comment is not None:  # below the line it would replace
        at = next(i for i, line in enumerate(body)
                  if line.startswith(("    runtime_version:", "    executor_image:")))
        body.insert(at + 1, "    # " + draft.image_comment)
    header = [schema_line(out_dir),
              "# Written by `jobspec import` from:", *_command_comment(words)]
    return "\n".join(header + body) + "\n"
