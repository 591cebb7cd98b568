"""`jobspec validate` over many files prints the same, whether one process checks them all or
forked copies share the work (JOBSPEC_JOBS)."""

from __future__ import annotations

from pathlib import Path

GOOD = ("version: 1\nname: job_{i}\ntrainer: {{package_path: trainer, module: trainer.task}}\n"
        "args: [--i={i}]\ntargets:\n  local: {{}}\n")
BAD = ("version: 1\nname: job_{i}\ntrainer: {{package_path: trainer, modul: trainer.task}}\n"
       "targets:\n  local: {{}}\n")


def test_many_files_give_the_same_output_in_one_or_several_processes(jobspec_proc,
                                                                     tmp_path: Path) -> None:
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text("")
    files = []
    for i in range(80):
        path = tmp_path / f"spec_{i:02d}.yaml"
        path.write_text((BAD if i % 9 == 4 else GOOD).format(i=i))
        files.append(path.name)
    files.insert(57, "missing.yaml")
    one = jobspec_proc("validate", *files, cwd=tmp_path, env={"JOBSPEC_JOBS": "1"})
    two = jobspec_proc("validate", *files, cwd=tmp_path, env={"JOBSPEC_JOBS": "2"})
    assert one.code == two.code == 2
    assert (one.out, one.err) == (two.out, two.err)
    # 9 broken files with two problems each (unknown modul, missing module), one missing file
    assert one.err.splitlines()[-1] == "19 problem(s) in 10 file(s)"
    assert "missing.yaml: no such spec file" in one.err
    firsts = [line for line in one.err.splitlines() if "trainer.modul: unknown key" in line]
    assert [line.split(":")[0] for line in firsts] == [
        f"spec_{i:02d}.yaml" for i in range(80) if i % 9 == 4]  # file order kept
    assert "Traceback" not in one.err + two.err
