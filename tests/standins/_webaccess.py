"""What Vertex AI fills into a running CustomJob for the CustomJob options: `webAccessUris`.

aiplatform v1 (revision 20261106): CustomJob.webAccessUris maps each training node's name
(`workerpool0-0` for the primary node, `workerpool1-1` for the second node of the second pool)
to the URI of its interactive shell, "only available if job_spec.enable_web_access is true";
with enableDashboardAccess, the chief's dashboard is at those URIs too. The host form
`https://HEX16-dot-REGION.aiplatform-training.googleusercontent.com/` is the one the Vertex SDK's
own tests use for training dashboards (google-cloud-aiplatform, tests/unit/vertex_ray).
"""

from __future__ import annotations

import hashlib
from typing import Any


def web_access_uris(job: dict[str, Any], job_id: str, location: str) -> dict[str, str]:
    """The URIs of a job that starts running: one per node with web access, the chief's alone
    with only dashboard access, none otherwise."""
    spec = job.get("jobSpec", {})
    if spec.get("enableWebAccess"):
        pools = spec.get("workerPoolSpecs", [])
        nodes = [f"workerpool{i}-{r}" for i, pool in enumerate(pools) if pool
                 for r in range(int(pool.get("replicaCount", "1")))]
    elif spec.get("enableDashboardAccess"):
        nodes = ["workerpool0-0"]
    else:
        return {}
    out = {}
    for node in nodes:
        token = hashlib.sha256(f"{job_id}/{node}".encode()).hexdigest()[:16]
        out[node] = f"https://{token}-dot-{location}.aiplatform-training.googleusercontent.com/"
    return out
