"""The least a submission can do, for bench/submission.py: tar the package, upload, create.

    python bench/_minimal_submit.py PACKAGE_DIR BUCKET PROJECT REGION NAME VERTEX_URL

google-cloud-storage finds the emulator through STORAGE_EMULATOR_HOST; the CustomJob goes to
VERTEX_URL through google-api-python-client's static discovery document and its default
(httplib2) transport. No name check, no claim, no retries, no label look-up: a floor, not a
tool. Prints one JSON line of phase end times (time.time()) to stdout.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import time
from pathlib import Path

marks: dict[str, float] = {}
from google.auth.credentials import AnonymousCredentials  # noqa: E402  (timed on purpose)
from google.cloud import storage  # noqa: E402
from googleapiclient.discovery import build  # noqa: E402

marks["imports"] = time.time()


def sdist(package: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path in sorted(package.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            tar.add(path, arcname=f"trainer-0.0.0/{path.relative_to(package.parent)}")
    return out.getvalue()


def main() -> None:
    package_dir, bucket, project, region, name, vertex_url = sys.argv[1:7]
    data = sdist(Path(package_dir))
    marks["package"] = time.time()
    credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    client = storage.Client(project=project, credentials=credentials)
    path = f"{name}/packages/trainer-0.0.0.tar.gz"
    client.bucket(bucket).blob(path).upload_from_string(data, content_type="application/gzip")
    marks["upload"] = time.time()
    api = build("aiplatform", "v1", credentials=credentials, static_discovery=True,
                cache_discovery=False, client_options={"api_endpoint": vertex_url})
    spec = {"executorImageUri": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
            "packageUris": [f"gs://{bucket}/{path}"], "pythonModule": "trainer.oops"}
    body = {"displayName": name, "jobSpec": {"workerPoolSpecs": [{
        "machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
        "pythonPackageSpec": spec}]}}
    job = api.projects().locations().customJobs().create(
        parent=f"projects/{project}/locations/{region}", body=body).execute()
    marks["create"] = time.time()
    print(json.dumps({"job": job["name"], "marks": marks}))


if __name__ == "__main__":
    main()
