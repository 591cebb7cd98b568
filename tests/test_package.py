"""jobspec.package: the sdist pip installs in the cloud, built from real trees in tmp_path."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from jobspec.errors import EXIT_USAGE, JobFailed, JobspecError
from jobspec.package import FIXED_MTIME, Package, build_sdist, write
from jobspec.package_tree import CredentialsFound, Excluded, PackageError

SA_KEY = {
    "type": "service_account",
    "project_id": "p",
    "private_key_id": "abc",
    "private_key": "-----BEGIN PRIVATE KEY-----\n" + "MIIE" * 16 + "\n-----END PRIVATE KEY-----\n",
    "client_email": "sa@p.iam.gserviceaccount.com",
}


def make_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """<repo>/trainer with a module, a subpackage and a data file beside the module."""
    root = tmp_path / "repo"
    make_tree(
        root,
        {
            "trainer/__init__.py": "",
            "trainer/task.py": "import trainer.model\nprint('task ran')\n",
            "trainer/model.py": "VALUE = 42\n",
            "trainer/util/__init__.py": "",
            "trainer/util/io.py": "def read():\n    return 1\n",
            "trainer/vocab.txt": "a\nb\n",
        },
    )
    return root


def members(package: Package) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(package.data), mode="r:gz") as tar:
        return {info.name: info for info in tar.getmembers()}


def read_member(package: Package, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(package.data), mode="r:gz") as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read().decode()


def excluded_map(package: Package) -> dict[str, str]:
    return {e.path: e.reason for e in package.excluded}


def pip_install(sdist: Path, target: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pip", "install", "--no-index", "--no-build-isolation",
            "--no-cache-dir", "--disable-pip-version-check", "--target", str(target),
            str(sdist)]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)


def run_python(code: str, pythonpath: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=30, check=False)  # fmt: skip


def test_generated_sdist_layout_and_entries(repo: Path) -> None:
    package = build_sdist(repo / "trainer")
    assert package.filename == "trainer-0.0.0.tar.gz"
    assert package.build == "generated setup.py"
    assert package.files == (
        "trainer-0.0.0/PKG-INFO",
        "trainer-0.0.0/setup.py",
        "trainer-0.0.0/trainer/__init__.py",
        "trainer-0.0.0/trainer/model.py",
        "trainer-0.0.0/trainer/task.py",
        "trainer-0.0.0/trainer/util/__init__.py",
        "trainer-0.0.0/trainer/util/io.py",
        "trainer-0.0.0/trainer/vocab.txt",
    )
    assert package.excluded == ()
    assert read_member(package, "trainer-0.0.0/PKG-INFO") == (
        "Metadata-Version: 2.1\nName: trainer\nVersion: 0.0.0\n"
    )
    assert read_member(package, "trainer-0.0.0/trainer/task.py") == (
        "import trainer.model\nprint('task ran')\n"
    )


def test_hashes_and_size_describe_the_bytes(repo: Path) -> None:
    package = build_sdist(repo / "trainer")
    assert package.size == len(package.data)
    assert package.sha256 == hashlib.sha256(package.data).hexdigest()
    assert base64.b64decode(package.md5_b64) == hashlib.md5(package.data).digest()


def test_byte_identical_across_builds_and_mtime_changes(repo: Path) -> None:
    first = build_sdist(repo / "trainer")
    assert build_sdist(repo / "trainer").data == first.data
    for path in (repo / "trainer").rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    again = build_sdist(repo / "trainer")
    assert again.data == first.data
    assert again.sha256 == first.sha256


def test_content_change_changes_hash(repo: Path) -> None:
    before = build_sdist(repo / "trainer")
    (repo / "trainer" / "model.py").write_text("VALUE = 43\n")
    assert build_sdist(repo / "trainer").sha256 != before.sha256


def test_archive_metadata_is_normalised(repo: Path) -> None:
    (repo / "trainer" / "run.sh").write_text("#!/bin/sh\n")
    (repo / "trainer" / "run.sh").chmod(0o700)
    (repo / "trainer" / "model.py").chmod(0o600)
    package = build_sdist(repo / "trainer")
    infos = members(package)
    assert list(infos) == sorted(infos)
    for info in infos.values():
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (
            FIXED_MTIME,
            0,
            0,
            "",
            "",
        )
    assert infos["trainer-0.0.0/trainer/util"].isdir()
    assert infos["trainer-0.0.0/trainer/util"].mode == 0o755
    assert infos["trainer-0.0.0/trainer/run.sh"].mode == 0o755
    assert infos["trainer-0.0.0/trainer/model.py"].mode == 0o644
    header = package.data[:10]
    assert header[3] & 0x08 == 0  # no FNAME field
    assert int.from_bytes(header[4:8], "little") == 0  # gzip mtime
    assert gzip.decompress(package.data)  # a valid gzip stream


def test_each_default_exclusion_has_its_reason(repo: Path) -> None:
    pkg = repo / "trainer"
    make_tree(
        pkg,
        {
            ".git/HEAD": "ref: refs/heads/main\n",
            "__pycache__/task.cpython-311.pyc": "x",
            "util/stale.pyc": "x",
            ".env": "TOKEN=1\n",
            ".env.production": "TOKEN=2\n",
            "id_rsa.pub": "ssh-rsa AAA",
            "tls/ca.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "config.json": json.dumps({"type": "service_account_like", "lr": 0.1}),
            "labels.json": json.dumps({"private_key": "not a service account"}),
            ".jobspec/state.json": "{}",
            "trainer.egg-info/PKG-INFO": "x",
            ".DS_Store": "x",
        },
    )
    package = build_sdist(pkg)
    assert excluded_map(package) == {
        "trainer/.DS_Store": "Finder metadata",
        "trainer/.env": "environment file, may hold secrets",
        "trainer/.env.production": "environment file, may hold secrets",
        "trainer/.git": "version control",
        "trainer/.jobspec": "jobspec state",
        "trainer/__pycache__": "bytecode",
        "trainer/trainer.egg-info": "build metadata",
        "trainer/util/stale.pyc": "bytecode",
    }
    files = set(package.files)
    # no credential material: a public key, a certificate, ordinary JSON are packaged
    for kept in ("id_rsa.pub", "tls/ca.pem", "config.json", "labels.json"):
        assert f"trainer-0.0.0/trainer/{kept}" in files
    assert not any(".env" in f or ".git/" in f for f in files)


def test_credential_material_is_refused_not_left_out(repo: Path) -> None:
    pkg = repo / "trainer"
    make_tree(
        pkg,
        {
            "tls/server.pem": "-----BEGIN PRIVATE KEY-----\n" + "MIIEsecret" * 7 + "\n",
            "id_rsa": "key",
            "creds/sa.json": json.dumps(SA_KEY),
            "renamed_key.txt": json.dumps(SA_KEY, indent=2),
        },
    )
    with pytest.raises(CredentialsFound) as err:
        build_sdist(pkg)
    assert {(f.path, f.reason) for f in err.value.findings} == {
        ("trainer/creds/sa.json", "credential JSON with 'private_key' (detected by content)"),
        ("trainer/id_rsa", "SSH private key"),
        ("trainer/renamed_key.txt", "credential JSON with 'private_key' (detected by content)"),
        ("trainer/tls/server.pem", "private key (detected by content)"),
    }
    assert err.value.exit_code == EXIT_USAGE
    assert "MIIE" not in err.value.render()
    allowed = ["trainer/tls/server.pem", "trainer/id_rsa", "trainer/creds/sa.json",
               "trainer/renamed_key.txt"]
    package = build_sdist(pkg, allow_credentials=allowed)
    assert {f"trainer-0.0.0/{path}" for path in allowed} <= set(package.files)
    assert package.excluded == ()
    with pytest.raises(CredentialsFound) as err:  # exact paths only: a folder allows nothing
        build_sdist(pkg, allow_credentials=["trainer/tls", "trainer/creds/", "id_rsa"])
    assert len(err.value.findings) == 4


def test_gitignore_in_package_parent_and_repo_root(repo: Path) -> None:
    workspace = repo / "ml"
    workspace.mkdir()
    (repo / "trainer").rename(workspace / "trainer")
    pkg = workspace / "trainer"
    make_tree(
        repo,
        {
            ".gitignore": "*.ckpt\n",
            "ml/.gitignore": "/trainer/scratch/\n",
            "ml/trainer/.gitignore": "*.log\n!keep.log\n",
            "ml/trainer/util/.gitignore": "local_*.py\n",
            "ml/trainer/model.ckpt": "w",
            "ml/trainer/run.log": "l",
            "ml/trainer/keep.log": "k",
            "ml/trainer/scratch/notes.txt": "n",
            "ml/trainer/util/local_settings.py": "s",
            "ml/trainer/util/local.py": "kept",
        },
    )
    package = build_sdist(pkg, repo_root=repo)
    assert excluded_map(package) == {
        "trainer/model.ckpt": "matched .gitignore: *.ckpt",
        "trainer/run.log": "matched .gitignore: *.log",
        "trainer/scratch": "matched .gitignore: /trainer/scratch/",
        "trainer/util/local_settings.py": "matched .gitignore: local_*.py",
    }
    assert "trainer-0.0.0/trainer/keep.log" in package.files
    assert "trainer-0.0.0/trainer/util/local.py" in package.files
    # without repo_root only the package's and its parent's files apply
    assert "trainer/model.ckpt" not in excluded_map(build_sdist(pkg))


def test_jobspecignore_in_package_and_parent(repo: Path) -> None:
    make_tree(
        repo,
        {
            ".gitignore": "*.csv\n",
            ".jobspecignore": "*.npz\n",
            "trainer/.jobspecignore": "data/\n!small.csv\n!keep.npz\n",
            "trainer/keep.npz": "k",
            "trainer/data/big.bin": "b",
            "trainer/weights.npz": "w",
            "trainer/small.csv": "1,2\n",
            "trainer/other.csv": "3,4\n",
        },
    )
    package = build_sdist(repo / "trainer", repo_root=repo)
    assert excluded_map(package) == {
        "trainer/data": "matched .jobspecignore: data/",
        "trainer/other.csv": "matched .gitignore: *.csv",
        "trainer/weights.npz": "matched .jobspecignore: *.npz",
    }
    assert "trainer-0.0.0/trainer/small.csv" in package.files  # re-included by .jobspecignore
    assert "trainer-0.0.0/trainer/keep.npz" in package.files  # the package's file wins


def test_symlinks_inside_are_followed_and_outside_are_excluded(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secrets"
    make_tree(outside, {"token.txt": "s3cret", "dir/x.py": "x"})
    pkg = repo / "trainer"
    (pkg / "token.txt").symlink_to(outside / "token.txt")
    (pkg / "outdir").symlink_to(outside / "dir", target_is_directory=True)
    (pkg / "alias.py").symlink_to("model.py")
    (pkg / "util" / "up").symlink_to("..", target_is_directory=True)
    (pkg / "dangling.py").symlink_to(pkg / "missing.py")
    (pkg / "hidden_env").symlink_to(".env")
    (pkg / ".env").write_text("TOKEN=1\n")
    make_tree(
        pkg, {".git/config": "[remote]\n", "util/.gitignore": "secret/\n", "util/secret/k": "k"}
    )
    (pkg / "git_config").symlink_to(".git/config")
    (pkg / "k").symlink_to("util/secret/k")
    package = build_sdist(pkg)
    assert excluded_map(package) == {
        "trainer/.env": "environment file, may hold secrets",
        "trainer/.git": "version control",
        "trainer/dangling.py": "broken symlink",
        "trainer/git_config": "symlink to trainer/.git/config: version control",
        "trainer/k": "symlink to trainer/util/secret/k: matched .gitignore: secret/",
        "trainer/util/secret": "matched .gitignore: secret/",
        "trainer/hidden_env": "symlink to trainer/.env: environment file, may hold secrets",
        "trainer/outdir": "symlink leaves package_path",
        "trainer/token.txt": "symlink leaves package_path",
        "trainer/util/up": "symlink loop",
    }
    assert read_member(package, "trainer-0.0.0/trainer/alias.py") == "VALUE = 42\n"
    assert b"s3cret" not in gzip.decompress(package.data)


def test_requirements_land_in_install_requires(repo: Path) -> None:
    package = build_sdist(repo / "trainer", requirements=["numpy>=1.23", "pandas[excel] ==2.1.*"])
    assert read_member(package, "trainer-0.0.0/setup.py") == (
        "from setuptools import find_packages, setup\n\n"
        "setup(\n"
        "    name='trainer',\n"
        "    version='0.0.0',\n"
        "    packages=find_packages(),\n"
        "    include_package_data=True,\n"
        "    install_requires=['numpy>=1.23', 'pandas[excel] ==2.1.*'],\n"
        ")\n"
    )
    assert "Requires-Dist: numpy>=1.23\n" in read_member(package, "trainer-0.0.0/PKG-INFO")


@pytest.mark.parametrize(
    "bad", ["numpy\nimport os", "--index-url=http://x", "", "numpy; os.system('x') `"]
)
def test_invalid_requirement_is_refused(repo: Path, bad: str) -> None:
    with pytest.raises(PackageError) as err:
        build_sdist(repo / "trainer", requirements=["six", bad])
    assert err.value.message == (
        f"trainer.requirements[1]: {bad!r} is not a pip requirement (expected e.g. 'numpy>=1.23')"
    )


def test_generated_sdist_installs_offline_without_data_files(repo: Path, tmp_path: Path) -> None:
    (repo / "trainer" / "reader.py").write_text(
        "import os\nopen(os.path.join(os.path.dirname(__file__), 'vocab.txt')).read()\n"
    )
    sdist = write(build_sdist(repo / "trainer"), tmp_path / "dist")
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = pip_install(sdist, target)
    assert result.returncode == 0, result.stderr
    imported = run_python(
        "import trainer.task, trainer.util.io, trainer.model; print(trainer.model.__file__)",
        target, elsewhere,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines() == ["task ran", str(target / "trainer" / "model.py")]
    assert not (target / "trainer" / "vocab.txt").exists()  # as in the cloud: not declared
    reader = run_python("import trainer.reader", target, elsewhere)
    assert reader.returncode != 0
    assert "FileNotFoundError" in reader.stderr and "vocab.txt" in reader.stderr


def test_write_puts_the_exact_bytes_in_place(repo: Path, tmp_path: Path) -> None:
    package = build_sdist(repo / "trainer")
    path = write(package, tmp_path / "out" / "nested")
    assert path == tmp_path / "out" / "nested" / "trainer-0.0.0.tar.gz"
    assert path.read_bytes() == package.data
    assert write(package, path.parent) == path  # overwriting is fine
    assert sorted(p.name for p in path.parent.iterdir()) == ["trainer-0.0.0.tar.gz"]


def test_own_setup_py_in_parent_is_used(repo: Path) -> None:
    make_tree(
        repo,
        {
            "setup.py": "from setuptools import setup\n"
            "setup(name='mytrainer', version='1.2', packages=['trainer', 'trainer.util'])\n",
            "MANIFEST.in": "include trainer/*.txt\ninclude trainer/.env\n",
            "trainer/.env": "TOKEN=1\n",
        },
    )
    package = build_sdist(repo / "trainer")
    assert package.build == "own setup.py"
    assert package.filename == "mytrainer-1.2.tar.gz"
    assert "mytrainer-1.2/setup.py" in package.files
    assert "mytrainer-1.2/trainer/vocab.txt" in package.files  # setuptools chose it (MANIFEST.in)
    assert excluded_map(package) == {"trainer/.env": "environment file, may hold secrets"}
    assert build_sdist(repo / "trainer").data == package.data  # re-packed deterministically
    with pytest.raises(PackageError, match="cannot be combined with the package's own"):
        build_sdist(repo / "trainer", requirements=["six"])


def test_failing_setup_py_is_a_package_error(repo: Path) -> None:
    (repo / "setup.py").write_text("import sys\nsys.exit('boom from setup.py')\n")
    with pytest.raises(PackageError) as err:
        build_sdist(repo / "trainer")
    assert err.value.message.startswith(f"`python setup.py sdist` in {repo} failed (exit 1):")
    assert "boom from setup.py" in err.value.message


def test_parent_pyproject_of_another_project_is_ignored(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[project]\nname = "jobspec"\nversion = "0.1.0"\n')
    package = build_sdist(repo / "trainer", requirements=["six"])
    assert package.build == "generated setup.py"
    assert package.filename == "trainer-0.0.0.tar.gz"
    assert not any(f.endswith("pyproject.toml") for f in package.files)


def test_own_pyproject_builds_an_installable_sdist(repo: Path, tmp_path: Path) -> None:
    make_tree(
        repo,
        {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
            'build-backend = "setuptools.build_meta"\n\n'
            '[project]\nname = "Trainer"\nversion = "2.0"\n',
            "README.md": "# trainer\n",
            "notes.txt": "not part of the project files",
        },
    )
    package = build_sdist(repo / "trainer")
    assert package.build == "own pyproject.toml"
    assert package.filename == "trainer-2.0.tar.gz"
    assert {"trainer-2.0/PKG-INFO", "trainer-2.0/pyproject.toml", "trainer-2.0/README.md"} <= set(
        package.files
    )
    assert "trainer-2.0/notes.txt" not in package.files
    assert build_sdist(repo / "trainer").data == package.data
    result = pip_install(write(package, tmp_path / "dist"), tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "trainer" / "util" / "io.py").is_file()


def test_missing_init_py_is_refused(tmp_path: Path) -> None:
    make_tree(tmp_path, {"trainer/task.py": "print(1)\n"})
    with pytest.raises(PackageError) as err:
        build_sdist(tmp_path / "trainer")
    assert err.value.message == (
        f"trainer.package_path {tmp_path / 'trainer'} is not a Python package: "
        "it has no __init__.py"
    )
    assert isinstance(err.value, JobspecError) and err.value.exit_code == EXIT_USAGE


def test_ignored_init_py_is_refused(repo: Path) -> None:
    (repo / "trainer" / ".jobspecignore").write_text("__init__.py\n")
    with pytest.raises(PackageError) as err:
        build_sdist(repo / "trainer")
    assert err.value.message == (
        "trainer/__init__.py would not be packaged (matched .jobspecignore: __init__.py), "
        "so nothing could import it"
    )


def test_unimportable_folder_name_is_refused(tmp_path: Path) -> None:
    make_tree(tmp_path, {"my-trainer/__init__.py": ""})
    with pytest.raises(PackageError, match="folder name 'my-trainer' cannot be imported"):
        build_sdist(tmp_path / "my-trainer")


def test_package_outside_repo_needs_opt_in(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    make_tree(other, {"trainer/__init__.py": ""})
    with pytest.raises(PackageError) as err:
        build_sdist(other / "trainer", repo_root=repo)
    assert err.value.message == (
        f"trainer.package_path {other / 'trainer'} is outside the repository {repo}; set "
        "`trainer.allow_outside_repo: true` in the spec to package it anyway"
    )
    package = build_sdist(other / "trainer", repo_root=repo, allow_outside=True)
    assert package.files[-1] == "trainer-0.0.0/trainer/__init__.py"
    assert build_sdist(repo / "trainer", repo_root=repo).excluded == ()


def test_oversized_package_is_refused(repo: Path) -> None:
    with open(repo / "trainer" / "huge.bin", "wb") as sparse:
        sparse.truncate(501 * 2**20)  # sparse: costs no disk and no time
    with pytest.raises(
        PackageError, match=r"the trainer package is over 500 MiB \(at .*huge.bin\)"
    ):
        build_sdist(repo / "trainer")
    (repo / "trainer" / ".jobspecignore").write_text("*.bin\n")
    package = build_sdist(repo / "trainer")
    assert package.excluded == (Excluded("trainer/huge.bin", "matched .jobspecignore: *.bin"),)


def test_own_pyproject_with_a_dynamic_version_is_built_by_its_backend(repo: Path) -> None:
    # the backend computes the version: jobspec no longer needs it written out
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "trainer"\ndynamic = ["version"]\n\n'
        '[tool.setuptools.dynamic]\nversion = {attr = "trainer.__version__"}\n'
    )
    (repo / "trainer" / "__init__.py").write_text('__version__ = "3.1"\n')
    package = build_sdist(repo / "trainer")
    assert (package.build, package.filename) == ("own pyproject.toml", "trainer-3.1.tar.gz")
    assert "Version: 3.1\n" in read_member(package, "trainer-3.1/PKG-INFO")


# --- a project's own build runs in a copy: the project is left exactly as it was -------------

SPEC = """\
version: 1
name: own_build
trainer:
  package_path: trainer
  module: trainer.task
targets:
  local: {}
  cloud:
    project: p
    bucket: my-bucket
    region: us-central1
    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest
"""
OWN_BUILDS = {
    "setup.py": {
        "setup.py": "from setuptools import setup\n"
        "setup(name='mytrainer', version='1.2', packages=['trainer', 'trainer.util'],\n"
        "      py_modules=['helper'])\n",
    },
    "pyproject.toml": {
        "pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "trainer"\nversion = "1.0"\n\n'
        '[tool.setuptools]\npackages = ["trainer", "trainer.util"]\npy-modules = ["helper"]\n',
    },
}


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under root with its kind, size, mtime and content hash."""
    entries: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
            entries[str(path.relative_to(root))] = (info.st_mode, info.st_size,
                                                    info.st_mtime_ns, digest)
    entries["."] = (root.stat().st_mtime_ns,)
    return entries


@pytest.mark.parametrize("own", sorted(OWN_BUILDS))
def test_plan_of_an_own_build_leaves_the_repo_unchanged(
    cli: Any, repo: Path, own: str
) -> None:
    make_tree(repo, {**OWN_BUILDS[own], "helper.py": "HELP = 1\n", "job.yaml": SPEC,
                     "trainer/stale.egg-info/PKG-INFO": "old\n"})
    before = snapshot(repo)
    for target in ("cloud", "local"):
        extra = ("--isolated",) if target == "local" else ()
        out = cli("plan", str(repo / "job.yaml"), "--target", target, *extra, "--json")
        assert out.code == 0, out.err
        package = json.loads(out.out)["package"]
        assert package["build"] == f"own {own}"
        root = package["filename"].removesuffix(".tar.gz")
        assert f"{root}/helper.py" in package["files"]  # py-modules / py_modules kept
        assert f"{root}/trainer/util/io.py" in package["files"]
    assert snapshot(repo) == before  # no <name>.egg-info, no dist/, nothing touched


def test_py_modules_of_an_own_pyproject_are_installed(repo: Path, tmp_path: Path) -> None:
    make_tree(repo, {**OWN_BUILDS["pyproject.toml"], "helper.py": "HELP = 'from helper'\n"})
    package = build_sdist(repo / "trainer")
    assert package.filename == "trainer-1.0.tar.gz"
    result = pip_install(write(package, tmp_path / "dist"), tmp_path / "site")
    assert result.returncode == 0, result.stderr
    ran = run_python("import helper, trainer.model; print(helper.HELP, trainer.model.VALUE)",
                     tmp_path / "site", tmp_path)
    assert ran.stdout == "from helper 42\n", ran.stderr


def test_a_missing_build_backend_is_a_clear_exit_2(cli: Any, repo: Path) -> None:
    make_tree(repo, {
        "job.yaml": SPEC,
        "pyproject.toml": '[build-system]\nrequires = ["absent-backend>=1.0", "wheel"]\n'
        'build-backend = "absent_backend.build"\n\n[project]\nname = "trainer"\nversion = "1"\n',
    })
    out = cli("plan", str(repo / "job.yaml"), "--target", "cloud")
    assert (out.code, out.out) == (EXIT_USAGE, "")
    assert out.err == (
        f"{repo / 'pyproject.toml'} declares the build backend absent_backend.build, which this "
        f"Python ({sys.executable}) cannot import (ModuleNotFoundError: No module named "
        "'absent_backend')\n"
        "  hint: jobspec builds without build isolation, so that it works offline: install the "
        "build requirements beside jobspec with\n"
        f"        {sys.executable} -m pip install 'absent-backend>=1.0' wheel\n"
    )
    assert not any(repo.glob("*.egg-info")) and not (repo / "dist").exists()


def test_a_failing_backend_shows_its_last_lines_not_a_traceback(cli: Any, repo: Path) -> None:
    make_tree(repo, {"job.yaml": SPEC,
                     "setup.py": "print('building...')\nraise SystemExit('no compiler found')\n"})
    out = cli("plan", str(repo / "job.yaml"), "--target", "cloud")
    assert out.code == EXIT_USAGE
    assert out.err.startswith(f"`python setup.py sdist` in {repo} failed (exit 1):\n")
    assert out.err.endswith("no compiler found\n")
    assert "Traceback" not in out.err


# --- proc.run: every way a helper command fails reads as a sentence ----------------------------


def proc_error(argv: list[str], **kwargs: object) -> str:
    from jobspec import proc

    with pytest.raises(PackageError) as caught:
        proc.run(argv, what="the helper", error=PackageError, **kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code == EXIT_USAGE
    return caught.value.message


def test_proc_run_turns_os_errors_into_sentences(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-program")
    assert proc_error([missing]) == f"the helper could not run: {missing} was not found"
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    assert proc_error([str(plain)]) == (
        f"the helper could not run: permission denied running {plain}"
    )
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\x01 not a program")
    garbage.chmod(0o755)
    assert proc_error([str(garbage)]) == (
        f"the helper could not run: {garbage} is not an executable program"
    )
    assert proc_error([sys.executable, "-c", "pass", "x" * 200_000]) == (
        "the helper could not run: its command line is too long for the system "
        f"({len(os.fsencode(sys.executable)) + 1 + 3 + 5 + 200_001:,} bytes of arguments)"
    )
    gone = tmp_path / "gone"
    assert proc_error([sys.executable, "-c", "pass"], cwd=gone) == (
        f"the helper could not run: its folder {gone} does not exist or is not a folder"
    )


def test_proc_run_reports_exits_signals_and_timeouts(tmp_path: Path) -> None:
    from jobspec import proc

    code = "import sys\nprint('to stdout')\nfor i in range(20): print('line', i, file=sys.stderr)\n"
    assert proc_error([sys.executable, "-c", code + "sys.exit(3)"]) == (
        "the helper failed (exit 3):\n" + "\n".join(f"line {i}" for i in range(5, 20))
    )
    assert proc_error([sys.executable, "-c", "print('only stdout'); raise SystemExit(1)"]) == (
        "the helper failed (exit 1):\nonly stdout"
    )
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert proc_error([sys.executable, "-c", kill]) == "the helper failed (killed by SIGKILL)"
    sleep = "import sys, time; print('started', file=sys.stderr, flush=True); time.sleep(30)"
    assert proc_error([sys.executable, "-c", sleep], timeout=1.5) == (
        "the helper did not finish within 1.5 s and was stopped:\nstarted"
    )
    with pytest.raises(JobFailed) as caught:
        proc.run([sys.executable, "-c", "raise SystemExit(2)"], what="pip install",
                 error=PackageError, exit_error=JobFailed)
    assert (caught.value.exit_code, caught.value.message) == (1, "pip install failed (exit 2)")
    done = proc.run([sys.executable, "-c", "print('ok')"], what="the helper")
    assert done.stdout == b"ok\n"


# An in-tree PEP 517 backend (backend-path) that packs every file it is given: what it sees is
# exactly the copy jobspec made of the package root.
PACK_ALL = '''\
import os, tarfile

def build_sdist(sdist_directory, config_settings=None):
    root = "Trainer-5.0"
    path = os.path.join(sdist_directory, root + ".tar.gz")
    with tarfile.open(path, "w:gz", dereference=True) as tar:
        for folder, dirs, files in os.walk("."):
            dirs.sort()
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(folder, name), ".")
                tar.add(rel, arcname=root + "/" + rel)
    open("written-by-the-backend", "w").close()
    return root + ".tar.gz"
'''


def test_an_own_backend_sees_the_project_less_what_is_never_packaged(repo: Path) -> None:
    make_tree(repo, {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "pack_all"\n'
        'backend-path = ["_backend"]\n\n[project]\nname = "trainer"\nversion = "5.0"\n',
        "_backend/pack_all.py": PACK_ALL,
        ".git/config": "[core]\n", ".gitignore": "*.log\n", ".jobspecignore": "/data/\n",
        "data/big.bin": "x" * 1000, "trainer/debug.log": "log\n",
        "trainer/__pycache__/task.cpython-311.pyc": "", "trainer.egg-info/SOURCES.txt": "old\n",
    })
    (repo / "trainer" / "alias.py").symlink_to("model.py")
    package = build_sdist(repo / "trainer")
    assert (package.build, package.filename) == ("own pyproject.toml", "trainer-5.0.tar.gz")
    assert package.files == tuple(f"trainer-5.0/{rel}" for rel in (
        ".gitignore", ".jobspecignore", "_backend/pack_all.py", "pyproject.toml",
        "trainer/__init__.py", "trainer/alias.py", "trainer/model.py", "trainer/task.py",
        "trainer/util/__init__.py", "trainer/util/io.py", "trainer/vocab.txt",
    ))
    assert read_member(package, "trainer-5.0/trainer/alias.py") == "VALUE = 42\n"
    assert not (repo / "written-by-the-backend").exists()
    # what such a backend packs is scanned too; the advice fits a backend without MANIFEST.in
    (repo / "trainer" / "deploy.key").write_bytes(SA_KEY["private_key"].encode())
    with pytest.raises(CredentialsFound) as caught:
        build_sdist(repo / "trainer")
    assert caught.value.render() == (
        "the trainer package would include credential material, so nothing was built or "
        "uploaded:\n"
        "  trainer/deploy.key  private key (detected by content)\n"
        f"  hint: leave it out with this line in {repo / '.jobspecignore'}:\n"
        "            /trainer/deploy.key\n"
        "        or, if a file must ship, allow it by its exact path in the spec:\n"
        "            trainer:\n"
        "              allow_credentials: [trainer/deploy.key]"
    )
    with (repo / ".jobspecignore").open("a") as ignore:
        ignore.write("/trainer/deploy.key\n")
    assert "trainer-5.0/trainer/deploy.key" not in build_sdist(repo / "trainer").files


def test_a_setup_py_without_setuptools_names_pep_517s_fallback(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "bare"  # an interpreter without setuptools, as in a pipx install
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    python = str(venv / "bin" / "python")
    monkeypatch.setattr(sys, "executable", python)
    (repo / "setup.py").write_text("from setuptools import setup\nsetup(name='t', version='1')\n")
    with pytest.raises(PackageError) as caught:
        build_sdist(repo / "trainer")
    assert caught.value.render() == (
        f"the package root {repo} names no [build-system] build-backend, so it is built by "
        f"setuptools.build_meta:__legacy__ (PEP 517), which this Python ({python}) cannot "
        "import (ModuleNotFoundError: No module named 'setuptools')\n"
        "  hint: jobspec builds without build isolation, so that it works offline: install the "
        "build requirements beside jobspec with\n"
        f"        {python} -m pip install 'setuptools>=40.8.0'"
    )
    assert sorted(p.name for p in repo.iterdir()) == ["setup.py", "trainer"]
