"""Credentials never leave the machine by accident: every file the cloud or --isolated package
would hold is scanned, by name and by content, and jobspec refuses (exit 2) naming each one and
how to leave it out. Each test builds a real package through the real CLI in a tmp project."""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from jobspec.credentials import CHUNK

CLOUD = """\
  cloud:
    project: p
    bucket: my-bucket
    region: us-central1
    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest
"""


def make_project(root: Path, files: dict[str, bytes | str] | None = None,
                 trainer: str = "", package_path: str = "trainer",
                 module: str = "trainer.task") -> Path:
    """<root>/pyproject.toml, <root>/trainer/{__init__,task}.py, FILES; returns the spec."""
    tree: dict[str, bytes | str] = {
        "pyproject.toml": "[tool.other]\n", "trainer/__init__.py": "",
        "trainer/task.py": "print('trained')\n", **(files or {})}
    for rel, content in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    spec = root / "job.yaml"
    spec.write_text(f"version: 1\nname: creds_job\ntrainer:\n  package_path: {package_path}\n"
                    f"  module: {module}\n{trainer}targets:\n  local: {{}}\n{CLOUD}",
                    encoding="utf-8")
    return spec


def plans(cli: Any, spec: Path) -> list[Any]:
    """`plan --target cloud` and `plan --target local --isolated`: the two packages."""
    return [cli("plan", str(spec), "--target", "cloud", "--json"),
            cli("plan", str(spec), "--target", "local", "--isolated", "--json")]


def refused(cli: Any, spec: Path, secret: str) -> str:
    """Both packages refused with exit 2; the secret is nowhere in the output; stderr."""
    cloud, isolated = plans(cli, spec)
    for out in (cloud, isolated):
        assert out.code == 2, (out.out, out.err)
        assert out.out == ""
        assert "Traceback" not in out.err
        assert not secret or secret not in out.err
    assert cloud.err == isolated.err
    return str(cloud.err)


def package_files(cli: Any, spec: Path) -> set[str]:
    cloud, isolated = plans(cli, spec)
    assert cloud.code == 0, cloud.err
    assert isolated.code == 0, isolated.err
    files = set(json.loads(cloud.out)["package"]["files"])
    assert files == set(json.loads(isolated.out)["package"]["files"])
    return files


# --- real key material ------------------------------------------------------------------------


@cache
def keys() -> dict[str, bytes]:
    crypto = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem, raw = crypto.Encoding.PEM, crypto.NoEncryption()
    return {
        "openssh": ed25519.Ed25519PrivateKey.generate().private_bytes(
            pem, crypto.PrivateFormat.OpenSSH, raw),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
            pem, crypto.PrivateFormat.TraditionalOpenSSL, raw),
        "ec": ec_key.private_bytes(pem, crypto.PrivateFormat.TraditionalOpenSSL, raw),
        "encrypted": ec_key.private_bytes(pem, crypto.PrivateFormat.PKCS8,
                                          crypto.BestAvailableEncryption(b"pw")),
        "pkcs12": pkcs12.serialize_key_and_certificates(
            b"me", ec_key, None, None, crypto.BestAvailableEncryption(b"pw")),
    }


def body(pem: bytes) -> str:
    """A line from inside the key: what must never be printed."""
    return pem.decode().splitlines()[2]


def sa_json() -> dict[str, str]:
    return {"type": "service_account", "project_id": "p", "private_key_id": "k1d",
            "private_key": keys()["rsa"].decode(), "client_email": "sa@p.iam.gserviceaccount.com"}


AUTHORIZED_USER = {"type": "authorized_user", "client_id": "123.apps.googleusercontent.com",
                   "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": "1//0gSECRETrt"}
KUBE_KEY = ("apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n"
            "    client-certificate-data: LS0tQ0VSVA==\n"
            "    client-key-data: LS0tS0VZc2VjcmV0a2V5\n")
KUBE_TOKEN = ("apiVersion: v1\nkind: Config\nclusters: []\nusers:\n- name: ci\n  user:\n"
              "    token: eyJhbGciOiJSUzI1NiIsImtpZCI6IkpXVCJ9.kubeSECRET\n")
TFSTATE = json.dumps({"version": 4, "terraform_version": "1.9.0", "serial": 3,
                      "lineage": "0b2c7e4e-8a36-4a0e-b3c9-2c1f4a1b2c3d", "outputs": {
                          "db_password": {"value": "tfSECRETpw", "type": "string"}}})


def escaped(text: str, names: tuple[str, ...]) -> str:
    """TEXT with each of NAMES written with \\u escapes, as some JSON writers do."""
    for name in names:
        text = text.replace(f'"{name}"', '"' + "".join(f"\\u{ord(c):04x}" for c in name) + '"')
    return text


# (id, path in the package, content, text that must not be printed, reason jobspec gives)
KINDS: list[tuple[str, str, Any, str, str]] = [
    ("openssh-key", "deploy_key", lambda: keys()["openssh"], lambda: body(keys()["openssh"]),
     "private key (detected by content)"),
    ("rsa-key-as-.key", "tls/server.key", lambda: keys()["rsa"], lambda: body(keys()["rsa"]),
     "private key (detected by content)"),
    ("ec-key-in-txt", "notes.txt", lambda: b"my key:\n" + keys()["ec"],
     lambda: body(keys()["ec"]), "private key (detected by content)"),
    ("encrypted-key-pem", "tls/key.pem", lambda: keys()["encrypted"],
     lambda: body(keys()["encrypted"]), "private key (detected by content)"),
    ("service-account", "sa.json", lambda: json.dumps(sa_json()).encode(),
     lambda: body(keys()["rsa"]), "credential JSON with 'private_key' (detected by content)"),
    ("authorized-user", "adc_copy.json", lambda: json.dumps(AUTHORIZED_USER).encode(),
     "d-FL95Q19q7MQmFpd7hHD0Ty", "credential JSON with 'refresh_token' (detected by content)"),
    ("service-account-utf16-bom", "sa16.json", lambda: json.dumps(sa_json()).encode("utf-16"),
     lambda: body(keys()["rsa"]), "credential JSON with 'private_key' (detected by content)"),
    ("service-account-utf16le-no-bom", "sa16le.json",
     lambda: json.dumps(sa_json(), indent=2).encode("utf-16-le"), lambda: body(keys()["rsa"]),
     "credential JSON with 'private_key' (detected by content)"),
    ("authorized-user-utf16be-no-bom", "adc16be.json",
     lambda: json.dumps(AUTHORIZED_USER).encode("utf-16-be"), "d-FL95Q19q7MQmFpd7hHD0Ty",
     "credential JSON with 'refresh_token' (detected by content)"),
    ("refresh-token-u-escaped", "token.json",
     lambda: escaped(json.dumps({"refresh_token": "1//0gSECRETrt"}), ("refresh_token",)).encode(),
     "SECRETrt", "credential JSON with 'refresh_token' (detected by content)"),
    ("private-key-all-u-escaped", "k.json",
     lambda: json.dumps({"private_key": keys()["ec"].decode()}, ensure_ascii=True)
     .replace("-", "\\u002d").replace('"private_key"', '"\\u0070rivate_key"').encode(),
     lambda: body(keys()["ec"]), "credential JSON with 'private_key' (detected by content)"),
    ("netrc", ".netrc", b"machine example.com login me password hunter2SECRET\n",
     "hunter2SECRET", "netrc file (machine logins and passwords)"),
    ("pypirc", "conf/.pypirc", b"[pypi]\nusername = __token__\npassword = pypi-SECRET\n",
     "pypi-SECRET", "PyPI upload credentials (.pypirc)"),
    ("git-credentials", ".git-credentials", b"https://me:ghp_SECRET@github.com\n", "ghp_SECRET",
     "git credential store (.git-credentials)"),
    ("npmrc", ".npmrc", b"//registry.npmjs.org/:_authToken=npm_SECRET\n", "npm_SECRET",
     "npm configuration, holds registry auth tokens (.npmrc)"),
    ("docker-config", ".docker/config.json", b'{"auths": {"r": {"auth": "ZG9ja2VyU0VDUkVU"}}}',
     "ZG9ja2VyU0VDUkVU", "Docker registry credentials (.docker/config.json)"),
    ("aws-credentials", ".aws/credentials",
     b"[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = awsSECRET\n",
     "awsSECRET", "AWS credentials (.aws/credentials)"),
    ("kubeconfig-by-name", ".kube/config", KUBE_KEY.encode(), "c2VjcmV0a2V5",
     "kubeconfig (cluster credentials)"),
    ("kubeconfig-client-key", "clusters/prod.yaml", KUBE_KEY.encode(), "c2VjcmV0a2V5",
     "kubeconfig user credentials (detected by content)"),
    ("kubeconfig-token", "ci.yaml", KUBE_TOKEN.encode(), "kubeSECRET",
     "kubeconfig user credentials (detected by content)"),
    ("terraform-state", "infra/terraform.tfstate", TFSTATE.encode(), "tfSECRETpw",
     "Terraform state (secrets in plain text)"),
    ("terraform-state-by-content", "infra/state.json", TFSTATE.encode(), "tfSECRETpw",
     "Terraform state (detected by content)"),
    ("bash-history", ".bash_history", b"export TOKEN=histSECRET\n", "histSECRET",
     "shell history"),
    ("zsh-history", "home/.zsh_history", b": 1:0;mysql -pzshSECRET\n", "zshSECRET",
     "shell history"),
    ("p12-by-name", "certs/client.p12", b"not really a key store", "", "PKCS#12 key store"),
    ("pfx-by-name", "certs/client.pfx", b"not really a key store", "", "PKCS#12 key store"),
    ("pkcs12-by-content", "bundle.bin", lambda: keys()["pkcs12"], "",
     "PKCS#12 key store (detected by content)"),
    ("ssh-key-by-name", "id_ed25519", b"whatever is in it", "", "SSH private key"),
    ("ssh-key-renamed", "keys/id_rsa_work", b"whatever is in it", "", "SSH private key"),
    ("putty-key-by-content", "keys/server.txt",
     b"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\nputtySECRET\n",
     "puttySECRET", "private key (detected by content)"),
    ("java-keystore-by-content", "store.bin", b"\xfe\xed\xfe\xed\x00\x00\x00\x02jksSECRET",
     "jksSECRET", "Java key store (detected by content)"),
    ("gcloud-credentials-db", "gcloud/credentials.db", b"SQLite format 3\0", "",
     "gcloud credential store (credentials.db)"),
    ("gcloud-access-tokens", "gcloud/access_tokens.db", b"SQLite format 3\0", "",
     "gcloud access-token cache (access_tokens.db)"),
    ("gcloud-adc", "application_default_credentials.json",
     lambda: json.dumps(AUTHORIZED_USER).encode(), "d-FL95Q19q7MQmFpd7hHD0Ty",
     "gcloud application-default credentials"),
    ("gcloud-legacy-credentials", "gcloud/legacy_credentials/me@x.com/adc.json", b"{}", "",
     "gcloud legacy credentials (legacy_credentials/)"),
]


@pytest.mark.parametrize(("rel", "content", "secret", "reason"),
                         [k[1:] for k in KINDS], ids=[k[0] for k in KINDS])
def test_each_kind_of_credential_is_refused_in_both_packages(
        cli: Any, tmp_path: Path, rel: str, content: Any, secret: str, reason: str) -> None:
    data = content() if callable(content) else content
    spec = make_project(tmp_path, {f"trainer/{rel}": data})
    err = refused(cli, spec, secret() if callable(secret) else secret)
    path = f"trainer/{rel}"
    assert err == (
        "the trainer package would include credential material, so nothing was built or "
        "uploaded:\n"
        f"  {path}  {reason}\n"
        f"  hint: leave it out with this line in {tmp_path / '.jobspecignore'}:\n"
        f"            /{path}\n"
        "        or, if a file must ship, allow it by its exact path in the spec:\n"
        "            trainer:\n"
        f"              allow_credentials: [{path}]\n"
    )


# --- the advice works when followed --------------------------------------------------------------

THREE = {"trainer/.netrc": "machine m login l password netrcSECRET\n",
         "trainer/keys/sa.json": json.dumps(AUTHORIZED_USER),
         "trainer/util/.aws/credentials": "[default]\naws_secret_access_key = awsSECRET\n"}


def test_every_file_is_named_with_its_reason_and_the_advice(cli: Any, tmp_path: Path) -> None:
    spec = make_project(tmp_path, THREE)
    err = refused(cli, spec, "SECRET")
    assert err == (
        "the trainer package would include credential material, so nothing was built or "
        "uploaded:\n"
        "  trainer/.netrc                 netrc file (machine logins and passwords)\n"
        "  trainer/keys/sa.json           credential JSON with 'refresh_token' (detected by "
        "content)\n"
        "  trainer/util/.aws/credentials  AWS credentials (.aws/credentials)\n"
        f"  hint: leave them out with these lines in {tmp_path / '.jobspecignore'}:\n"
        "            /trainer/.netrc\n"
        "            /trainer/keys/sa.json\n"
        "            /trainer/util/.aws/credentials\n"
        "        or, if a file must ship, allow it by its exact path in the spec:\n"
        "            trainer:\n"
        "              allow_credentials: [trainer/.netrc, trainer/keys/sa.json, "
        "trainer/util/.aws/credentials]\n"
    )


def test_the_advised_ignore_lines_leave_the_files_out(cli: Any, tmp_path: Path) -> None:
    spec = make_project(tmp_path, THREE)
    err = refused(cli, spec, "SECRET")
    lines = re.findall(r"^ {12}(/\S+)$", err, re.M)
    assert len(lines) == 3
    (tmp_path / ".jobspecignore").write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = package_files(cli, spec)
    assert not any("netrc" in f or "sa.json" in f or ".aws" in f for f in files)
    text = cli("plan", str(spec), "--target", "cloud")
    assert text.code == 0, text.err
    assert "  excluded  trainer/.netrc: matched .jobspecignore: /trainer/.netrc\n" in text.out


def test_a_gitignored_credential_is_not_packaged_and_not_refused(cli: Any,
                                                                 tmp_path: Path) -> None:
    spec = make_project(tmp_path, {**THREE, ".gitignore": ".netrc\nkeys/\n.aws/\n"})
    files = package_files(cli, spec)
    assert "trainer-0.0.0/trainer/task.py" in files
    assert not any("netrc" in f or "sa.json" in f or ".aws" in f for f in files)


def test_the_advised_allow_list_ships_exactly_those_files(cli: Any, tmp_path: Path) -> None:
    spec = make_project(tmp_path, THREE)
    err = refused(cli, spec, "SECRET")
    (allow,) = re.findall(r"^ +(allow_credentials: \[.*\])$", err, re.M)
    partial = allow.replace("trainer/keys/sa.json, ", "")
    spec.write_text(spec.read_text().replace("targets:", f"  {partial}\ntargets:"))
    err = refused(cli, spec, "SECRET")  # one file left: still refused, and only it is named
    assert "  trainer/keys/sa.json  credential JSON with 'refresh_token'" in err
    assert "trainer/.netrc" not in err
    spec.write_text(spec.read_text().replace(partial, allow))
    files = package_files(cli, spec)
    assert {"trainer-0.0.0/trainer/.netrc", "trainer-0.0.0/trainer/keys/sa.json",
            "trainer-0.0.0/trainer/util/.aws/credentials"} <= files


@pytest.mark.parametrize("bad", ["/abs/key.pem", "../trainer/key.pem", "trainer//key.pem",
                                 "trainer/./key.pem", "trainer\\key.pem", "trainer/", ""])
def test_allow_credentials_takes_exact_relative_paths(cli: Any, tmp_path: Path,
                                                      bad: str) -> None:
    line = f"  allow_credentials: [ok/x, {json.dumps(bad)}]"
    spec = make_project(tmp_path, trainer=line + "\n")
    out = cli("validate", str(spec))
    assert out.code == 2
    assert out.err.startswith(
        f"{spec}:6:{line.index(json.dumps(bad)) + 1}: trainer.allow_credentials[1]: {bad!r} is "
        "not an exact path relative to the package's parent folder (expected e.g. "
        f"trainer/keys/test_key.pem, as `jobspec plan` names it)\n    6 | {line}\n")


# --- content read in chunks ------------------------------------------------------------------


def test_a_large_binary_file_is_scanned_across_chunk_boundaries(cli: Any,
                                                                 tmp_path: Path) -> None:
    noise = random.Random(9).randbytes(3 * CHUNK)
    header = (b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
              b"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbmbigSECRET\n")
    straddling = noise[: CHUNK - 17] + header + noise[CHUNK:]  # the header spans chunks 1 and 2
    third_chunk = noise[: 2 * CHUNK + 5] + header + noise[2 * CHUNK + 5:]
    utf16 = noise[: CHUNK - 40] + json.dumps(AUTHORIZED_USER).encode("utf-16-le") + noise[:CHUNK]
    spec = make_project(tmp_path, {"trainer/clean.bin": noise,
                                   "trainer/weights/a.bin": straddling,
                                   "trainer/weights/b.bin": third_chunk,
                                   "trainer/weights/c.bin": utf16})
    err = refused(cli, spec, "bigSECRET")
    assert "trainer/clean.bin" not in err  # 3 MiB of random bytes: no false alarm
    assert re.findall(r"^  (trainer/\S+) +(.+)$", err, re.M) == [
        ("trainer/weights/a.bin", "private key (detected by content)"),
        ("trainer/weights/b.bin", "private key (detected by content)"),
        ("trainer/weights/c.bin", "credential JSON with 'refresh_token' (detected by content)"),
    ]


# --- what a project's own setup.py or pyproject.toml puts in the sdist ------------------------


def test_own_setup_py_build_scans_what_setuptools_packed(cli: Any, tmp_path: Path) -> None:
    spec = make_project(tmp_path, {
        "setup.py": "from setuptools import setup\n"
                    "setup(name='mytrainer', version='1.0', packages=['trainer'])\n",
        "MANIFEST.in": "include trainer/*.json\ninclude trainer/.netrc\n",
        "trainer/sa.json": json.dumps(sa_json()),
        "trainer/.netrc": "machine m login l password netrcSECRET\n"})
    err = refused(cli, spec, body(keys()["rsa"]))
    assert err == (
        "the trainer package would include credential material, so nothing was built or "
        "uploaded:\n"
        "  trainer/.netrc   netrc file (machine logins and passwords)\n"
        "  trainer/sa.json  credential JSON with 'private_key' (detected by content)\n"
        f"  hint: leave them out of the sdist in {tmp_path / 'MANIFEST.in'}:\n"
        "            exclude trainer/.netrc\n"
        "            exclude trainer/sa.json\n"
        "        or, if a file must ship, allow it by its exact path in the spec:\n"
        "            trainer:\n"
        "              allow_credentials: [trainer/.netrc, trainer/sa.json]\n")
    advised = re.findall(r"^ {12}(exclude \S+)$", err, re.M)
    with (tmp_path / "MANIFEST.in").open("a", encoding="utf-8") as manifest:
        manifest.write("\n".join(advised) + "\n")
    files = package_files(cli, spec)
    assert "mytrainer-1.0/trainer/task.py" in files
    assert not any(f.endswith(("sa.json", ".netrc")) for f in files)


def test_own_pyproject_build_scans_the_project_files(cli: Any, tmp_path: Path) -> None:
    spec = make_project(tmp_path, {
        "pyproject.toml": '[project]\nname = "trainer"\nversion = "1.0"\n',
        "README.md": "# setup\nuse this key:\n" + keys()["ec"].decode()})
    err = refused(cli, spec, body(keys()["ec"]))
    assert err == (
        "the trainer package would include credential material, so nothing was built or "
        "uploaded:\n"
        "  README.md  private key (detected by content)\n"
        f"  hint: take the secret out of {tmp_path / 'README.md'}\n"
        "        or, if a file must ship, allow it by its exact path in the spec:\n"
        "            trainer:\n"
        '              allow_credentials: ["README.md"]\n')


# --- what is never packaged --------------------------------------------------------------------


def test_a_symlink_to_credentials_is_named_by_its_own_path(cli: Any, tmp_path: Path) -> None:
    spec = make_project(tmp_path, {"trainer/private/.netrc": "machine m password netrcSECRET\n",
                                   "trainer/private/key": keys()["ec"]})
    (tmp_path / "trainer" / "innocent.txt").symlink_to("private/key")
    (tmp_path / "trainer" / "conf").symlink_to("private/.netrc")
    err = refused(cli, spec, body(keys()["ec"]))
    assert re.findall(r"^  (trainer/\S+) +(.+)$", err, re.M) == [
        ("trainer/conf", "netrc file (machine logins and passwords)"),  # by the target's name
        ("trainer/innocent.txt", "private key (detected by content)"),
        ("trainer/private/.netrc", "netrc file (machine logins and passwords)"),
        ("trainer/private/key", "private key (detected by content)"),
    ]
    # ignoring the real files leaves the links out too
    (tmp_path / "trainer" / ".jobspecignore").write_text("/private/\n")
    files = package_files(cli, spec)
    assert not any(f.endswith(("conf", "innocent.txt", "key", ".netrc")) for f in files)


def test_env_files_are_left_out_not_refused(cli: Any, tmp_path: Path) -> None:
    spec = make_project(tmp_path, {"trainer/.env": "API_KEY=envSECRET\n"})
    out = cli("plan", str(spec), "--target", "cloud")
    assert out.code == 0, out.err
    assert "  excluded  trainer/.env: environment file, may hold secrets\n" in out.out
    assert "envSECRET" not in out.out + out.err


def test_package_root_above_the_project_root_is_refused(cli: Any, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    spec = make_project(project, {"__init__.py": ""}, package_path=".",
                        module="proj.trainer.task")
    (tmp_path / "setup.py").write_text("raise SystemExit('setup.py above the project ran')\n")
    for out in plans(cli, spec):
        assert out.code == 2
        assert out.err == (
            f"trainer.package_path {project} is the project root itself, so the package root "
            f"(its parent {tmp_path}) would be above the project\n"
            "  hint: move the package into a folder of its own inside the project, or set "
            "`trainer.allow_outside_repo: true` in the spec to package it anyway\n")
    outside = make_project(tmp_path / "other", package_path="../proj", module="proj.trainer.task")
    out = cli("plan", str(outside), "--target", "cloud")
    assert (out.code, out.err) == (2, (
        f"trainer.package_path {project} is outside the repository {tmp_path / 'other'}; set "
        "`trainer.allow_outside_repo: true` in the spec to package it anyway\n"))
    # explicitly allowed: the package root above the project is used, setup.py and all
    spec.write_text(spec.read_text().replace("targets:", "  allow_outside_repo: true\ntargets:"))
    out = cli("plan", str(spec), "--target", "cloud")
    assert out.code == 2 and "setup.py above the project ran" in out.err
    (tmp_path / "setup.py").unlink()
    assert "proj-0.0.0/proj/trainer/task.py" in package_files(cli, spec)


@pytest.mark.parametrize("above", [False, True])
def test_the_home_folder_is_never_packaged(cli: Any, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, above: bool) -> None:
    home = tmp_path / "users" / "me"
    package = home.parent if above else home
    home.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text("")
    (home / ".bash_history").write_text("export TOKEN=histSECRET\n")
    monkeypatch.setenv("HOME", str(home))
    spec = make_project(tmp_path / "work", trainer="  allow_outside_repo: true\n",
                        package_path=f"../users{'' if above else '/me'}",
                        module=f"{package.name}.task")
    what = f"above your home folder {home}" if above else "your home folder"
    for out in plans(cli, spec):
        assert (out.code, out.err) == (2, (
            f"trainer.package_path {package} is {what}, which is never packaged\n"
            "  hint: point trainer.package_path at the package's own folder inside the project\n"))


def test_gcloud_config_folder_inside_the_package_is_refused(
        cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "trainer" / "cfg"
    spec = make_project(tmp_path, {"trainer/cfg/active_config": "default\n",
                                   "trainer/cfg/configurations/config_default": "[core]\n"})
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(config))
    err = refused(cli, spec, "")
    assert err == (
        "the trainer package would include credential material, so nothing was built or "
        "uploaded:\n"
        "  trainer/cfg  gcloud's configuration folder\n"
        f"  hint: leave it out with this line in {tmp_path / '.jobspecignore'}:\n"
        "            /trainer/cfg/\n")  # and no allow_credentials advice: it cannot be allowed
    spec.write_text(spec.read_text().replace(
        "targets:", "  allow_credentials: [trainer/cfg, trainer/cfg/active_config]\ntargets:"))
    assert refused(cli, spec, "") == err
    (tmp_path / ".jobspecignore").write_text("/trainer/cfg/\n")
    assert not any("/cfg/" in f for f in package_files(cli, spec))


def test_a_package_inside_gcloud_config_folder_is_refused(
        cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    config = home / ".config" / "gcloud"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLOUDSDK_CONFIG", raising=False)
    spec = make_project(config / "proj")
    for out in plans(cli, spec):
        assert (out.code, out.err) == (2, (
            f"trainer.package_path {config / 'proj' / 'trainer'} is inside gcloud's "
            f"configuration folder {config}, which holds your credentials and is never packaged\n"
            "  hint: keep the trainer package out of gcloud's configuration folder\n"))


def test_a_setup_py_package_root_containing_gcloud_config_is_refused(
        cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_project(tmp_path, {
        "setup.py": "raise SystemExit('setup.py ran')\n", "gcloud/active_config": "default\n"})
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    for out in plans(cli, spec):
        assert (out.code, out.err) == (2, (
            f"the package root {tmp_path} (it has a setup.py) contains gcloud's configuration "
            f"folder {tmp_path / 'gcloud'}, which holds your credentials and is never packaged\n"
            "  hint: keep the trainer package out of gcloud's configuration folder\n"))


# --- run stops before anything is installed or uploaded ----------------------------------------


def test_run_isolated_refuses_before_installing(jobspec_proc: Any, tmp_path: Path) -> None:
    spec = make_project(tmp_path, THREE)
    done = jobspec_proc("run", str(spec), "--target", "local", "--isolated", cwd=tmp_path)
    assert done.code == 2, done.err
    assert done.err.startswith("the trainer package would include credential material")
    assert "  trainer/.netrc  " in done.err and "SECRET" not in done.out + done.err
    assert "trained" not in done.out and "installing" not in done.err


def test_run_cloud_uploads_nothing_then_only_what_is_left(cli: Any, cloud_env: Any,
                                                          tmp_path: Path) -> None:
    spec = make_project(tmp_path, THREE)
    args = ("run", str(spec), "--target", "cloud", "--detach",
            "--set", f"targets.cloud.bucket={cloud_env.bucket}",
            "--set", f"targets.cloud.project={cloud_env.project}")
    out = cli(*args)
    assert out.code == 2, out.err
    assert "SECRET" not in out.out + out.err
    assert cloud_env.gcs.list_objects(cloud_env.bucket) == []  # no claim, no package
    assert cloud_env.vertex.jobs == {}
    lines = re.findall(r"^ {12}(/\S+)$", out.err, re.M)
    (tmp_path / ".jobspecignore").write_text("\n".join(lines) + "\n")
    out = cli(*args)
    assert out.code == 0, out.err
    (staged,) = [o for o in cloud_env.gcs.list_objects(cloud_env.bucket) if o.endswith(".tar.gz")]
    data = cloud_env.gcs.read_object(cloud_env.bucket, staged)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    assert "trainer-0.0.0/trainer/task.py" in names
    assert not any("netrc" in n or "sa.json" in n or ".aws" in n for n in names), names
    assert b"SECRET" not in gzip.decompress(data)


def test_ordinary_files_that_look_alike_are_packaged(cli: Any, tmp_path: Path) -> None:
    look_alike = {
        "trainer/auth.py": "def key(creds):\n    return creds['private_key'], creds.get("
                           "'refresh_token')\n# the file holds -----BEGIN PRIVATE KEY-----?\n",
        "trainer/client.json": json.dumps({"client_secret": "${CLIENT_SECRET}",
                                           "refresh_token": "<your token>",
                                           "private_key": "not a key"}),
        "trainer/db.yaml": "db:\n  user:\n    name: ml\n    password: ${DB_PASSWORD}\n",
        "trainer/tls/ca.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "trainer/keys/id_ed25519.pub": "ssh-ed25519 AAAAC3Nza me@host\n",
        "trainer/keys/public.pem": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n",
        "trainer/history.py": "HISTORY = []\n",
        "trainer/data.bin": bytes(range(256)) * 64,
    }
    files = package_files(cli, make_project(tmp_path, look_alike))
    assert {f"trainer-0.0.0/{rel}" for rel in look_alike} <= files


def test_odd_file_names_are_shown_quoted_and_the_advice_still_works(cli: Any,
                                                                    tmp_path: Path) -> None:
    names = ["weird[1]*.key", "sp ace?.txt", "trail ", "x\x1b[31mred"]
    spec = make_project(tmp_path, {f"trainer/{n}": keys()["ec"] for n in names})
    err = refused(cli, spec, body(keys()["ec"]))
    assert "\x1b" not in err  # a terminal escape in a file name is not replayed
    assert '  "trainer/x\\u001b[31mred"  private key (detected by content)\n' in err
    assert '  "trainer/trail "          private key' in err and "  trainer/sp ace?.txt  " in err
    lines = re.findall(r"^ {12}(/.+)$", err, re.M)
    (tmp_path / ".jobspecignore").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert package_files(cli, spec) == {"trainer-0.0.0/PKG-INFO", "trainer-0.0.0/setup.py",
                                        "trainer-0.0.0/trainer/__init__.py",
                                        "trainer-0.0.0/trainer/task.py"}
