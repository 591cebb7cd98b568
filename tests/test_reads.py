"""A spec reads only what it should (issue 9, item 3): `extends` stays inside the project unless
the user allows a folder, reads regular spec files only, never blocks and never shows a line of
a file that is not a spec; every input is bounded; local status/logs take job names only.

Each outside or non-spec file holds CANARY: no output of any command may contain it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CANARY = "CANARY-7f3e9a"
BASE = ("version: 1\nname: base_job\ntrainer:\n  package_path: trainer\n  module: trainer.task\n"
        "targets:\n  local: {}\n")
NOT_A_JOB_NAME = ["../x", "a/b", "x\n", "", "../../outside/x", "."]


@pytest.fixture(autouse=True)
def _no_allow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBSPEC_EXTENDS_ALLOW", raising=False)


def _project(tmp_path: Path) -> Path:
    """tmp/proj (a project: pyproject.toml) with a trainer and specs/; tmp/outside beside it,
    holding a base spec with CANARY on a line that an error about it would show."""
    proj = tmp_path / "proj"
    (proj / "trainer").mkdir(parents=True)
    (proj / "trainer" / "__init__.py").write_text("")
    (proj / "trainer" / "task.py").write_text("print('trained')\n")
    (proj / "specs").mkdir()
    (proj / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "base.yaml").write_text(BASE + f"secret_key: {CANARY}\n")
    return proj


def _child(proj: Path, extends: str, name: str = "job.yaml") -> Path:
    spec = proj / "specs" / name
    spec.write_text(f"# a child spec\nextends: {extends}\nname: child_job\n")
    return spec


def _shown(out: object) -> str:
    return getattr(out, "out", "") + getattr(out, "err", "")


# ---------------------------------------------------------------------------------------------
# extends: inside the project only


@pytest.mark.parametrize("how", ["absolute", "dot-dot", "symlink-inside"])
def test_extends_outside_the_project_is_refused_unread(cli, tmp_path: Path, how: str) -> None:
    proj = _project(tmp_path)
    base = tmp_path / "outside" / "base.yaml"
    if how == "absolute":
        extends = str(base)
    elif how == "dot-dot":
        extends = "../../outside/base.yaml"
    else:  # a link inside the project that leads out of it
        (proj / "shared.yaml").symlink_to(base)
        extends = "../shared.yaml"
    spec = _child(proj, extends)
    for command in (["validate", str(spec)], ["plan", str(spec), "--target", "local"]):
        out = cli(*command)
        assert out.code == 2, out.err
        assert out.err.startswith(
            f"{spec}:2:10: extends: {extends} is outside the project ({proj}): extends reads "
            "only files inside it; to allow another folder, name it in the environment "
            "variable JOBSPEC_EXTENDS_ALLOW (folders separated by ':')\n"
            f"    2 | extends: {extends}\n")
        assert CANARY not in _shown(out)


def test_the_user_allows_a_folder_and_nothing_in_the_repo_can(cli, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    proj = _project(tmp_path)
    outside = tmp_path / "outside"
    (outside / "base.yaml").write_text(BASE.replace("targets:", "args: [--from-outside]\n"
                                                    "targets:"))
    spec = _child(proj, "../../outside/base.yaml")
    # what a pull request could change: the project's pyproject.toml and the spec's own env
    (proj / "pyproject.toml").write_text(
        f"[project]\nname = 'proj'\n[tool.jobspec]\nextends-allow = ['{outside}']\n")
    spec.write_text(spec.read_text() + f"env: {{JOBSPEC_EXTENDS_ALLOW: '{outside}'}}\n")
    refused = cli("validate", str(spec))
    assert refused.code == 2 and "is outside the project" in refused.err
    (proj / "pyproject.toml").write_text("[project]\nname = 'proj'\n")  # no such setting

    monkeypatch.setenv("JOBSPEC_EXTENDS_ALLOW", os.pathsep.join([str(tmp_path / "nope"),
                                                                 str(outside)]))
    (proj / "trainer").rename(outside / "trainer")  # the base's package_path is its own
    allowed = cli("plan", str(spec), "--target", "local", "--json")
    assert allowed.code == 0, allowed.err
    (proc,) = json.loads(allowed.out)["processes"]
    assert proc["argv"][1:4] == ["-m", "trainer.task", "--from-outside"]
    assert proc["cwd"] == str(outside)

    # the allowed folder, not its neighbours
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "base.yaml").write_text(BASE + f"secret_key: {CANARY}\n")
    elsewhere = _child(proj, "../../other/base.yaml", "elsewhere.yaml")
    out = cli("validate", str(elsewhere))
    assert out.code == 2 and "is outside the project" in out.err
    assert CANARY not in _shown(out)


def test_without_a_project_extends_stays_in_the_spec_folder(cli, tmp_path: Path) -> None:
    folder = tmp_path / "loose"  # no pyproject.toml or .git above it
    folder.mkdir()
    (tmp_path / "base.yaml").write_text(BASE + f"secret_key: {CANARY}\n")
    (folder / "job.yaml").write_text("extends: ../base.yaml\nname: child_job\n")
    out = cli("validate", str(folder / "job.yaml"))
    assert out.code == 2
    assert f"is outside the project ({folder})" in out.err
    assert CANARY not in _shown(out)


# ---------------------------------------------------------------------------------------------
# extends: regular files that are specs, nothing else, nothing shown


def test_a_fifo_is_refused_at_once(jobspec_proc, tmp_path: Path) -> None:
    proj = _project(tmp_path)
    os.mkfifo(proj / "pipe.yaml")
    spec = _child(proj, "../pipe.yaml")
    out = jobspec_proc("validate", str(spec), timeout=30)  # a blocked open would time out
    assert out.code == 2
    assert (f"{spec}:2:10: extends: {proj / 'pipe.yaml'}: is a FIFO (named pipe), not a "
            "regular file; nothing of it was read") in out.err
    direct = jobspec_proc("validate", str(proj / "pipe.yaml"), timeout=30)
    assert direct.code == 2
    assert direct.err.startswith(f"{proj / 'pipe.yaml'}: is a FIFO (named pipe), not a regular "
                                 "file; nothing of it was read")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_unread(jobspec_proc, tmp_path: Path, device: str) -> None:
    proj = _project(tmp_path)
    (proj / "dev.yaml").symlink_to(device)
    spec = _child(proj, "../dev.yaml")
    # allowed, so the file's kind is what refuses it
    out = jobspec_proc("validate", str(spec), env={"JOBSPEC_EXTENDS_ALLOW": "/dev"}, timeout=30)
    assert out.code == 2
    assert (f"extends: {proj / 'dev.yaml'}: is a character device, not a regular file; "
            "nothing of it was read") in out.err
    direct = jobspec_proc("validate", device, timeout=30)
    assert direct.code == 2
    assert direct.err.startswith(f"{device}: is a character device, not a regular file")


def test_a_folder_or_a_socket_is_refused(cli, tmp_path: Path) -> None:
    import socket

    proj = _project(tmp_path)
    (proj / "folder.yaml").mkdir()
    spec = _child(proj, "../folder.yaml")
    out = cli("validate", str(spec))
    assert out.code == 2
    assert (f"{spec}:2:10: extends: {proj / 'folder.yaml'}: is a folder, not a regular file; "
            "nothing of it was read") in out.err
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(proj / "sock.yaml"))
        spec = _child(proj, "../sock.yaml")
        out = cli("validate", str(spec))
    assert out.code == 2
    assert (f"{spec}:2:10: extends: {proj / 'sock.yaml'}: is a socket, not a regular file; "
            "nothing of it was read") in out.err


def test_a_huge_base_is_refused_from_its_size(cli, tmp_path: Path) -> None:
    proj = _project(tmp_path)
    with open(proj / "huge.yaml", "wb") as fh:  # sparse: 8 GiB that take no room
        fh.write(f"version: 1\nsecret_key: {CANARY}\n".encode())
        fh.truncate(8 << 30)
    spec = _child(proj, "../huge.yaml")
    out = cli("validate", str(spec))
    assert out.code == 2
    assert (f"{spec}:2:10: extends: ../huge.yaml: file is larger than 1 MiB (8,589,934,592 "
            "bytes); a job file never needs to be") in out.err
    assert CANARY not in _shown(out)


NOT_SPECS = [
    pytest.param("creds.yaml", f"[default]\naws_secret_access_key = {CANARY}\n".encode(),
                 "it is not a mapping of spec keys",
                 id="not-yaml"),
    pytest.param("keys.yaml", f"api_key: {CANARY}\nregion: x\n".encode(),
                 "it has no `version: 1`, and it has top-level keys that a spec does not have",
                 id="other-keys"),
    pytest.param("compose.yml", f"version: '3.8'\nservices:\n  db:\n    environment:\n"
                 f"      PASSWORD: {CANARY}\n".encode(),
                 "it has no `version: 1`, and it has top-level keys that a spec does not have",
                 id="docker-compose"),
    pytest.param("list.yaml", f"- password: {CANARY}\n".encode(),
                 "it has no `version: 1`, and it has top-level keys that a spec does not have",
                 id="a-list"),
    pytest.param("plain.yaml", f"just some text {CANARY}\n".encode(),
                 "it is not a mapping of spec keys", id="a-scalar"),
    pytest.param("latin1.yaml", f"password: caf\xe9 {CANARY}\n".encode("latin-1"),
                 "it has no `version: 1`, and it has top-level keys that a spec does not have",
                 id="not-utf8"),
    pytest.param("tabs.yaml", f"token:\t{CANARY}\n\tbad: [\n".encode(),
                 "it has no `version: 1`, and it has top-level keys that a spec does not have",
                 id="yaml-syntax-error"),
]


@pytest.mark.parametrize(("name", "content", "why"), NOT_SPECS)
def test_a_base_that_is_not_a_spec_shows_none_of_its_lines(cli, tmp_path: Path, name: str,
                                                           content: bytes, why: str) -> None:
    proj = _project(tmp_path)
    (proj / name).write_bytes(content)
    spec = _child(proj, f"../{name}")
    out = cli("validate", str(spec))
    assert out.code == 2
    assert out.err == (
        f"{spec}:2:10: extends: ../{name} is not a spec file: {why}; no line of it is shown\n"
        f"    2 | extends: ../{name}\n"
        "      |          ^\n"
        "1 problem(s) in 1 file(s)\n")


@pytest.mark.parametrize("name", ["notes.txt", "base.json", "Makefile"])
def test_a_base_must_be_named_like_a_spec(cli, tmp_path: Path, name: str) -> None:
    proj = _project(tmp_path)
    (proj / name).write_text(f"version: 1\nsecret_key: {CANARY}\n")
    spec = _child(proj, f"../{name}")
    out = cli("validate", str(spec))
    assert out.code == 2
    assert (f"{spec}:2:10: extends: expected the path of a base spec file ending in .yaml or "
            f".yml, got '../{name}'") in out.err
    assert CANARY not in _shown(out)


def test_a_broken_base_that_is_a_spec_still_shows_its_line(cli, tmp_path: Path) -> None:
    proj = _project(tmp_path)
    (proj / "base.yaml").write_text(BASE.replace("module:", "modul:"))
    out = cli("validate", str(_child(proj, "../base.yaml")))
    assert out.code == 2
    assert f"{proj / 'base.yaml'}:5:3: trainer.modul: unknown key" in out.err
    assert "    5 |   modul: trainer.task" in out.err


# ---------------------------------------------------------------------------------------------
# the SPEC argument itself


def test_a_spec_argument_that_is_not_a_spec_shows_none_of_its_lines(jobspec_proc,
                                                                    tmp_path: Path) -> None:
    proj = _project(tmp_path)
    (proj / "credentials").write_text(f"[default]\naws_secret_access_key = {CANARY}\n")
    (proj / "secrets.yaml").write_text(f"api_key: {CANARY}\n")
    (proj / "specs" / "env.yaml").symlink_to("/proc/self/environ")
    (proj / "specs" / "leak.yaml").symlink_to(proj / "credentials")
    out = jobspec_proc("validate", "credentials", "secrets.yaml", "specs/env.yaml",
                       "specs/leak.yaml", cwd=proj, env={"SOME_TOKEN": CANARY})
    assert out.code == 2
    assert CANARY not in _shown(out)
    lines = out.err.splitlines()
    assert lines[0] == ("credentials:1:1: not a spec file: its name does not end in .yaml or "
                        ".yml; no line of it is shown")
    assert lines[1] == ("secrets.yaml:1:1: not a spec file: it has no `version: 1`, and it has "
                        "top-level keys that a spec does not have; no line of it is shown")
    assert lines[2].startswith("specs/env.yaml:1:1: not a spec file: it is a link to /proc/")
    assert lines[3] == (f"specs/leak.yaml:1:1: not a spec file: it is a link to "
                        f"{os.path.realpath(proj / 'credentials')}, and that name does not end "
                        "in .yaml or .yml; no line of it is shown")
    assert lines[4:] == ["4 problem(s) in 4 file(s)"]


# ---------------------------------------------------------------------------------------------
# chain depth


def test_an_extends_chain_has_at_most_16_files(cli, tmp_path: Path) -> None:
    proj = _project(tmp_path)
    chain = proj  # beside trainer/, which BASE names
    (chain / "b16.yaml").write_text(BASE)
    for i in range(1, 16):  # b1 -> b2 -> ... -> b16: 16 files
        (chain / f"b{i}.yaml").write_text(f"extends: b{i + 1}.yaml\nargs: [--from-b{i}]\n")
    ok = cli("plan", str(chain / "b1.yaml"), "--target", "local", "--json")
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["processes"][0]["argv"][3] == "--from-b1"
    (chain / "b0.yaml").write_text("extends: b1.yaml\n")  # 17 files
    out = cli("validate", str(chain / "b0.yaml"))
    assert out.code == 2
    assert out.err.splitlines()[:2] == [
        f"{chain / 'b15.yaml'}:1:10: extends: more than 16 files in the extends chain (from "
        f"{chain / 'b0.yaml'}); merge some of the base files",
        "    1 | extends: b16.yaml",
    ]


# ---------------------------------------------------------------------------------------------
# size bounds on the other inputs


def test_import_reads_a_bounded_command(cli, tmp_path: Path) -> None:
    big = tmp_path / "cmd.sh"
    big.write_text("gcloud ai-platform local train --module-name trainer.task "
                   "--package-path trainer/ \\\n" + f"# {CANARY}\n" * 30_000)
    out = cli("import", "--file", str(big))
    assert out.code == 2
    assert out.err == (f"--file {big} is larger than 262,144 bytes; a gcloud command never needs "
                       "to be (nothing of it was imported)\n")
    endless = cli("import", "--file", "/dev/zero")
    assert endless.code == 2 and "--file /dev/zero is larger than 262,144 bytes" in endless.err
    string = cli("import", "--string", "gcloud " + "x" * 300_000)
    assert string.code == 2
    assert string.err == ("--string is longer than 262,144 characters; a gcloud command never "
                          "needs to be\n")


def test_import_reads_a_bounded_stdin(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "jobspec", "import", "--file", "-"]
    big = b"gcloud ai-platform local train --module-name trainer.task \\\n" + b"#" * 400_000
    done = subprocess.run(command, input=big, capture_output=True, cwd=tmp_path, timeout=30)
    assert done.returncode == 2
    assert done.stderr.decode() == ("stdin is larger than 262,144 bytes; a gcloud command never "
                                    "needs to be (nothing of it was imported)\n")
    small = b"gcloud ai-platform local train --module-name trainer.task --package-path trainer/\n"
    done = subprocess.run(command, input=small, capture_output=True, cwd=tmp_path, timeout=30)
    assert done.returncode == 0, done.stderr
    assert b"module: trainer.task" in done.stdout


def test_a_huge_pyproject_is_refused(cli, tmp_path: Path) -> None:
    with open(tmp_path / "pyproject.toml", "wb") as fh:
        fh.write(f"[tool.jobspec]\ndefault-spec = '{CANARY}.yaml'\n".encode())
        fh.truncate(4 << 30)
    out = cli("validate", cwd=tmp_path)
    assert out.code == 2
    assert out.err.startswith(f"{tmp_path / 'pyproject.toml'}: cannot be read: is larger than "
                              "1 MiB (4,294,967,296 bytes)")
    assert CANARY not in _shown(out)


# ---------------------------------------------------------------------------------------------
# local records: job names only, bounded reads


def _decoy(proj: Path) -> None:
    """A run record one folder above .jobspec/runs, where `../x` would lead."""
    run = proj / ".jobspec" / "x" / "20260101T000000.000000Z"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "succeeded", "start": CANARY}))
    (run / "log").write_text(f"{CANARY}\n")


@pytest.mark.parametrize("name", NOT_A_JOB_NAME)
@pytest.mark.parametrize("command", ["status", "logs"])
def test_local_status_and_logs_take_job_names_only(cli, tmp_path: Path, name: str,
                                                    command: str) -> None:
    proj = _project(tmp_path)
    _decoy(proj)
    out = cli(command, name, "--target", "local", cwd=proj)
    assert (out.code, out.out) == (2, "")
    assert CANARY not in _shown(out)
    assert out.err == (f"{name!r} is not a job name: a letter, then letters, digits or "
                       "underscores, at most 128 characters\n")


def test_list_shows_job_names_only(cli, tmp_path: Path) -> None:
    proj = _project(tmp_path)
    runs = proj / ".jobspec" / "runs"
    for folder in ("good_job", "bad name", "x\n"):
        run = runs / folder / "20260101T000000.000000Z"
        run.mkdir(parents=True)
        (run / "status.json").write_text(json.dumps({"state": "succeeded", "start": "t"}))
    out = cli("list", cwd=proj)
    assert out.code == 0, out.err
    assert [line.split()[0] for line in out.out.splitlines()] == ["NAME", "good_job"]
    bad = cli("list", "--target", "../x", cwd=proj)
    assert bad.code == 2 and "Traceback" not in bad.err


def test_records_that_are_not_small_files_neither_block_nor_flood(cli, jobspec_proc,
                                                                   tmp_path: Path) -> None:
    proj = _project(tmp_path)
    run = proj / ".jobspec" / "runs" / "job" / "20260101T000000.000000Z"
    run.mkdir(parents=True)
    with open(run / "status.json", "wb") as fh:  # sparse: 4 GiB read whole would not fit
        fh.write(b'{"state": "succeeded", "start": "')
        fh.truncate(4 << 30)
    (run / "log").symlink_to("/dev/zero")  # an endless read would time out, or fill memory
    status = cli("status", "job", "--json", cwd=proj)
    assert status.code == 0, status.err
    assert json.loads(status.out)["state"] == "unknown"
    logs = jobspec_proc("logs", "job", cwd=proj, timeout=30)  # in a process: it could hang
    assert logs.code == 2
    assert logs.err == (f"{run / 'log'}: cannot be read: is a character device, not a regular "
                        "file\n")
    (proj / ".jobspec" / "groups").mkdir()
    os.mkfifo(proj / ".jobspec" / "groups" / "grp.json")
    group = cli("status", "grp", cwd=proj)
    assert group.code == 2
    assert group.err.startswith("no job named 'grp': looked in .jobspec/runs/")


def test_import_shows_no_line_of_a_config_that_is_not_yaml_or_json(cli, jobspec_proc,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(f"[default]\nkey = {CANARY}\n")
    command = ["import", "--", "gcloud", "ai-platform", "jobs", "submit", "training", "job1",
               "--module-name", "trainer.task", "--package-path", "trainer/",
               "--region", "us-central1", "--config"]
    out = cli(*command, "credentials", cwd=tmp_path)
    assert out.code == 2
    assert out.err == "credentials:2:1: YAML syntax error: did not find expected <document start>\n"
    # a process of its own: its /proc/self/environ holds the canary
    out = jobspec_proc(*command, "/proc/self/environ", cwd=tmp_path, env={"SOME_TOKEN": CANARY})
    assert out.code == 2
    assert out.err.startswith("/proc/self/environ:1:")
    assert len(out.err.splitlines()) == 1  # the problem, no source line
    assert CANARY not in _shown(out)
    (tmp_path / "config.yaml").write_text("trainingInput: [\n")
    out = cli(*command, "config.yaml", cwd=tmp_path)
    assert out.code == 2
    assert "    1 | trainingInput: [" in out.err  # a config file's own lines are still shown


def test_a_job_name_ends_at_its_last_character(cli, tmp_path: Path) -> None:
    proj = _project(tmp_path)
    (proj / "spec.yaml").write_text(BASE.replace("name: base_job", 'name: "job\\n"'))
    out = cli("validate", str(proj / "spec.yaml"))
    assert out.code == 2
    assert "name: expected a letter, then letters, digits or underscores, at most 128 " \
           "characters, got 'job\\n'" in out.err
