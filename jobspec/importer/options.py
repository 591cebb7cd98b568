"""gcloud's flags for the CustomJob options (jobspec/joboptions.py) as spec keys: the interactive
shell and dashboard, the persistent resource and the CMEK key, as `gcloud ai custom-jobs create`
and `gcloud ai-platform jobs submit training` (gcloud 528) take them."""

from __future__ import annotations

from typing import Any

from jobspec.importer.draft import Draft, duration
from jobspec.importer.flags import Parsed
from jobspec.joboptions import STRATEGIES
from jobspec.located import LDict

# where these keys go in the emitted cloud target, after the keys emit.py orders itself
OPTION_KEYS = ("scheduling", "persistent_resource_id", "reserved_ip_ranges", "tensorboard",
               "experiment", "experiment_run", "enable_web_access", "enable_dashboard_access",
               "kms_key")


def option_flags(parsed: Parsed, draft: Draft) -> None:
    for flag, spec_key in (("--enable-web-access", "enable_web_access"),
                           ("--enable-dashboard-access", "enable_dashboard_access")):
        if parsed.switches.get(flag):
            draft.target[spec_key] = True
    if (word := parsed.one("--persistent-resource-id")) is not None:
        draft.target["persistent_resource_id"] = word.text
    key = parsed.one("--kms-key")
    if key is None:
        for flag in ("--kms-keyring", "--kms-location", "--kms-project"):
            if parsed.has(flag):
                draft.unsupported(f"{flag} without --kms-key", "gcloud requires --kms-key too")
        return
    if key.text.startswith("projects/"):
        draft.target["kms_key"] = key.text
        return
    # an ID: gcloud completes it from the other flags, the project from core/project
    parts = {f: parsed.one(f) for f in ("--kms-keyring", "--kms-location", "--kms-project")}
    project = parts["--kms-project"] or None
    project_text = project.text if project is not None else draft.target.get("project")
    missing = [f for f in ("--kms-keyring", "--kms-location") if parts[f] is None]
    if missing or not project_text:
        missing += [] if project_text else ["--kms-project (or --project)"]
        draft.unsupported(f"--kms-key {key.text}", f"a key ID needs {' and '.join(missing)} "
                          "as well; set kms_key to the key's full name projects/P/locations/L/"
                          "keyRings/R/cryptoKeys/K")
        return
    ring, location = parts["--kms-keyring"], parts["--kms-location"]
    assert ring is not None and location is not None
    draft.target["kms_key"] = (f"projects/{project_text}/locations/{location.text}/keyRings/"
                               f"{ring.text}/cryptoKeys/{key.text}")


# --config files: CustomJobSpec keys (and ML Engine trainingInput keys) the spec has
_CONFIG_TEXT = {"persistentResourceId": "persistent_resource_id", "tensorboard": "tensorboard",
                "experiment": "experiment", "experimentRun": "experiment_run"}
_CONFIG_SWITCH = {"enableWebAccess": "enable_web_access",
                  "enableDashboardAccess": "enable_dashboard_access"}
CONFIG_KEYS = (*_CONFIG_TEXT, *_CONFIG_SWITCH, "reservedIpRanges")
_SCHEDULING_SWITCH = {"restartJobOnWorkerRestart": "restart_job_on_worker_restart",
                      "disableRetries": "disable_retries"}
SCHEDULING_KEYS = ("strategy", "maxWaitDuration", *_SCHEDULING_SWITCH)


def config_option(conf: Any, node: LDict, key: str, path: str, draft: Draft) -> None:
    """One of CONFIG_KEYS of a --config file (conf: its reader in importer/config.py)."""
    if key in _CONFIG_TEXT:
        draft.target[_CONFIG_TEXT[key]] = conf.text(node, key, path)
    elif key in _CONFIG_SWITCH:
        if _switch(conf, node, key, path):
            draft.target[_CONFIG_SWITCH[key]] = True
    else:
        draft.target["reserved_ip_ranges"] = conf.texts(node, key, path)


def config_scheduling(conf: Any, node: LDict, key: str, path: str, draft: Draft) -> None:
    """One of SCHEDULING_KEYS of a Vertex `scheduling` block, into the spec's scheduling."""
    scheduling = draft.target.setdefault("scheduling", {})
    if key in _SCHEDULING_SWITCH:
        if _switch(conf, node, key, path):
            scheduling[_SCHEDULING_SWITCH[key]] = True
    elif key == "strategy":
        strategy = conf.text(node, key, path)
        if strategy in STRATEGIES:
            scheduling["strategy"] = strategy
        else:
            conf.unsupported(node, key, path, f"{strategy!r} is not ON_DEMAND, STANDARD, SPOT "
                             "or FLEX_START")
    else:
        text = conf.text(node, key, path)
        wait = 0 if text.strip() in ("0", "0s") else duration(
            text, conf.where(node, key, path), draft)
        if wait is not None:
            scheduling["max_wait"] = wait
    if not scheduling:
        draft.target.pop("scheduling")


def _switch(conf: Any, node: LDict, key: str, path: str) -> bool:
    value = node[key]
    if not isinstance(value, bool):
        raise conf.fail(node.val_locs[key], f"{path}.{key}".lstrip("."), "expected true or false")
    return value
