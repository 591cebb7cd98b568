"""The git commit a job came from, read from the repository's own files (.git/HEAD, the ref it
names, packed-refs) without starting git: run records and claims keep it so a job can be traced
back to its code. Standard library only (records.py, which cached runs import, uses it)."""

from __future__ import annotations

import os
import re

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def _git_dir(folder: str) -> str | None:
    """The .git folder of the repository holding FOLDER (a worktree's .git file followed)."""
    here = os.path.abspath(folder)
    while True:
        dot = os.path.join(here, ".git")
        if os.path.isdir(dot):
            return dot
        if os.path.isfile(dot):
            try:
                with open(dot, encoding="utf-8") as handle:
                    line = handle.readline().strip()
            except (OSError, UnicodeDecodeError):
                return None
            if line.startswith("gitdir:"):
                return os.path.normpath(os.path.join(here, line[len("gitdir:"):].strip()))
            return None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return None


def head_commit(folder: str) -> str | None:
    """The commit HEAD points at in the repository holding FOLDER, or None (no repository, no
    commit yet, or files git would have to be asked about)."""
    git = _git_dir(folder)
    if git is None:
        return None
    head = (_read(os.path.join(git, "HEAD")) or "").strip()
    if _SHA.fullmatch(head):
        return head  # a detached HEAD
    if not head.startswith("ref: "):
        return None
    ref = head[len("ref: "):].strip()
    # a linked worktree keeps its HEAD but shares refs with the main repository
    common = (_read(os.path.join(git, "commondir")) or "").strip()
    shared = os.path.normpath(os.path.join(git, common)) if common else git
    for base in dict.fromkeys((git, shared)):
        found = (_read(os.path.join(base, *ref.split("/"))) or "").strip()
        if _SHA.fullmatch(found):
            return found
    for line in (_read(os.path.join(shared, "packed-refs")) or "").splitlines():
        sha, _, name = line.partition(" ")
        if name.strip() == ref and _SHA.fullmatch(sha):
            return sha
    return None
