"""The runtime policy, case by case, with the exact messages users see: runtime versions and
images resolve to images that exist today, and an expired Google prebuilt image is refused
with the image to use instead."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobspec import runtimes_data
from jobspec.errors import EXIT_USAGE, JobspecError
from jobspec.runtimes import (
    Resolved,
    RuntimeUnavailable,
    ShapeUnavailable,
    map_machine_type,
    nearest_container_tf,
    registry_host,
    resolve,
    scale_tier_pools,
    status_rows,
)
from jobspec.runtimes_data import PoolShape
from jobspec.runtimes_table import format_table, table_data

TODAY = date(2026, 11, 27)
EARLY_2026 = date(2026, 1, 1)
US = "us-docker.pkg.dev/vertex-ai/training"
TF17 = f"{US}/tf-cpu.2-17.py310:latest"


def by_version(version: str, *, region: str = "us-central1", gpu: bool = False,
               today: date = TODAY, extra: dict[str, str] | None = None) -> Resolved:
    return resolve(runtime_version=version, executor_image=None, region=region, gpu=gpu,
                   today=today, extra=extra, refuse_unavailable=True)


def by_image(uri: str, *, today: date = TODAY, allow: bool = False,
             refuse: bool = True) -> Resolved:
    return resolve(runtime_version=None, executor_image=uri, region="us-central1", gpu=False,
                   today=today, allow_unavailable=allow, refuse_unavailable=refuse,
                   target="cloud")


def failure(version: str, **kwargs: object) -> str:
    with pytest.raises(RuntimeUnavailable) as caught:
        by_version(version, **kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code == EXIT_USAGE
    assert isinstance(caught.value, JobspecError)
    return caught.value.message


# --- runtime_version -> a maintained image, run through the launcher -----------------------


@pytest.mark.parametrize("version", ["2.17", "2.18", "2.19", "2.20"])
def test_a_tensorflow_version_resolves_to_tensorflows_own_image(version: str) -> None:
    resolved = by_version(version)
    assert resolved.image_uri == f"tensorflow/tensorflow:{version}.0"
    assert (resolved.mode, resolved.source, resolved.framework) == (
        "container", "runtime_version", f"TensorFlow {version}")
    assert resolved.warnings == ()
    assert by_version(version, gpu=True).image_uri == f"tensorflow/tensorflow:{version}.0-gpu"


def test_python_versions_are_given_only_where_a_source_says_so() -> None:
    assert by_version("2.19").python_version == "3.11"
    assert by_version("2.20").python_version is None


# --- legacy AI Platform runtimes -----------------------------------------------------------

SHUTDOWN = (
    "AI Platform Training was shut down on 2025-01-31 (AI Platform Training deprecations page,"
    " read 2026-11-26), so this job cannot run anywhere."
)


@pytest.mark.parametrize(
    ("version", "python", "port"),
    [
        ("1.2", "2.7", " (TensorFlow 2 changed the 1.x API: the trainer may need porting)"),
        ("1.15", "2.7 and 3.7", " (TensorFlow 2 changed the 1.x API: the trainer may need"
                                " porting)"),
        ("2.11", "3.7", ""),
    ],
)
def test_legacy_runtime_is_an_error_naming_shutdown_and_a_usable_image(
    version: str, python: str, port: str
) -> None:
    assert failure(version) == (
        f"runtime_version '{version}' is an AI Platform Training runtime (TensorFlow {version},"
        f" Python {python}). {SHUTDOWN} Use instead `image: tensorflow/tensorflow:2.17.0`"
        f" (TensorFlow 2.17, the nearest maintained TensorFlow image jobspec knows){port}, or"
        ' runtime_version: "2.17".'
    )


def test_legacy_replacement_follows_gpu() -> None:
    assert "`image: tensorflow/tensorflow:2.17.0-gpu`" in failure("1.4", gpu=True)


def test_legacy_even_with_today_long_ago_is_still_an_error() -> None:
    # jobspec only submits to Vertex; a legacy runtime can never be run by it
    assert "shut down on 2025-01-31" in failure("1.13", today=date(2020, 1, 1))


@given(st.sampled_from([(1, m) for m in range(16)] + [(2, m) for m in range(1, 12)]))
def test_every_version_in_the_legacy_ranges_is_legacy(version: tuple[int, int]) -> None:
    text = f"{version[0]}.{version[1]}"
    assert failure(text).startswith(f"runtime_version '{text}' is an AI Platform Training runtime")


@given(st.tuples(st.integers(0, 30), st.integers(0, 40)))
def test_every_other_version_resolves_or_names_a_usable_image(version: tuple[int, int]) -> None:
    text = f"{version[0]}.{version[1]}"
    legacy = (version[0] == 1 and version[1] <= 15) or (version[0] == 2 and 1 <= version[1] <= 11)
    if legacy:
        return
    if version[0] == 2 and 17 <= version[1] <= 20:
        assert by_version(text).image_uri == f"tensorflow/tensorflow:{text}.0"
        return
    message = failure(text)
    assert "`image: tensorflow/tensorflow:2." in message
    if version[0] == 2 and 12 <= version[1] <= 16:
        assert message.startswith(f"runtime_version '{text}': the only image of TensorFlow")
    else:
        assert message.startswith(f"unknown runtime_version '{text}'")


def test_a_version_only_expired_prebuilt_images_had_names_the_nearest_newer_image() -> None:
    assert failure("2.16") == (
        "runtime_version '2.16': the only image of TensorFlow 2.16 jobspec knows is the Vertex AI"
        " prebuilt tf-cpu.2-16.py310, which reached its end of availability on 2026-06-28"
        " (Vertex AI prebuilt containers support policy, read 2026-11-26). Use instead"
        " `image: tensorflow/tensorflow:2.17.0` (TensorFlow 2.17, the nearest newer maintained"
        " image), or runtime_version: \"2.17\", or map '2.16' to an image in"
        " [tool.jobspec.runtimes] in pyproject.toml."
    )


KNOWN = (
    "Known versions: TensorFlow 2.17, 2.18, 2.19, 2.20 (maintained images); AI Platform"
    " runtimes 1.0-1.3, 1.4-1.14, 1.15, 2.1-2.11 (shut down 2025-01-31)."
)


def test_runtime_2_0_never_existed() -> None:
    assert failure("2.0") == (
        "unknown runtime_version '2.0' (there was no runtime 2.0: TensorFlow 2.0 users were sent"
        f" to 1.15). {KNOWN} Set image (e.g. `image: tensorflow/tensorflow:2.17.0`), or map the"
        " version to an image in [tool.jobspec.runtimes] in pyproject.toml."
    )


@pytest.mark.parametrize("version", ["1.16", "3.0", "2.17.0", "latest", "", "02.17"])
def test_unknown_runtime_lists_known_versions(version: str) -> None:
    message = failure(version)
    assert message.startswith(f"unknown runtime_version '{version}'. {KNOWN} Set image (e.g.")


def test_unknown_runtime_lists_pyproject_versions_too() -> None:
    message = failure("9.9", extra={"mine": "x/y:1", "a1": "x/z:2"})
    assert "; [tool.jobspec.runtimes] in pyproject.toml: a1, mine." in message


# --- [tool.jobspec.runtimes] ---------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.17", "1.2", "nightly"])
def test_pyproject_mapping_to_a_container_image_runs_it_through_the_launcher(
        version: str) -> None:
    resolved = by_version(version, extra={version: "gcr.io/p/tf:2.18"})
    assert resolved == Resolved("gcr.io/p/tf:2.18", "pyproject", None, None, (), "container")


def test_pyproject_mapping_to_a_google_prebuilt_image_keeps_python_package_mode() -> None:
    ray = f"{US}/ray-cpu.2-47.py311:latest"
    resolved = by_version("ray", extra={"ray": ray})
    assert (resolved.mode, resolved.framework, resolved.python_version) == (
        "python-package", "Ray 2.47.1", "3.11")


def test_pyproject_mapping_to_an_expired_prebuilt_image_is_refused_at_runtime_version() -> None:
    message = failure("2.17", extra={"2.17": TF17})
    assert message.startswith("runtime_version tf-cpu.2-17.py310 reached its end of")


# --- executor_image: Google's prebuilt images ----------------------------------------------

REFUSED = (
    "executor_image tf-cpu.2-17.py310 reached its end of availability on 2026-07-11 (Vertex AI"
    " prebuilt containers support policy, read 2026-11-26): Google's policy is that it can no"
    " longer be used, and Vertex AI may refuse the job. Use instead `image:"
    " tensorflow/tensorflow:2.17.0` (TensorFlow 2.17, the same version): on any image with"
    " python3 and pip, jobspec installs the package and runs the module."
)


@pytest.mark.parametrize(
    "uri",
    [TF17, "europe-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
     "my-mirror.example:5000/vertex-ai/training/tf-cpu.2-17.py310:latest"],
)
def test_expired_executor_image_is_refused_with_a_ready_image_line_and_the_override(
        uri: str) -> None:
    with pytest.raises(RuntimeUnavailable) as caught:
        by_image(uri)
    assert caught.value.message == (
        f"{REFUSED} If you know the image still works: allow_unavailable_image: true (or --set"
        " targets.cloud.allow_unavailable_image=true)."
    )


def test_with_the_override_an_expired_image_is_a_warning_and_used_as_given() -> None:
    resolved = by_image(TF17, allow=True)
    assert resolved == Resolved(
        TF17, "executor_image", "TensorFlow 2.17", "3.10",
        ("executor_image tf-cpu.2-17.py310 reached its end of availability on 2026-07-11"
         " (Vertex AI prebuilt containers support policy, read 2026-11-26): Google's policy is"
         " that it can no longer be used, and Vertex AI may refuse the job. Submitting anyway"
         " (allow_unavailable_image: true). Use instead `image: tensorflow/tensorflow:2.17.0`"
         " (TensorFlow 2.17, the same version): on any image with python3 and pip, jobspec"
         " installs the package and runs the module.",),
        "python-package")


def test_a_checking_command_warns_instead_of_refusing() -> None:
    # `jobspec init` and `jobspec import` say it at once; `plan` and `run` refuse
    assert by_image(TF17, refuse=False).warnings[0].startswith(REFUSED)


@pytest.mark.parametrize(
    ("name", "instead"),
    [
        ("tf-gpu.2-17.py310", "tensorflow/tensorflow:2.17.0-gpu` (TensorFlow 2.17, the same"),
        ("tf-cpu.2-12.py310", "tensorflow/tensorflow:2.17.0` (TensorFlow 2.17, the nearest newer"),
        ("pytorch-gpu.2-4.py310", "pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime` (PyTorch 2.9,"),
        ("sklearn-cpu.1-6", "python:3.10-slim` (Python 3.10, as in sklearn-cpu.1-6; add"
                            " scikit-learn to trainer.requirements)"),
        ("xgboost-gpu.2-1", "python:3.10-slim` (Python 3.10, as in xgboost-gpu.2-1; add xgboost"),
    ],
)
def test_each_expired_framework_gets_a_maintained_replacement(name: str, instead: str) -> None:
    with pytest.raises(RuntimeUnavailable) as caught:
        by_image(f"{US}/{name}:latest")
    assert f"Use instead `image: {instead}" in caught.value.message


def test_ray_is_still_available_with_an_end_of_patch_warning() -> None:
    resolved = by_image(f"{US}/ray-cpu.2-47.py311:latest")
    assert resolved.warnings == (
        "image ray-cpu.2-47.py311 has had no patches since 2026-07-28 and reaches its end of"
        " availability on 2027-07-28 (Vertex AI prebuilt containers support policy, read"
        " 2026-11-26).",
    )
    assert "reached its end of availability on 2027-03-01" in by_image(
        f"{US}/ray-gpu.2-42.py310:latest", refuse=False, today=date(2027, 4, 1)).warnings[0]


def test_before_end_of_patch_there_is_no_warning_and_the_last_day_is_usable() -> None:
    assert by_image(TF17, today=date(2025, 7, 10)).warnings == ()
    assert by_image(TF17, today=date(2026, 7, 10)).image_uri == TF17
    with pytest.raises(RuntimeUnavailable, match="end of availability on 2026-07-11"):
        by_image(TF17, today=date(2026, 7, 11))


@pytest.mark.parametrize(
    "uri",
    [
        "gcr.io/my-project/trainer:3",
        f"{US}/tf-cpu.2-99.py312:latest",
        f"{US}/tf-cpu.2-17.py310:20240101",  # not the supported tag: not the image we know
        " us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
    ],
)
def test_unknown_executor_image_is_used_as_given(uri: str) -> None:
    assert by_image(uri) == Resolved(uri, "executor_image", None, None, (), "python-package")


def test_no_image_at_all_is_an_error() -> None:
    with pytest.raises(RuntimeUnavailable) as caught:
        resolve(runtime_version=None, executor_image=None, region="us-central1", gpu=False,
                today=TODAY)
    assert caught.value.message == (
        "a cloud target needs an image: image, build, runtime_version or executor_image"
    )


def test_empty_executor_image_is_an_error() -> None:
    with pytest.raises(RuntimeUnavailable, match="^executor_image is empty"):
        by_image("  ")


# --- image: and build: ---------------------------------------------------------------------


def test_a_container_image_the_table_knows_carries_its_versions() -> None:
    resolved = resolve(runtime_version=None, executor_image=None, image="python:3.11-slim",
                       region="us-central1", gpu=False, today=TODAY, refuse_unavailable=True)
    assert resolved == Resolved("python:3.11-slim", "image", "Python 3.11", "3.11", (),
                                "container")
    other = resolve(runtime_version=None, executor_image=None, image="gcr.io/p/mine:1",
                    region="us-central1", gpu=False, today=TODAY, refuse_unavailable=True)
    assert (other.framework, other.python_version, other.mode) == (None, None, "container")


def test_an_expired_prebuilt_image_is_refused_as_image_and_as_build_base_too() -> None:
    for kwargs, key in (({"image": TF17}, "image"), ({"build_base": TF17}, "build.base")):
        with pytest.raises(RuntimeUnavailable) as caught:
            resolve(runtime_version=None, executor_image=None, region="us-central1", gpu=False,
                    today=TODAY, refuse_unavailable=True, **kwargs)  # type: ignore[arg-type]
        assert caught.value.message.startswith(f"{key} tf-cpu.2-17.py310 reached its end")


# --- nearest image, status table -----------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "found"),
    [("1.2", "2.17"), ("2.16", "2.17"), ("2.18", "2.18"), ("2.99", "2.20"), ("two", "2.20")],
)
def test_nearest_container_tf_rounds_up(version: str, found: str) -> None:
    assert nearest_container_tf(version).version == found


def test_registry_host_from_region_prefix() -> None:
    assert [registry_host(r) for r in ("us-central1", "europe-west4", "asia-east1", "me-west1",
                                       "")] == ["us-docker.pkg.dev", "europe-docker.pkg.dev",
                                                "asia-docker.pkg.dev", "us-docker.pkg.dev",
                                                "us-docker.pkg.dev"]


def test_status_lists_what_is_usable_today_first_each_with_a_source() -> None:
    rows = status_rows(TODAY)
    usable = [row.available for row in rows]
    assert usable == sorted(usable, reverse=True)  # every usable entry before any other
    assert rows[0].kind == "container-image"
    assert all(row.source.where.startswith("https://") for row in rows
               if row.kind != "ai-platform-runtime")
    containers = [row for row in rows if row.kind == "container-image"]
    assert all(row.source.read_on == date(2026, 11, 27) for row in containers)
    available = {row.name for row in rows if row.kind == "vertex-image" and row.available}
    assert available == {
        "ray-cpu.2-47.py311", "ray-gpu.2-47.py311", "ray-cpu.2-42.py311", "ray-gpu.2-42.py311",
        "ray-cpu.2-42.py310", "ray-gpu.2-42.py310",
    }
    ended = {row.name: row.use_instead for row in rows if not row.available}
    assert ended["tf-gpu.2-17.py310"] == "tensorflow/tensorflow:2.17.0-gpu"
    assert ended["1.15"] == "tensorflow/tensorflow:2.17.0"
    assert all(ended.values())


def test_status_before_end_of_patch_is_available() -> None:
    rows = {row.name: row for row in status_rows(date(2026, 2, 1))}
    assert (rows["ray-cpu.2-42.py311"].status, rows["ray-cpu.2-42.py311"].available) == (
        "available", True)
    assert rows["1.15"].status == "shut down 2025-01-31"
    assert rows["1.15"].available is False


def test_format_table_shows_usable_images_first_and_cites_its_own_sources() -> None:
    text = format_table(TODAY)
    lines = text.splitlines()
    assert lines[0] == "Status on 2026-11-27, usable first. Newer images may exist."
    assert lines[2].startswith("Usable today: container images")
    row = next(line for line in lines if line.startswith("python:3.11-slim "))
    assert row.split() == ["python:3.11-slim", "(same)", "Python", "3.11", "3.11", "exists",
                           "(checked", "2026-11-27)", "[3]"]
    row = next(line for line in lines if line.startswith("tf-cpu.2-17.py310 "))
    assert row.split() == ["tf-cpu.2-17.py310", "TensorFlow", "2.17", "unavailable", "since",
                           "2026-07-11", "image:", "tensorflow/tensorflow:2.17.0", "[4]"]
    assert ("  - [3] Docker Official Images, python (the tag list Docker Hub serves as"
            " python:TAG): https://github.com/docker-library/official-images/blob/master/library/"
            "python") in text
    assert "  - the historical machine counts of scale tiers STANDARD_1 and PREMIUM_1" in lines
    assert "RUNTIMES.md" not in text
    assert format_table(EARLY_2026) != format_table(TODAY)


def test_table_data_has_the_same_facts() -> None:
    data = table_data(TODAY)
    assert data["runtime_versions"] == ["2.17", "2.18", "2.19", "2.20"]
    first = data["runtimes"][0]
    assert (first["kind"], first["name"], first["gpu_image"]) == (
        "container-image", "tensorflow/tensorflow:2.20.0", "tensorflow/tensorflow:2.20.0-gpu")
    assert first["source_where"].startswith("https://hub.docker.com/r/tensorflow/tensorflow")


# --- scale tiers and machine types ---------------------------------------------------------


def test_scale_tier_shapes() -> None:
    assert scale_tier_pools("BASIC") == (PoolShape("chief", "n1-standard-4", 1, None, 0),)
    assert scale_tier_pools("BASIC_GPU") == (
        PoolShape("chief", "n1-standard-8", 1, "NVIDIA_TESLA_T4", 1),
    )
    assert scale_tier_pools("STANDARD_1") == (
        PoolShape("chief", "n1-highcpu-8", 1),
        PoolShape("worker", "n1-highcpu-8", 4),
        PoolShape("ps", "n1-standard-4", 3),
    )
    assert scale_tier_pools("PREMIUM_1") == (
        PoolShape("chief", "n1-highcpu-16", 1),
        PoolShape("worker", "n1-highcpu-16", 19),
        PoolShape("ps", "n1-highmem-8", 11),
    )
    assert scale_tier_pools("basic-gpu") == scale_tier_pools("BASIC_GPU")


def test_scale_tier_provenance_is_visible() -> None:
    tiers = {tier.name: tier for tier in runtimes_data.SCALE_TIERS}
    assert tiers["STANDARD_1"].provenance == tiers["PREMIUM_1"].provenance == (
        "jobspec's choice; historical counts could not be sourced")
    assert tiers["BASIC_GPU"].note == "K80 GPUs are retired; jobspec defaults to NVIDIA_TESLA_T4"


def test_basic_tpu_is_refused_with_a_reason() -> None:
    with pytest.raises(ShapeUnavailable) as caught:
        scale_tier_pools("BASIC_TPU")
    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.message == (
        "scale tier BASIC_TPU cannot be mapped to Vertex worker pools: Vertex custom training"
        " with TPU VMs needs explicit machine types, and the legacy TPU tier has no Vertex"
        " equivalent jobspec can map. Use scale tier CUSTOM with explicit machine types."
    )


def test_custom_and_unknown_tiers_have_no_shape() -> None:
    with pytest.raises(ShapeUnavailable) as custom:
        scale_tier_pools("CUSTOM")
    assert custom.value.message == (
        "scale tier CUSTOM has no fixed shape: CUSTOM takes explicit machine types and counts"
        " from the spec."
    )
    with pytest.raises(ShapeUnavailable) as unknown:
        scale_tier_pools("PREMIUM_2")
    assert unknown.value.message == (
        "unknown scale tier 'PREMIUM_2'; known tiers: BASIC, BASIC_GPU, STANDARD_1, PREMIUM_1,"
        " BASIC_TPU, CUSTOM"
    )


@pytest.mark.parametrize(
    ("name", "mapped"),
    [
        ("standard", ("n1-standard-4", None, 0)),
        ("large_model", ("n1-highmem-8", None, 0)),
        ("complex_model_s", ("n1-highcpu-8", None, 0)),
        ("complex_model_m", ("n1-highcpu-16", None, 0)),
        ("complex_model_l", ("n1-highcpu-32", None, 0)),
        ("standard_gpu", ("n1-standard-8", "NVIDIA_TESLA_T4", 1)),
        ("n1-standard-4", ("n1-standard-4", None, 0)),
        ("a2-highgpu-1g", ("a2-highgpu-1g", None, 0)),
        ("e2-medium", ("e2-medium", None, 0)),
    ],
)
def test_machine_type_mapping(name: str, mapped: tuple[str, str | None, int]) -> None:
    assert map_machine_type(name) == mapped


def test_machine_type_mapping_is_labelled_secondary() -> None:
    assert {m.source.title for m in runtimes_data.MACHINE_TYPES} == {
        "secondary source, not Google's documentation"
    }


@pytest.mark.parametrize("name", ["standrd", "complex_model_xl", "N1-STANDARD-4", ""])
def test_unknown_machine_type_is_an_error(name: str) -> None:
    with pytest.raises(ShapeUnavailable) as caught:
        map_machine_type(name)
    assert caught.value.message == (
        f"unknown machine type '{name}': neither a legacy name jobspec maps (standard,"
        " large_model, complex_model_s, complex_model_m, complex_model_l, standard_gpu) nor a"
        " Compute Engine machine type like n1-standard-4"
    )


# --- the table is data ---------------------------------------------------------------------


def test_records_are_frozen_and_dated() -> None:
    image = runtimes_data.VERTEX_IMAGES[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        image.end_of_availability = date(2099, 1, 1)  # type: ignore[misc]
    sources = [i.source for i in runtimes_data.VERTEX_IMAGES] + [
        r.source for r in runtimes_data.LEGACY_RUNTIMES
    ] + [runtimes_data.AI_PLATFORM.source] + [t.source for t in runtimes_data.SCALE_TIERS]
    assert {s.read_on for s in sources} == {date(2026, 11, 26)}
    assert {c.source.read_on for c in runtimes_data.CONTAINER_IMAGES} == {TODAY}
    assert runtimes_data.AI_PLATFORM.shut_down_on == date(2025, 1, 31)
    assert len({i.name for i in runtimes_data.VERTEX_IMAGES}) == len(runtimes_data.VERTEX_IMAGES)
