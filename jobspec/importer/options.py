"""gcloud's flags for the CustomJob options (jobspec/joboptions.py) as spec keys: the interactive
shell and dashboard, the persistent resource and the CMEK key, as `gcloud ai custom-jobs create`
and `gcloud ai-platform jobs submit training` (gcloud 528) take them."""

from __future__ import annotations

from jobspec.importer.draft import Draft
from jobspec.importer.flags import Parsed

# where these keys go in the emitted cloud target, after the keys emit.py orders itself
OPTION_KEYS = ("persistent_resource_id", "enable_web_access", "enable_dashboard_access",
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
