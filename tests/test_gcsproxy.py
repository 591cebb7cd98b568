"""GcsProxy: the fault-injecting proxy in front of fake-gcs-server, with the real clients."""

from __future__ import annotations

import http.client
import io
import json
import os
import urllib.parse

import pytest

from tests.standins.gcsproxy import GcsProxy


@pytest.fixture
def storage_bucket(gcs_proxy: GcsProxy, cloud_env):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    yield client.bucket(cloud_env.bucket)
    client.close()


@pytest.fixture
def conn(gcs_proxy: GcsProxy):
    """A raw keep-alive HTTP/1.1 connection to the proxy."""
    connection = http.client.HTTPConnection("127.0.0.1", gcs_proxy.port, timeout=10)
    yield connection
    connection.close()


def test_multipart_and_resumable_uploads_stream_through(storage_bucket, gcs_proxy,
                                                        cloud_env) -> None:
    storage_bucket.blob("small.json").upload_from_string('{"a": 1}', if_generation_match=0)
    data = os.urandom((8 << 20) + 12345)
    big = storage_bucket.blob("big.bin", chunk_size=8 << 20)
    big.upload_from_file(io.BytesIO(data), size=len(data), if_generation_match=0,
                         checksum="md5")
    assert cloud_env.gcs.read_object(cloud_env.bucket, "big.bin") == data
    assert storage_bucket.blob("big.bin").download_as_bytes() == data
    uploads = [(r.method, r.query.get("uploadType"), r.object, r.outcome)
               for r in gcs_proxy.requests if r.path.startswith("/upload/")]
    assert uploads == [("POST", ["multipart"], "small.json", 200),
                       ("POST", ["resumable"], "big.bin", 200),  # starts the session
                       ("PUT", ["resumable"], "big.bin", 308),  # Content-Range: first chunk
                       ("PUT", ["resumable"], "big.bin", 200)]
    assert sum(r.size for r in gcs_proxy.requests if r.method == "PUT") == len(data)
    assert gcs_proxy.counters["objects.download"] == 1


def test_resumable_session_and_media_links_point_at_the_proxy(storage_bucket, gcs_proxy,
                                                             conn) -> None:
    path = f"/upload/storage/v1/b/{storage_bucket.name}/o?uploadType=resumable"
    conn.request("POST", path, body=json.dumps({"name": "r.txt"}),
                 headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    location = answer.getheader("Location")
    assert answer.status == 200 and location.startswith(gcs_proxy.url + "/upload/")
    conn.request("PUT", location.removeprefix(gcs_proxy.url), body=b"hello",
                 headers={"Content-Range": "bytes 0-4/5"})
    meta = json.loads(conn.getresponse().read())
    assert meta["name"] == "r.txt" and meta["mediaLink"].startswith(gcs_proxy.url + "/")
    assert [r.object for r in gcs_proxy.requests] == ["r.txt", "r.txt"]


def test_keep_alive_and_chunked_request_bodies(gcs_proxy, cloud_env, conn) -> None:
    bucket = cloud_env.bucket
    query = urllib.parse.urlencode({"uploadType": "media", "name": "chunked.bin"})
    pieces = [b"x" * 70_000, b"y" * 3, b"z" * 100_000]
    conn.request("POST", f"/upload/storage/v1/b/{bucket}/o?{query}", body=iter(pieces),
                 encode_chunked=True, headers={"Content-Type": "application/octet-stream",
                                               "Transfer-Encoding": "chunked"})
    first = conn.getresponse()
    assert first.status == 200, first.read()
    assert json.loads(first.read())["size"] == str(sum(map(len, pieces)))
    sock = conn.sock
    for _ in range(3):  # the same connection answers again and again
        conn.request("GET", f"/storage/v1/b/{bucket}/o/chunked.bin?alt=media")
        answer = conn.getresponse()
        assert answer.read() == b"".join(pieces)
    assert conn.sock is sock
    assert [r.outcome for r in gcs_proxy.requests] == [200, 200, 200, 200]


def test_status_fault_is_answered_without_reaching_the_emulator(storage_bucket, gcs_proxy,
                                                                cloud_env) -> None:
    from google.api_core.exceptions import Forbidden

    fault = gcs_proxy.faults.add("POST", r"^/upload/", object_regex=r"^no\.txt$", status=403,
                                 times=None)
    with pytest.raises(Forbidden, match="injected fault: HTTP 403"):
        storage_bucket.blob("no.txt").upload_from_string("x", if_generation_match=0)
    storage_bucket.blob("yes.txt").upload_from_string("x", if_generation_match=0)
    assert cloud_env.gcs.list_objects(cloud_env.bucket) == ["yes.txt"]
    assert fault.hits == 1
    assert [(r.object, r.outcome) for r in gcs_proxy.requests] == [("no.txt", 403),
                                                                   ("yes.txt", 200)]


@pytest.mark.parametrize("drop", ["before", "after"])
def test_dropped_connections_are_resets(gcs_proxy, cloud_env, conn, drop: str) -> None:
    gcs_proxy.faults.add("POST", r"^/upload/", drop=drop)
    query = urllib.parse.urlencode({"uploadType": "media", "name": "d.txt"})
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        conn.request("POST", f"/upload/storage/v1/b/{cloud_env.bucket}/o?{query}", body=b"d")
        conn.getresponse().read()
    landed = cloud_env.gcs.object_exists(cloud_env.bucket, "d.txt")
    assert landed is (drop == "after")
    assert [r.outcome for r in gcs_proxy.requests] == [f"dropped-{drop}"]


def test_client_retries_see_the_fault_once(storage_bucket, gcs_proxy, cloud_env) -> None:
    """google-cloud-storage retries a guarded create after a reset; the retry of a create that
    landed gets 412, which is what jobspec's owner token is for."""
    from google.api_core.exceptions import PreconditionFailed

    gcs_proxy.faults.add("POST", r"^/upload/", query_regex=r"ifGenerationMatch=0(&|$)",
                         drop="after")
    with pytest.raises(PreconditionFailed):
        storage_bucket.blob("c.json").upload_from_string("{}", if_generation_match=0)
    assert [r.outcome for r in gcs_proxy.requests] == ["dropped-after", 412]
    assert cloud_env.gcs.read_object(cloud_env.bucket, "c.json") == b"{}"
