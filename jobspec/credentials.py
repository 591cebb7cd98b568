"""Credential material in a trainer package, found by name and by content.

Every file that would go into the sdist (cloud and --isolated alike) passes through here. A file
is credential material when its path says so (`.netrc`, `.aws/credentials`, `id_ed25519`, a
gcloud credential store, shell history, a PKCS#12 bundle, ...) or when its bytes hold a private
key, an OAuth/service-account secret, a kubeconfig user secret or Terraform state. Content is
read in bounded chunks with an overlap, so a key straddling two chunks is still found and a big
file is never decoded or copied whole; the text is also looked at with NUL bytes removed (UTF-16
with or without a BOM) and with `\\u00XX` escapes decoded (JSON written by some tools).

`.env` files are not credential material here: by convention they hold local settings, often no
secret at all, and package.py leaves them out of every package by default (listed as excluded by
`jobspec plan`), so none is uploaded and none blocks a build. A `.env` file's secrets reach the
trainer only through the spec's `env:`, which is masked in output.

Reasons are fixed descriptions: a finding never carries any of the file's content.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
_OVERLAP = 4096  # longer than any pattern below, also in UTF-16 or \u-escaped form

_NAMES = {
    ".netrc": "netrc file (machine logins and passwords)",
    "_netrc": "netrc file (machine logins and passwords)",
    ".pypirc": "PyPI upload credentials (.pypirc)",
    ".git-credentials": "git credential store (.git-credentials)",
    ".npmrc": "npm configuration, holds registry auth tokens (.npmrc)",
    ".dockercfg": "Docker registry credentials (.dockercfg)",
    ".pgpass": "PostgreSQL password file (.pgpass)",
    ".boto": "boto/gsutil credentials (.boto)",
    "credentials.db": "gcloud credential store (credentials.db)",
    "access_tokens.db": "gcloud access-token cache (access_tokens.db)",
    "application_default_credentials.json": "gcloud application-default credentials",
    "kubeconfig": "kubeconfig (cluster credentials)",
    ".history": "shell history",
    ".zhistory": "shell history",
    "fish_history": "shell history",
}
_PATHS = {  # (folder, file) pairs
    (".docker", "config.json"): "Docker registry credentials (.docker/config.json)",
    (".aws", "credentials"): "AWS credentials (.aws/credentials)",
    (".kube", "config"): "kubeconfig (cluster credentials)",
}
_FOLDERS = {
    "legacy_credentials": "gcloud legacy credentials (legacy_credentials/)",
    "terraform.tfstate.d": "Terraform state (secrets in plain text)",
}
_SUFFIXES = (
    (".tfstate", "Terraform state (secrets in plain text)"),
    (".tfstate.backup", "Terraform state (secrets in plain text)"),
    (".kubeconfig", "kubeconfig (cluster credentials)"),
    (".p12", "PKCS#12 key store"),
    (".pfx", "PKCS#12 key store"),
    (".jks", "Java key store"),
    (".keystore", "Java key store"),
    (".ppk", "PuTTY private key"),
)
_SSH_KEY = re.compile(r"^id_(rsa|dsa|ecdsa|ed25519)(_sk)?([._-].*)?$")

# A key or token has no spaces and is no ${VAR} or <placeholder>. Every pattern starts with a
# literal (a look-behind after it checks what precedes): re then scans for the literal, fast.
_JSON_SECRET = (
    rb"%s(?<=[\"']%s)[\"'][ \t\r\n]{0,32}:[ \t\r\n]{0,32}[\"'][^\"'\s$<{][^\"'\s]{7,}"
)
# (literal every match holds, pattern, kind): a pattern runs only on a view holding its literal,
# as bytes.find is far faster than a regex on ordinary files
_PATTERNS = tuple(
    (anchor, re.compile(pattern), kind)
    for anchor, pattern, kind in (
        (b"private_key", _JSON_SECRET % (b"private_key", b"private_key"), "json"),
        (b"refresh_token", _JSON_SECRET % (b"refresh_token", b"refresh_token"), "json"),
        (b"client_secret", _JSON_SECRET % (b"client_secret", b"client_secret"), "json"),
        # the header, then a key's body: a header alone (code checking for one) is no key
        (b"PRIVATE KEY", rb"BEGIN (?<=-----BEGIN |---- BEGIN )[A-Z0-9 ]{0,40}PRIVATE KEY"
         rb"(?: BLOCK)? ?-{4,5}[\s\S]{0,400}?[A-Za-z0-9+/=]{40}", "key"),
        (b"PuTTY-User-Key-File-", rb"PuTTY-User-Key-File-[0-9]+: ", "key"),
        (b"client-key-data", rb"client-key-data:[ \t]*[\"']?[A-Za-z0-9+/=]{16,}", "kube"),
        (b"user:", rb"user:(?<![\w-]user:)[ \t]*\r?\n(?:[ \t]+[^\n]*\n){0,12}?[ \t]+token:"
         rb"[ \t]*[\"']?[A-Za-z0-9._~+/=-]{8,}", "kube"),
        (b'"terraform_version"', rb'"terraform_version"[ \t\r\n]{0,32}:', "tf"),
        (b'"lineage"', rb'"lineage"[ \t\r\n]{0,32}:', "tf"),
    )
)
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+=~-]*(/[A-Za-z0-9_.@+=~-]+)+$")  # YAML-safe
_ESCAPE = re.compile(rb"\\u00([2-7][0-9a-fA-F])")
_PKCS7_DATA = bytes.fromhex("06092a864886f70d0107")  # OID 1.2.840.113549.1.7.{1,2}
_JKS_MAGIC = (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce")


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the package root (the package's parent), posix
    reason: str
    allowable: bool = True  # False: never packaged, whatever the spec says
    remedy: str = "ignore"  # "ignore": an ignore file; "manifest": MANIFEST.in; "edit"
    is_dir: bool = False


def name_reason(rel: str) -> str | None:
    """Why the path alone marks credential material, or None."""
    parts = rel.split("/")
    name = parts[-1]
    if name in _NAMES:
        return _NAMES[name]
    if len(parts) > 1 and (parts[-2], name) in _PATHS:
        return _PATHS[(parts[-2], name)]
    folder = next((p for p in parts[:-1] if p in _FOLDERS), None)
    if folder is not None:
        return _FOLDERS[folder]
    lower = name.lower()
    suffix = next((why for end, why in _SUFFIXES if lower.endswith(end)), None)
    if suffix is not None:
        return suffix
    if name.startswith(".") and name.endswith("_history"):
        return "shell history"
    if name.startswith("kubeconfig"):
        return "kubeconfig (cluster credentials)"
    if _SSH_KEY.fullmatch(name) and not name.endswith((".pub", ".py")):
        return "SSH private key"
    return None


class Scanner:
    """Feed a file's bytes chunk by chunk; `reason` is set once credential material is seen."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._tail = b""
        self._head = True
        self._terraform: set[bytes] = set()

    def feed(self, chunk: bytes) -> None:
        if self.reason is not None or not chunk:
            return
        if self._head:
            self._head = False
            self.reason = _magic_reason(chunk)
        window = self._tail + chunk
        self._tail = window[-_OVERLAP:]
        views = [window]
        if b"\0" in window:  # UTF-16/32 text: ASCII survives with the NULs taken out
            views.append(window.replace(b"\0", b""))
        views += [_ESCAPE.sub(_unescape, v) for v in views if b"\\u00" in v]
        for view in views:
            if self.reason is None:
                self.reason = self._search(view)

    def _search(self, view: bytes) -> str | None:
        for anchor, pattern, kind in _PATTERNS:
            if anchor not in view or pattern.search(view) is None:
                continue
            if kind == "key":
                return "private key (detected by content)"
            if kind == "json":
                return f"credential JSON with {anchor.decode()!r} (detected by content)"
            if kind == "kube":
                return "kubeconfig user credentials (detected by content)"
            self._terraform.add(anchor)
            if len(self._terraform) == 2:
                return "Terraform state (detected by content)"
        return None


def scan_stream(
    read: Callable[[int], bytes], limit: int, *, scan: bool = True
) -> tuple[list[bytes], int, str | None]:
    """Read at most limit + 1 bytes in chunks, scanning them (unless scan is False) as they come.

    Returns (chunks, bytes read, reason); reading stops at the first credential found, so the
    chunks are the whole content only when reason is None."""
    scanner = Scanner()
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = read(min(CHUNK, limit + 1 - size))
        if not chunk:
            break
        size += len(chunk)
        if scan:
            scanner.feed(chunk)
            if scanner.reason is not None:
                return [], size, scanner.reason
        chunks.append(chunk)
    return chunks, size, None


def explain(found: Sequence[Finding], parent: Path) -> tuple[str, str]:
    """(message, hint): every finding, and how to leave each out; never any content."""
    found = sorted(found, key=lambda f: f.path)
    shown = [_shown(f.path) for f in found]
    width = max(len(s) for s in shown)
    lines = [f"  {s.ljust(width)}  {f.reason}" for s, f in zip(shown, found, strict=True)]
    message = (
        "the trainer package would include credential material, so nothing was built or "
        "uploaded:\n" + "\n".join(lines)
    )
    advice = []
    ignore = [f for f in found if f.remedy == "ignore"]
    if ignore:
        advice.append(
            f"leave {'them' if len(ignore) > 1 else 'it'} out with "
            f"{'these lines' if len(ignore) > 1 else 'this line'} in "
            f"{parent / '.jobspecignore'}:"
        )
        advice += [f"    {_ignore_line(f.path, f.is_dir)}" for f in ignore]
    manifest = [f for f in found if f.remedy == "manifest"]
    if manifest:
        advice.append(f"leave {'them' if len(manifest) > 1 else 'it'} out of the sdist in "
                      f"{parent / 'MANIFEST.in'}:")
        advice += [f"    exclude {f.path}" for f in manifest]
    advice += [f"take the secret out of {parent / f.path}" for f in found if f.remedy == "edit"]
    allowable = [f.path for f in found if f.allowable]
    if allowable:
        listed = ", ".join(p if _PLAIN_PATH.fullmatch(p) else json.dumps(p) for p in allowable)
        advice += [
            "or, if a file must ship, allow it by its exact path in the spec:",
            "    trainer:",
            f"      allow_credentials: [{listed}]",
        ]
    return message, "\n        ".join(advice)


def _shown(path: str) -> str:
    """path as is, or JSON-quoted when a terminal would not show it as it is."""
    plain = path.isprintable() and path == path.strip() and '"' not in path
    return path if plain else json.dumps(path)


def _ignore_line(rel: str, is_dir: bool) -> str:
    """A gitignore pattern matching exactly rel, anchored at the package root."""
    escaped = re.sub(r"([\\*?\[\]])", r"\\\1", rel)
    escaped = "".join(ch if ch.isprintable() else "?" for ch in escaped)  # a newline, an escape
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return f"/{escaped}{'/' if is_dir else ''}"


def never_packaged(folder: Path, where: str, *, contents: bool) -> tuple[str, str] | None:
    """(message, hint) if folder is the home folder, above it, or in gcloud's configuration.

    contents: the whole folder may be packaged (setup.py decides), so a gcloud configuration
    folder anywhere inside it is refused too; the walker finds one inside a package instead."""
    real = folder.resolve()
    home = home_dir()
    if home is not None and home.is_relative_to(real):
        what = "your home folder" if real == home else f"above your home folder {home}"
        return (f"{where} is {what}, which is never packaged",
                "point trainer.package_path at the package's own folder inside the project")
    for config in sorted(gcloud_config_dirs()):
        if real.is_relative_to(config) or (contents and config.is_relative_to(real)):
            how = "is inside" if real.is_relative_to(config) else "contains"
            return (f"{where} {how} gcloud's configuration folder {config}, which holds your "
                    "credentials and is never packaged",
                    "keep the trainer package out of gcloud's configuration folder")
    return None


def gcloud_config_dirs() -> frozenset[Path]:
    """gcloud's configuration folders: $CLOUDSDK_CONFIG and the default ~/.config/gcloud."""
    dirs = set()
    configured = os.environ.get("CLOUDSDK_CONFIG")
    if configured:
        dirs.add(Path(configured).expanduser().resolve())
    home = home_dir()
    if home is not None:
        dirs.add((home / ".config" / "gcloud").resolve())
    return frozenset(dirs)


def home_dir() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError, OSError):  # no HOME and no passwd entry
        return None


def _unescape(match: re.Match[bytes]) -> bytes:
    return bytes([int(match[1], 16)])


def _magic_reason(head: bytes) -> str | None:
    if head[:4] in _JKS_MAGIC:
        return "Java key store (detected by content)"
    # PKCS#12 (RFC 7292), DER or BER: SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-data|signed
    try:
        at = _after_header(head, 0, 0x30)
        if head[at : at + 3] != b"\x02\x01\x03":
            return None
        at = _after_header(head, at + 3, 0x30)
    except IndexError:
        return None
    if head[at : at + 10] == _PKCS7_DATA and head[at + 10 : at + 11] in (b"\x01", b"\x02"):
        return "PKCS#12 key store (detected by content)"
    return None


def _after_header(data: bytes, at: int, tag: int) -> int:
    """Offset just past the tag and length of the ASN.1 element at `at`; IndexError if not."""
    if data[at] != tag:
        raise IndexError(at)
    length = data[at + 1]
    if length <= 0x80:  # short form, or 0x80: BER indefinite length
        return at + 2
    count = length & 0x7F
    if count > 4 or at + 2 + count > len(data):
        raise IndexError(at)
    return at + 2 + count
