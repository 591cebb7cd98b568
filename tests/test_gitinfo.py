"""The commit a run came from: run records and cloud claims keep it (jobspec/gitinfo.py reads
git's own files, without starting git), so `jobspec ui` can show the code behind each job."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from jobspec.gitinfo import head_commit

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c",
       "commit.gpgsign=false", "-c", "init.defaultBranch=main"]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _repo(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "trainer").mkdir()
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "task.py").write_text("print('hi')\n")
    (root / "job.yaml").write_text(
        "version: 1\nname: probe\ntrainer: {package_path: trainer, module: trainer.task}\n"
        "targets:\n  local: {}\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "first")
    return root


def test_a_local_runs_record_keeps_the_commit_it_ran(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    out = cli("run", str(repo / "job.yaml"), "--target", "local", cwd=repo)
    assert out.code == 0, out.err
    (record,) = (repo / ".jobspec" / "runs" / "probe").iterdir()
    plan = json.loads((record / "plan.json").read_text())
    assert plan["commit"] == _git(repo, "rev-parse", "HEAD")


def test_the_commit_is_read_from_loose_packed_detached_and_worktree_heads(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    first = _git(repo, "rev-parse", "HEAD")
    assert head_commit(str(repo / "trainer")) == first  # from a folder inside the repo
    _git(repo, "pack-refs", "--all")  # refs/heads/main now only in packed-refs
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert head_commit(str(repo)) == first
    (repo / "trainer" / "task.py").write_text("print('two')\n")
    _git(repo, "commit", "-q", "-am", "second")
    second = _git(repo, "rev-parse", "HEAD")
    assert second != first and head_commit(str(repo)) == second
    _git(repo, "checkout", "-q", first)  # detached
    assert head_commit(str(repo)) == first
    _git(repo, "checkout", "-q", "main")
    _git(repo, "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"), first)
    assert head_commit(str(tmp_path / "wt" / "trainer")) == first
    assert head_commit(str(tmp_path)) is None  # not in a repository
    bare = tmp_path / "empty"
    bare.mkdir()
    _git(bare, "init", "-q")
    assert head_commit(str(bare)) is None  # no commit yet
