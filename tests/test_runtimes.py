"""The runtime policy of RUNTIMES.md, case by case, with the exact messages users see."""

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
    nearest_vertex_tf,
    registry_host,
    resolve,
    scale_tier_pools,
    status_rows,
)
from jobspec.runtimes_data import PoolShape
from jobspec.runtimes_table import format_table

READ = date(2026, 11, 26)
EARLY_2026 = date(2026, 1, 1)
US = "us-docker.pkg.dev/vertex-ai/training"


def by_version(version: str, *, region: str = "us-central1", gpu: bool = False,
               today: date = READ, extra: dict[str, str] | None = None) -> Resolved:
    return resolve(runtime_version=version, executor_image=None, region=region, gpu=gpu,
                   today=today, extra=extra)


def by_image(uri: str, *, today: date = READ) -> Resolved:
    return resolve(runtime_version=None, executor_image=uri, region="us-central1", gpu=False,
                   today=today)


def failure(version: str, **kwargs: object) -> str:
    with pytest.raises(RuntimeUnavailable) as caught:
        by_version(version, **kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code == EXIT_USAGE
    assert isinstance(caught.value, JobspecError)
    return caught.value.message


# --- legacy AI Platform runtimes -----------------------------------------------------------

SHUTDOWN = (
    "AI Platform Training was shut down on 2025-01-31 (AI Platform Training deprecations page,"
    " read 2026-11-26), so this job cannot run anywhere."
)


@pytest.mark.parametrize(
    ("version", "python", "nearest"),
    [
        ("1.2", "2.7", f"{US}/tf-cpu.2-8.py310:latest (TensorFlow 2.8,"),
        ("1.15", "2.7 and 3.7", f"{US}/tf-cpu.2-8.py310:latest (TensorFlow 2.8,"),
        ("2.11", "3.7", f"{US}/tf-cpu.2-11.py310:latest (TensorFlow 2.11,"),
    ],
)
def test_legacy_runtime_is_an_error_naming_shutdown_and_replacement(
    version: str, python: str, nearest: str
) -> None:
    assert failure(version) == (
        f"runtime_version '{version}' is an AI Platform Training runtime (TensorFlow {version},"
        f" Python {python}). {SHUTDOWN} Use instead the nearest Vertex AI TensorFlow image,"
        f" {nearest} unavailable since 2024-11-15), or set executor_image to an image you know"
        " works."
    )


def test_legacy_replacement_follows_region_and_gpu() -> None:
    message = failure("1.4", region="asia-east1", gpu=True)
    assert "asia-docker.pkg.dev/vertex-ai/training/tf-gpu.2-8.py310:latest" in message


def test_legacy_even_with_today_long_ago_is_still_an_error() -> None:
    # jobspec only submits to Vertex; a legacy runtime can never be run by it
    assert "shut down on 2025-01-31" in failure("1.13", today=date(2020, 1, 1))


@given(st.sampled_from([(1, m) for m in range(16)] + [(2, m) for m in range(1, 12)]))
def test_every_version_in_the_legacy_ranges_is_legacy(version: tuple[int, int]) -> None:
    text = f"{version[0]}.{version[1]}"
    assert failure(text).startswith(f"runtime_version '{text}' is an AI Platform Training runtime")


@given(st.tuples(st.integers(0, 30), st.integers(0, 40)))
def test_every_other_version_is_unknown_or_vertex(version: tuple[int, int]) -> None:
    text = f"{version[0]}.{version[1]}"
    legacy = (version[0] == 1 and version[1] <= 15) or (version[0] == 2 and 1 <= version[1] <= 11)
    vertex = version[0] == 2 and 12 <= version[1] <= 17
    if legacy:
        return
    message = failure(text)
    if vertex:
        assert message.startswith(f"runtime_version '{text}' maps to the Vertex AI prebuilt")
    else:
        assert message.startswith(f"unknown runtime_version '{text}'")


KNOWN = (
    "Known versions: Vertex AI TensorFlow 2.12, 2.13, 2.14, 2.15, 2.16, 2.17; AI Platform"
    " runtimes 1.0-1.3, 1.4-1.14, 1.15, 2.1-2.11 (shut down 2025-01-31)."
)
WAY_OUT = "or map the version to an image in [tool.jobspec.runtimes] in pyproject.toml."


def test_runtime_2_0_never_existed() -> None:
    assert failure("2.0") == (
        "unknown runtime_version '2.0' (there was no runtime 2.0: TensorFlow 2.0 users were sent"
        f" to 1.15). {KNOWN} Set executor_image, {WAY_OUT}"
    )


@pytest.mark.parametrize("version", ["1.16", "3.0", "2.17.0", "latest", "", "02.17"])
def test_unknown_runtime_lists_known_versions(version: str) -> None:
    assert failure(version) == (
        f"unknown runtime_version '{version}'. {KNOWN} Set executor_image, {WAY_OUT}"
    )


def test_unknown_runtime_lists_pyproject_versions_too() -> None:
    message = failure("9.9", extra={"mine": "x/y:1", "a1": "x/z:2"})
    assert "; [tool.jobspec.runtimes] in pyproject.toml: a1, mine." in message


# --- Vertex TensorFlow via runtime_version -------------------------------------------------


def test_vertex_2_17_after_end_of_availability_is_an_error_naming_the_date() -> None:
    assert failure("2.17") == (
        "runtime_version '2.17' maps to the Vertex AI prebuilt image tf-cpu.2-17.py310, which"
        " reached its end of availability on 2026-07-11 (Vertex AI prebuilt containers support"
        " policy, read 2026-11-26). jobspec does not know of a newer TensorFlow image; check the"
        " prebuilt containers page or use your own image. Set executor_image to an image you"
        " know works, or map '2.17' to an image in [tool.jobspec.runtimes] in pyproject.toml."
    )


def test_older_vertex_version_points_at_the_newest_known_image() -> None:
    assert (
        "(Vertex AI prebuilt containers support policy, read 2026-11-26). The newest TensorFlow"
        " image jobspec knows of, tf-cpu.2-17.py310, is past its end of availability too"
        " (2026-07-11); check the prebuilt containers page" in failure("2.12")
    )


def test_vertex_2_17_before_end_of_availability_maps_to_tf_cpu() -> None:
    assert by_version("2.17", today=EARLY_2026) == Resolved(
        image_uri=f"{US}/tf-cpu.2-17.py310:latest",
        source="runtime_version",
        framework="TensorFlow 2.17",
        python_version="3.10",
        warnings=(
            "image tf-cpu.2-17.py310 has had no patches since 2025-07-11 and reaches its end of"
            " availability on 2026-07-11 (Vertex AI prebuilt containers support policy, read"
            " 2026-11-26).",
        ),
    )


def test_gpu_picks_tf_gpu_in_the_region_host() -> None:
    resolved = by_version("2.17", region="europe-west4", gpu=True, today=EARLY_2026)
    assert resolved.image_uri == "europe-docker.pkg.dev/vertex-ai/training/tf-gpu.2-17.py310:latest"


def test_before_end_of_patch_there_is_no_warning() -> None:
    assert by_version("2.16", today=date(2025, 6, 27)).warnings == ()


def test_end_of_availability_day_itself_is_unavailable() -> None:
    last_day = by_version("2.16", today=date(2026, 6, 27))
    assert last_day.image_uri == f"{US}/tf-cpu.2-16.py310:latest"
    assert "end of availability on 2026-06-28" in failure("2.16", today=date(2026, 6, 28))


def test_vertex_versions_shadowed_by_legacy_runtimes_are_legacy() -> None:
    # 2.8, 2.9 and 2.11 are both AI Platform runtimes and Vertex images: the runtime wins
    for version in ("2.8", "2.9", "2.11"):
        assert "is an AI Platform Training runtime" in failure(version, today=date(2024, 1, 1))


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us-central1", "us-docker.pkg.dev"),
        ("europe-west4", "europe-docker.pkg.dev"),
        ("asia-east1", "asia-docker.pkg.dev"),
        ("me-west1", "us-docker.pkg.dev"),
        ("northamerica-northeast1", "us-docker.pkg.dev"),
        ("australia-southeast1", "us-docker.pkg.dev"),
        ("", "us-docker.pkg.dev"),
    ],
)
def test_registry_host_from_region_prefix(region: str, host: str) -> None:
    assert registry_host(region) == host


# --- executor_image and pyproject ----------------------------------------------------------

EXPIRED = (
    "executor image tf-cpu.2-17.py310 reached its end of availability on 2026-07-11 (Vertex AI"
    " prebuilt containers support policy, read 2026-11-26); the job may fail to start. jobspec"
    " does not know of a newer TensorFlow image; check the prebuilt containers page or use your"
    " own image."
)


@pytest.mark.parametrize(
    "uri",
    [
        f"{US}/tf-cpu.2-17.py310:latest",
        "europe-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
        "my-mirror.example:5000/vertex-ai/training/tf-cpu.2-17.py310:latest",
    ],
)
def test_expired_executor_image_is_a_warning_only_and_used_as_given(uri: str) -> None:
    assert by_image(uri) == Resolved(uri, "executor_image", "TensorFlow 2.17", "3.10", (EXPIRED,))


def test_expired_image_with_a_newer_available_one_names_it() -> None:
    resolved = by_image(f"{US}/ray-gpu.2-42.py310:latest", today=date(2027, 4, 1))
    assert resolved.warnings == (
        "executor image ray-gpu.2-42.py310 reached its end of availability on 2027-03-01"
        " (Vertex AI prebuilt containers support policy, read 2026-11-26); the job may fail to"
        " start. jobspec knows of a newer Ray image, ray-gpu.2-47.py311 (available until"
        " 2027-07-28, unpatched since 2026-07-28).",
    )


@pytest.mark.parametrize(
    "uri",
    [
        "gcr.io/my-project/trainer:3",
        f"{US}/tf-cpu.2-99.py312:latest",
        f"{US}/tf-cpu.2-17.py310:20240101",  # not the supported tag: not the image we know
        " us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
    ],
)
def test_unknown_executor_image_gets_no_warning(uri: str) -> None:
    assert by_image(uri) == Resolved(uri, "executor_image", None, None, ())


def test_executor_image_wins_over_runtime_version_with_a_warning() -> None:
    resolved = resolve(runtime_version="1.2", executor_image="gcr.io/p/t:1", region="us-east1",
                       gpu=False, today=READ)
    assert resolved.image_uri == "gcr.io/p/t:1"
    assert resolved.warnings == (
        "runtime_version '1.2' is ignored: executor_image is given and is used exactly as written.",
    )


def test_neither_image_nor_runtime_is_an_error() -> None:
    with pytest.raises(RuntimeUnavailable) as caught:
        resolve(runtime_version=None, executor_image=None, region="us-central1", gpu=False,
                today=READ)
    assert caught.value.message == (
        "a cloud target needs executor_image or runtime_version: neither is set"
    )


def test_empty_executor_image_is_an_error() -> None:
    with pytest.raises(RuntimeUnavailable, match="^executor_image is empty"):
        by_image("  ")


@pytest.mark.parametrize("version", ["2.17", "1.2", "nightly"])
def test_pyproject_mapping_wins(version: str) -> None:
    resolved = by_version(version, extra={version: "gcr.io/p/tf:2.18"})
    assert resolved == Resolved("gcr.io/p/tf:2.18", "pyproject", None, None, ())


def test_pyproject_mapping_to_an_expired_known_image_still_warns() -> None:
    uri = "europe-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
    resolved = by_version("2.17", extra={"2.17": uri})
    assert resolved == Resolved(uri, "pyproject", "TensorFlow 2.17", "3.10", (EXPIRED,))


# --- nearest image, status table -----------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "gpu", "name"),
    [
        ("1.2", False, "tf-cpu.2-8.py310"),
        ("2.10", False, "tf-cpu.2-11.py310"),
        ("2.17", True, "tf-gpu.2-17.py310"),
        ("2.99", False, "tf-cpu.2-17.py310"),
    ],
)
def test_nearest_vertex_tf(version: str, gpu: bool, name: str) -> None:
    image = nearest_vertex_tf(version, gpu=gpu)
    assert image is not None and image.name == name


def test_nearest_vertex_tf_of_nonsense_is_none() -> None:
    assert nearest_vertex_tf("two") is None


def test_on_read_date_only_ray_images_are_available() -> None:
    images = [row for row in status_rows(READ) if row.kind == "vertex-image"]
    available = {row.name for row in images if row.available}
    assert available == {
        "ray-cpu.2-47.py311", "ray-gpu.2-47.py311", "ray-cpu.2-42.py311", "ray-gpu.2-42.py311",
        "ray-cpu.2-42.py310", "ray-gpu.2-42.py310",
    }
    assert {row.status for row in images if row.available} == {"end of patch passed"}
    tf = next(row for row in images if row.name == "tf-gpu.2-17.py310")
    assert (tf.status, tf.end_of_patch, tf.end_of_availability) == (
        "unavailable since 2026-07-11", date(2025, 7, 11), date(2026, 7, 11))


def test_status_before_end_of_patch_is_available() -> None:
    rows = {row.name: row for row in status_rows(date(2026, 2, 1))}
    assert (rows["ray-cpu.2-42.py311"].status, rows["ray-cpu.2-42.py311"].available) == (
        "available", True)
    assert rows["1.15"].status == "shut down 2025-01-31"
    assert rows["1.15"].available is False


def test_status_rows_cover_the_whole_table() -> None:
    rows = status_rows(READ)
    legacy = [row.name for row in rows if row.kind == "ai-platform-runtime"]
    assert legacy == ["1.0-1.3", "1.4-1.14", "1.15", "2.1-2.11"]
    tf = sorted({row.framework for row in rows if row.framework.startswith("TensorFlow 2.1")})
    assert "TensorFlow 2.10" not in tf
    assert len([row for row in rows if row.kind == "vertex-image"]) == 32
    assert all(row.source.read_on == READ for row in rows)


def test_format_table_shows_status_dates_and_unsourced_facts() -> None:
    lines = format_table(READ).splitlines()
    assert lines[0] == "Status on 2026-11-26; facts read 2026-11-26. Newer images may exist."
    assert "1.15      TensorFlow 1.15      2.7/3.7  shut down 2025-01-31" in lines
    row = next(line for line in lines if line.startswith("tf-cpu.2-17.py310 "))
    assert row.split() == ["tf-cpu.2-17.py310", "TensorFlow", "2.17", "3.10", "2025-07-11",
                           "2026-07-11", "unavailable", "since", "2026-07-11"]
    assert "  - the historical machine counts of scale tiers STANDARD_1 and PREMIUM_1" in lines
    assert any("jobspec's choice; historical counts could not be sourced" in x for x in lines)
    assert format_table(EARLY_2026) != format_table(READ)


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
    assert {s.read_on for s in sources} == {READ}
    assert runtimes_data.AI_PLATFORM.shut_down_on == date(2025, 1, 31)
    assert len({i.name for i in runtimes_data.VERTEX_IMAGES}) == len(runtimes_data.VERTEX_IMAGES)
