"""`jobspec init`: what it writes validates and runs, it never overwrites without --force, an
existing trainer package is reused untouched, and on a terminal it asks for what is missing.

The interactive test runs jobspec as a real process whose stdin is a pseudo-terminal, so the
TTY check and click's prompts are the real ones.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from jobspec.spec import json_schema


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_flags_scaffold_a_spec_that_validates_runs_locally_and_plans_in_the_cloud(
        tmp_path: Path, cli, jobspec_proc) -> None:
    made = jobspec_proc("init", "--dir", str(tmp_path), "--name", "demo", "--bucket",
                        "gs://my-bucket/", "--region", "europe-west4")
    assert made.code == 0, made.err
    assert sorted(tree(tmp_path)) == ["jobspec.schema.json", "specs/demo.yaml",
                                      "trainer/__init__.py", "trainer/task.py"]
    spec = (tmp_path / "specs" / "demo.yaml").read_text()
    assert spec.splitlines()[0] == "# yaml-language-server: $schema=../jobspec.schema.json"
    assert json.loads((tmp_path / "jobspec.schema.json").read_text()) == json_schema()
    # the default image is one that exists today: nothing to warn about
    assert "    image: python:3.11-slim\n" in spec
    assert "availability" not in made.err

    checked = cli("validate", "specs/demo.yaml", cwd=tmp_path)
    assert (checked.code, checked.out) == (0, "1 spec(s) valid\n")

    ran = jobspec_proc("run", "specs/demo.yaml", "--target", "local", cwd=tmp_path)
    assert ran.code == 0, ran.err
    model = json.loads((tmp_path / "output" / "demo" / "model.json").read_text())
    assert model["steps"] == 200
    assert abs(model["w"] - 3) < 1e-3 and abs(model["b"] - 1) < 1e-3

    plan = jobspec_proc("plan", "specs/demo.yaml", "--target", "cloud", "--json", cwd=tmp_path,
                        env={"GOOGLE_CLOUD_PROJECT": "my-project"})
    assert plan.code == 0, plan.err
    body = json.loads(plan.out)
    assert (body["bucket"], body["region"], body["job_dir"]) == (
        "my-bucket", "europe-west4", "gs://my-bucket/demo")
    assert body["image"] == "python:3.11-slim" and body["mode"] == "container"


def test_without_a_terminal_every_missing_value_takes_its_default(
        tmp_path: Path, cli, jobspec_proc) -> None:
    project = tmp_path / "3rd-Project"
    project.mkdir()
    made = jobspec_proc("init", cwd=project)  # stdin is /dev/null: no prompts
    assert made.code == 0, made.err
    spec = project / "specs" / "rd_Project.yaml"
    assert "bucket: ${JOBSPEC_BUCKET:-my-jobspec-bucket}" in spec.read_text()
    assert cli("validate", str(spec)).code == 0
    # the bucket placeholder is read at run time
    plan = jobspec_proc("plan", str(spec), "--target", "cloud", "--json", cwd=project,
                        env={"GOOGLE_CLOUD_PROJECT": "p", "JOBSPEC_BUCKET": "team-bucket"})
    assert plan.code == 0, plan.err
    assert json.loads(plan.out)["job_dir"] == "gs://team-bucket/rd_Project"
    assert json.loads(plan.out)["image"] == "python:3.11-slim"


def test_a_nested_package_path_and_module_are_created_and_run(
        tmp_path: Path, jobspec_proc) -> None:
    made = jobspec_proc("init", "--dir", str(tmp_path), "--name", "nested", "--package-path",
                        "src/learner", "--module", "learner.jobs.fit")
    assert made.code == 0, made.err
    assert {"src/learner/__init__.py", "src/learner/jobs/__init__.py",
            "src/learner/jobs/fit.py"} <= set(tree(tmp_path))
    assert "  package_path: ../src/learner " in (tmp_path / "specs" / "nested.yaml").read_text()
    ran = jobspec_proc("run", "specs/nested.yaml", "--target", "local", cwd=tmp_path)
    assert ran.code == 0, ran.err
    # the trainer's working directory is the package's parent, so job_dir lands under src/
    assert (tmp_path / "src" / "output" / "nested" / "model.json").is_file()


def test_refuses_to_overwrite_without_force(tmp_path: Path, cli) -> None:
    assert cli("init", "--dir", str(tmp_path), "--name", "demo").code == 0
    spec = tmp_path / "specs" / "demo.yaml"
    spec.write_text(spec.read_text() + "# my edit\n")
    before = tree(tmp_path)

    again = cli("init", "--dir", str(tmp_path), "--name", "demo")
    assert again.code == 2
    assert again.err == ("refusing to overwrite specs/demo.yaml\n"
                         "  hint: pass --force to replace\n")
    assert tree(tmp_path) == before

    forced = cli("init", "--dir", str(tmp_path), "--name", "demo", "--force")
    assert forced.code == 0, forced.err
    assert "# my edit" not in spec.read_text()


def test_an_existing_trainer_package_and_schema_are_reused_untouched(
        tmp_path: Path, cli, jobspec_proc) -> None:
    package = tmp_path / "trainer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(
        "import sys\nprint('my own trainer', sys.argv[1:])\n")
    (tmp_path / "jobspec.schema.json").write_text("{}\n")
    before = tree(tmp_path)

    made = cli("init", "--dir", str(tmp_path), "--name", "mine", "--force")
    assert made.code == 0, made.err
    assert "kept trainer/ (existing package, not modified)" in made.out
    assert "kept jobspec.schema.json" in made.out
    after = tree(tmp_path)
    assert {k: after[k] for k in before} == before
    assert sorted(set(after) - set(before)) == ["specs/mine.yaml"]
    # the scaffold's example args belong to its own trainer, not to this one
    assert "args: []" in after["specs/mine.yaml"].decode()

    ran = jobspec_proc("run", "specs/mine.yaml", "--target", "local", cwd=tmp_path)
    assert ran.code == 0, ran.err
    assert "my own trainer ['--job-dir', 'output/mine']" in ran.out


def test_an_existing_package_without_the_module_gets_a_warning(tmp_path: Path, cli) -> None:
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    made = cli("init", "--dir", str(tmp_path), "--name", "demo")
    assert made.code == 0
    assert ("module trainer.task was not found in the existing package trainer/; "
            "create it before running the job") in made.err
    assert not (tmp_path / "trainer" / "task.py").exists()


def test_bad_values_are_refused_before_anything_is_written(tmp_path: Path, cli) -> None:
    cases = {
        ("--name", "9lives"): "job name '9lives': expected a letter, then letters, digits or "
                              "underscores, at most 128 characters",
        ("--module", "other.task"): "module 'other.task' is not in package 'trainer': "
                                    "expected trainer.SOMETHING",
        ("--package-path", "../outside"): "package path '../outside': expected a folder "
                                          "inside the project, like trainer or src/trainer",
        ("--bucket", "Bad_Bucket"): "bucket 'Bad_Bucket': expected 3-63 lowercase letters",
        ("--region", "mars"): "region 'mars': expected a region like us-central1",
        ("--runtime-version", "1.2"): "runtime_version '1.2' is an AI Platform Training "
                                      "runtime",
        ("--runtime-version", "2.17", "--executor-image", "x"):
            "give --executor-image or --runtime-version, not both",
    }
    for args, message in cases.items():
        refused = cli("init", "--dir", str(tmp_path), *args)
        assert refused.code == 2, args
        assert refused.err.startswith(message), refused.err
        assert list(tmp_path.iterdir()) == [], args


def run_on_a_terminal(args: list[str], answers: list[str], cwd: Path) -> tuple[int, str]:
    """Run jobspec with a pseudo-terminal as stdin, typing ANSWERS one line each."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "jobspec", *args], cwd=cwd,
                                stdin=terminal, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env={**os.environ})
        os.close(terminal)
        # canonical mode: the terminal hands the process one line per read, as typed
        os.write(controller, "".join(a + "\n" for a in answers).encode())
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(controller)
    return proc.returncode, out.decode()


def test_on_a_terminal_missing_values_are_asked_for(tmp_path: Path, cli) -> None:
    answers = [
        "9lives",          # Job name: refused, asked again
        "tty_job",         # Job name
        "",                # Trainer package folder [trainer]
        "",                # Module to run [trainer.task]
        "gs://tty-bucket",  # Cloud Storage bucket
        "",                # Training image [python:3.11-slim]
    ]
    code, out = run_on_a_terminal(["init", "--region", "asia-east1"], answers, tmp_path)
    assert code == 0, out
    assert "Job name [" in out and "Trainer package folder [trainer]" in out
    assert "Module to run (python -m) [trainer.task]" in out
    assert "Error: job name '9lives': expected a letter" in out
    assert "Vertex AI region" not in out  # given as a flag
    spec = (tmp_path / "specs" / "tty_job.yaml").read_text()
    assert "name: tty_job\n" in spec
    assert "    bucket: tty-bucket " in spec
    assert "    image: python:3.11-slim\n" in spec
    assert cli("validate", "specs/tty_job.yaml", cwd=tmp_path).code == 0

