"""The one place that decides which Google Cloud project, region and endpoints jobspec uses.

The order is the one Google's own tools follow:

1. the spec (the target's `project:` / `region:`);
2. the environment: GOOGLE_CLOUD_PROJECT, then CLOUDSDK_CORE_PROJECT; CLOUDSDK_AI_REGION;
3. the active gcloud configuration, read from its files without running gcloud:
   $CLOUDSDK_CONFIG (default ~/.config/gcloud), the name in CLOUDSDK_ACTIVE_CONFIG_NAME or in
   the file `active_config` (default `default`), then `configurations/config_NAME`, an INI
   file with `[core] project` and `[ai] region`;
4. the project Application Default Credentials report (cloud path only, lazily: jobspec.gcp);
5. the default region, us-central1 (a project has no default).

Endpoints: CLOUDSDK_API_ENDPOINT_OVERRIDES_{AIPLATFORM,LOGGING} (or the same keys under
`[api_endpoint_overrides]` in the gcloud configuration), else the public regional and global
ones; image builds use CLOUDSDK_API_ENDPOINT_OVERRIDES_{CLOUDBUILD,ARTIFACTREGISTRY} the same
way (build_endpoints); Cloud Storage: STORAGE_EMULATOR_HOST, else the public endpoint. Each
value keeps where it came from, which `plan` prints. Nothing here imports google.*.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jobspec.errors import UsageError
from jobspec.states import DEFAULT_REGION

PROJECT_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
REGION_VARIABLE = "CLOUDSDK_AI_REGION"
AIPLATFORM_OVERRIDE = "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM"
LOGGING_OVERRIDE = "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING"
STORAGE_EMULATOR = "STORAGE_EMULATOR_HOST"
LOGGING_ENDPOINT = "https://logging.googleapis.com/"
# gcloud's names for the image-build APIs' overrides; their public endpoints are the rootUrl of
# the shipped discovery documents cloudbuild.v1 and artifactregistry.v1 (read 2026-11-27)
BUILD_OVERRIDES = {"cloudbuild": ("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBUILD",
                                  "https://cloudbuild.googleapis.com/"),
                   "artifactregistry": ("CLOUDSDK_API_ENDPOINT_OVERRIDES_ARTIFACTREGISTRY",
                                        "https://artifactregistry.googleapis.com/")}
STORAGE_ENDPOINT = "https://storage.googleapis.com"
ADC = "Application Default Credentials"


@dataclass(frozen=True)
class GcloudConfig:
    """The active gcloud configuration's values jobspec uses, as read from its file."""

    name: str
    path: Path
    values: Mapping[tuple[str, str], str]  # (section, key) -> value
    problem: str | None = None  # why the file could not be read, if it could not

    @property
    def label(self) -> str:
        return f"gcloud configuration {self.name!r} ({self.path})"

    def get(self, section: str, key: str) -> str | None:
        value = self.values.get((section, key), "").strip()
        return value or None


def gcloud_folder(env: Mapping[str, str]) -> Path | None:
    """gcloud's configuration folder: $CLOUDSDK_CONFIG, else ~/.config/gcloud (%APPDATA%\\gcloud
    on Windows); None for an environment with neither (nothing to read)."""
    configured = env.get("CLOUDSDK_CONFIG")
    if configured:
        return Path(configured).expanduser()
    if os.name == "nt" and env.get("APPDATA"):
        return Path(env["APPDATA"]) / "gcloud"
    home = env.get("HOME")
    return Path(home) / ".config" / "gcloud" if home else None


def read_gcloud_config(env: Mapping[str, str], folder: Path | None = None) -> GcloudConfig:
    """The active configuration, read as gcloud reads it; a missing file holds no values."""
    folder = gcloud_folder(env) if folder is None else folder
    name = (env.get("CLOUDSDK_ACTIVE_CONFIG_NAME") or "").strip()
    if folder is None:
        return GcloudConfig(name or "default", Path("~/.config/gcloud"), {},
                            "no folder: neither CLOUDSDK_CONFIG nor HOME is set")
    if not name:
        try:
            name = (folder / "active_config").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            name = ""
    name = name or "default"
    path = folder / "configurations" / f"config_{name}"
    if "/" in name or "\\" in name or name.startswith("."):
        return GcloudConfig(name, path, {}, "not a configuration name")
    import configparser  # only when a value is needed from the configuration

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return GcloudConfig(name, path, {}, "no such file")
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return GcloudConfig(name, path, {}, f"cannot be read: {reason.splitlines()[0]}")
    values = {(section, key): value for section in parser.sections()
              for key, value in parser.items(section)}
    return GcloudConfig(name, path, values)


@dataclass(frozen=True)
class CloudContext:
    """Project, region and endpoints for one command, each with where it came from."""

    project: str | None
    project_from: str
    region: str
    region_from: str
    aiplatform: str
    aiplatform_from: str
    logging: str
    logging_from: str
    storage: str
    storage_from: str
    looked: tuple[str, ...] = ()  # where a project was looked for, and why each gave none

    def with_adc(self, project: str | None, note: str = "") -> CloudContext:
        """The context once Application Default Credentials were asked for a project."""
        if self.project is not None:
            return self
        if project:
            _check("project", project, ADC)
            return dataclasses.replace(self, project=project, project_from=ADC)
        return dataclasses.replace(self, looked=(*self.looked, f"{ADC} ({note or 'no project'})"))

    def require_project(self, what: str = "this command") -> str:
        if self.project is None:
            raise UsageError(f"no Google Cloud project for {what}: looked in "
                             + "; ".join(self.looked),
                             hint="set `project:` in the cloud target, or GOOGLE_CLOUD_PROJECT, "
                             "or run `gcloud config set project PROJECT`")
        return self.project

    def aiplatform_for(self, region: str) -> str:
        """The Vertex AI endpoint for another region (a claim's), with the same override."""
        return aiplatform_endpoint(region, None) if self.aiplatform_from == "region" else (
            self.aiplatform)

    def sources(self) -> dict[str, dict[str, str | None]]:
        return {"project": {"value": self.project, "from": self.project_from},
                "region": {"value": self.region, "from": self.region_from},
                "aiplatform": {"value": self.aiplatform, "from": self.aiplatform_from},
                "logging": {"value": self.logging, "from": self.logging_from},
                "storage": {"value": self.storage, "from": self.storage_from}}


def aiplatform_endpoint(region: str, override: str | None) -> str:
    return override if override else f"https://{region}-aiplatform.googleapis.com/"


def _check(what: str, value: str, source: str) -> None:
    from jobspec.spec import PROJECT_RE, REGION_RE

    pattern = PROJECT_RE if what == "project" else REGION_RE
    if not pattern.fullmatch(value):
        example = "my-project" if what == "project" else DEFAULT_REGION
        raise UsageError(f"{source} gives {what} {value!r}: expected a {what} like {example}",
                         hint=f"correct or unset it, or set `{what}:` in the cloud target")


def resolve(project: str | None, region: str | None, env: Mapping[str, str],
            folder: Path | None = None, *, spec_label: str = "spec") -> CloudContext:
    """Project, region and endpoints from the spec's values (None when the target does not
    set them), the environment and the active gcloud configuration; no ADC (with_adc)."""
    gcloud = _Gcloud(env, folder)
    found, project_from, looked = resolve_project(project, env, gcloud, spec_label=spec_label)
    region, region_from = resolve_region(region, env, gcloud, spec_label=spec_label)
    (aiplatform, aiplatform_from), (logging, logging_from), (storage, storage_from) = (
        _endpoints(region, env, gcloud))
    return CloudContext(
        project=found, project_from=project_from, region=region, region_from=region_from,
        aiplatform=aiplatform, aiplatform_from=aiplatform_from, logging=logging,
        logging_from=logging_from, storage=storage, storage_from=storage_from, looked=looked)


class _Gcloud:
    """The active gcloud configuration, read once and only if a value is needed from it."""

    def __init__(self, env: Mapping[str, str], folder: Path | None = None) -> None:
        self.env, self.folder = env, folder
        self._config: GcloudConfig | None = None

    def __call__(self) -> GcloudConfig:
        if self._config is None:
            self._config = read_gcloud_config(self.env, self.folder)
        return self._config


def resolve_project(project: str | None, env: Mapping[str, str],
                    gcloud: Callable[[], GcloudConfig] | None = None, *,
                    spec_label: str = "spec") -> tuple[str | None, str, tuple[str, ...]]:
    """The project, where it came from, and where it was looked for in vain (no ADC)."""
    if project:
        return project, spec_label, ()
    gcloud = gcloud or _Gcloud(env)
    looked = [f"the target's `project:` ({spec_label})"]
    for variable in PROJECT_VARIABLES:
        value = env.get(variable, "").strip()
        if value:
            _check("project", value, variable)
            return value, variable, tuple(looked)
        looked.append(variable)
    configured = gcloud().get("core", "project")
    if configured:
        _check("project", configured, gcloud().label)
        return configured, gcloud().label, tuple(looked)
    looked.append(f"{gcloud().label}: {gcloud().problem or 'no [core] project'}")
    return None, "unknown", tuple(looked)


def resolve_region(region: str | None, env: Mapping[str, str],
                   gcloud: Callable[[], GcloudConfig] | None = None, *,
                   spec_label: str = "spec") -> tuple[str, str]:
    """The region and where it came from: the spec, CLOUDSDK_AI_REGION, the gcloud
    configuration's [ai] region, else the default."""
    if region:
        return region, spec_label
    gcloud = gcloud or _Gcloud(env)
    value = env.get(REGION_VARIABLE, "").strip()
    if value:
        _check("region", value, REGION_VARIABLE)
        return value, REGION_VARIABLE
    value = gcloud().get("ai", "region") or ""
    if value:
        _check("region", value, gcloud().label)
        return value, gcloud().label
    return DEFAULT_REGION, "default"


def _endpoints(region: str, env: Mapping[str, str], gcloud: Callable[[], GcloudConfig]
               ) -> tuple[tuple[str, str], tuple[str, str], tuple[str, str]]:
    aiplatform, aiplatform_from = _override(env, AIPLATFORM_OVERRIDE, "aiplatform", gcloud)
    logging, logging_from = _override(env, LOGGING_OVERRIDE, "logging", gcloud)
    storage = env.get(STORAGE_EMULATOR, "").strip()
    return ((aiplatform, aiplatform_from) if aiplatform else (
                aiplatform_endpoint(region, None), "region"),
            (logging, logging_from) if logging else (LOGGING_ENDPOINT, "default"),
            (storage, STORAGE_EMULATOR) if storage else (STORAGE_ENDPOINT, "default"))


def _override(env: Mapping[str, str], variable: str, key: str,
              gcloud: Callable[[], GcloudConfig]) -> tuple[str | None, str]:
    value = env.get(variable, "").strip()
    if value:
        return value, variable
    config = gcloud()
    found = config.get("api_endpoint_overrides", key)
    return found, config.label


def target_values(target: object) -> tuple[str | None, str | None]:
    """The project and region a cloud target sets itself (a defaulted region is unset)."""
    project = getattr(target, "project", None)
    fields_set: set[str] = getattr(target, "model_fields_set", set())
    region = getattr(target, "region", None) if "region" in fields_set else None
    return project, region


def for_target(target: object, env: Mapping[str, str], *, spec_label: str = "spec"
               ) -> CloudContext:
    project, region = target_values(target)
    return resolve(project, region, env, spec_label=spec_label)


def aiplatform_for_env(region: str, env: Mapping[str, str]) -> str:
    """The Vertex AI endpoint of REGION under this environment (and gcloud configuration)."""
    return _endpoints(region, env, _Gcloud(env))[0][0]


def logging_for_env(env: Mapping[str, str]) -> str:
    return _endpoints(DEFAULT_REGION, env, _Gcloud(env))[1][0]


def storage_for_env(env: Mapping[str, str]) -> str:
    return _endpoints(DEFAULT_REGION, env, _Gcloud(env))[2][0]


def build_endpoints(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The Cloud Build and Artifact Registry endpoints, each with where it came from: the
    CLOUDSDK_API_ENDPOINT_OVERRIDES_ variable, the gcloud configuration, else the public one."""
    gcloud = _Gcloud(env)
    found: dict[str, tuple[str, str]] = {}
    for api, (variable, public) in BUILD_OVERRIDES.items():
        value, source = _override(env, variable, api, gcloud)
        found[api] = (value, source) if value else (public, "default")
    return found
