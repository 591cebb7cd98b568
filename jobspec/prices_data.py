"""The shipped price table: hourly rates for Vertex AI custom training, each with its source.

Every figure below was read from the source named next to it on the date given; nothing is
guessed. The one arithmetic: a machine's rate from a source's per-vCPU, per-GiB (and flex-start's
two-SKU) rates, added as that source adds them (A3_UNITS). A rate the sources did not give is
absent, and the estimator says "unknown" for it. `jobspec prices --refresh` writes a user-level
copy from the Cloud Billing Catalog API, which the estimator prefers (jobspec/prices.py).

basis says what the figure prices:
- "vertex": Vertex AI custom training's own rate (what a CustomJob is billed).
- "compute-engine": the Compute Engine rate of the same machine, GPU or disk. Vertex custom
  training charges more than Compute Engine for the same machine (n1-standard-4 in us-central1:
  0.21849885 on the Vertex page against 0.19 on Compute Engine), so an estimate built from these
  figures is a lower bound, and it says so.
Machine rates cover the machine's vCPUs and memory only; its GPUs are separate accelerator
rates (a2 and a3 machines included), as both Vertex and Compute Engine bill them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    url: str
    read: str  # the date the figures were read (YYYY-MM-DD)
    basis: str  # "vertex" | "compute-engine"
    note: str = ""


SOURCES: dict[str, Source] = {
    "vertex-page": Source(
        "https://cloud.google.com/products/gemini-enterprise-agent-platform/pricing",
        "2026-11-27", "vertex",
        "custom training table, Iowa (us-central1), as transcribed on 2026-10-07 in "
        "github.com/api-evangelist/google-vertex-ai plans/google-vertex-ai-plans-pricing.yml "
        "('every price_text was found verbatim in the fetched page text') and quoted for "
        "us-central1 by a second public project"),
    "vertex-page-t4": Source(
        "https://cloud.google.com/vertex-ai/pricing#training", "2026-11-27", "vertex",
        "NVIDIA_TESLA_T4 '$0.4025 / hr', quoted from that page next to a europe-west4 "
        "CustomJob in a public training script"),
    "gce-catalog": Source(
        "https://github.com/skypilot-org/skypilot-catalog/blob/"
        "017e2502fb63c7a28757acd94002b2d6099d3e3d/catalogs/v7/gcp/vms.csv",
        "2026-11-27", "compute-engine",
        "Compute Engine on-demand (Price) and Spot (SpotPrice) per hour, per region, as "
        "SkyPilot's catalog records them from Google's billing catalog"),
    "vertex-skus-a3": Source(
        "https://zenn.dev/google_cloud_jp/articles/dws-flex-new-skus", "2026-11-27", "vertex",
        "Google Cloud Japan's article comparing one a3-highgpu-8g Vertex AI custom training job in "
        "us-central1 run on demand and with DWS flex-start, SKU by SKU from Cloud Billing (read "
        "by its author in August 2025): on demand, 'Vertex AI: Training/Pipelines on NVIDIA H100 "
        "80GB in Iowa' (3F95-001E-B747) $11.2660332/h, '... on A3 Instance Core in Iowa' "
        "$0.0293227/vCPU-h, '... on A3 Instance RAM in Iowa' $0.0025534/GiB-h; flex-start, the "
        "Compute Engine 'DWS Defined Duration' SKUs (H100 $4.200761/h, A3 Core $0.010934/vCPU-h, "
        "A3 Ram $0.000952/GiB-h, SSD backed Local Storage $0.0001096/GiB-h) plus Vertex AI's "
        "'Training/Pipelines management fee' SKUs (H100 $1.4694826/h, A3 Core $0.0038247/vCPU-h, "
        "A3 RAM $0.0003331/GiB-h). A machine's rate is its vCPUs x the core rate + its GiB x the "
        "RAM rate (+ under flex-start its local SSD, billed then), as the article adds them; "
        "Vertex runs A3 High machines smaller than a3-highgpu-8g only under Spot or flex-start "
        "(the article, after Google's announcement of the smaller A3 High machines)"),
    "gce-disks": Source(
        "https://cloud.google.com/compute/disks-image-pricing", "2026-11-27", "compute-engine",
        "'based off US pricing, a 200 GB standard Persistent Disk volume would cost $8.00 for "
        "the whole month ... a 200 GB SSD Persistent Disk volume would cost $34.00': $0.04 and "
        "$0.17 per GB-month in US regions"),
}

# (kind, name, region, on-demand, spot, source). kind: "machine" and "accelerator" rates are per
# hour of one machine / one accelerator; "disk" rates are per GiB-month (prices.py divides by
# 730 hours, the month Google's pricing pages use). Flex-start (Dynamic Workload Scheduler)
# rates are FLEX_RATES below (A3 High and its H100 in us-central1 only): elsewhere a FLEX_START
# estimate says "unknown".
RATES: tuple[tuple[str, str, str, float | None, float | None, str], ...] = (
    # Vertex AI custom training (source: the Vertex AI pricing page). Where Compute Engine's
    # table has the same machine or GPU, only its Spot rate is kept beside the Vertex rate.
    ("machine", "n1-standard-4", "us-central1", 0.21849885, None, "vertex-page"),
    ("machine", "n1-standard-4", "us-central1", None, 0.04815, "gce-catalog"),
    ("accelerator", "NVIDIA_TESLA_T4", "europe-west4", 0.4025, None, "vertex-page-t4"),
    ("accelerator", "NVIDIA_TESLA_T4", "europe-west4", None, 0.14, "gce-catalog"),
)
# Compute Engine rates (lower bounds for Vertex), per machine type or GPU:
# {region: (on-demand, spot)}, transcribed from the gce-catalog rows of each zone (every zone of
# a region has the same rates there).
_GCE: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("machine", "n1-standard-4"): {
        "europe-west4": (0.20917, 0.07782), "asia-east1": (0.22, 0.04223),
        "us-east1": (0.19, 0.04815), "europe-west1": (0.20901, 0.0658),
        "asia-southeast1": (0.23439, 0.04556)},
    ("machine", "n1-standard-8"): {
        "us-central1": (0.38, 0.0963), "europe-west4": (0.41834, 0.15564),
        "asia-east1": (0.44, 0.08447), "us-east1": (0.38, 0.0963),
        "europe-west1": (0.41801, 0.13161), "asia-southeast1": (0.46877, 0.09112)},
    ("machine", "n1-standard-16"): {
        "us-central1": (0.76, 0.1926), "europe-west4": (0.83667, 0.31128),
        "asia-east1": (0.87999, 0.16894), "us-east1": (0.76, 0.1926),
        "europe-west1": (0.83603, 0.26322), "asia-southeast1": (0.93754, 0.18224)},
    ("machine", "n1-standard-32"): {
        "us-central1": (1.51999, 0.3852), "europe-west4": (1.67334, 0.62256),
        "asia-east1": (1.75998, 0.33788), "us-east1": (1.51999, 0.3852),
        "europe-west1": (1.67206, 0.52644), "asia-southeast1": (1.87509, 0.36448)},
    ("machine", "n1-standard-64"): {
        "us-central1": (3.03998, 0.7704), "europe-west4": (3.34669, 1.24512),
        "asia-east1": (3.51997, 0.67576), "us-east1": (3.03998, 0.7704),
        "europe-west1": (3.34411, 1.05288), "asia-southeast1": (3.75018, 0.72896)},
    ("machine", "n1-standard-96"): {
        "us-central1": (4.55998, 1.1556), "europe-west4": (5.02003, 1.86768),
        "asia-east1": (5.27995, 1.01364), "us-east1": (4.55998, 1.1556),
        "europe-west1": (5.01617, 1.57932), "asia-southeast1": (5.62526, 1.09344)},
    ("machine", "n1-highcpu-2"): {
        "us-central1": (0.07085, 0.01814), "europe-west4": (0.078, 0.02899),
        "asia-east1": (0.08203, 0.01575)},
    ("machine", "n1-highcpu-4"): {
        "europe-west4": (0.156, 0.05798), "asia-east1": (0.16407, 0.03151)},
    ("machine", "n1-highcpu-8"): {
        "us-central1": (0.2834, 0.07254), "europe-west4": (0.312, 0.11597),
        "asia-east1": (0.32814, 0.06302), "us-east1": (0.2834, 0.07254),
        "europe-west1": (0.31174, 0.09816), "asia-southeast1": (0.34962, 0.06796)},
    ("machine", "n1-highcpu-16"): {
        "us-central1": (0.56679, 0.14509), "europe-west4": (0.624, 0.23194),
        "asia-east1": (0.65628, 0.12603), "us-east1": (0.56679, 0.14509),
        "europe-west1": (0.62349, 0.19633), "asia-southeast1": (0.69924, 0.13591)},
    ("machine", "n1-highcpu-32"): {
        "us-central1": (1.13358, 0.29017), "europe-west4": (1.24799, 0.46387),
        "asia-east1": (1.31256, 0.25206), "us-east1": (1.13358, 0.29017),
        "europe-west1": (1.24697, 0.39265), "asia-southeast1": (1.39848, 0.27182)},
    ("machine", "n1-highmem-8"): {
        "us-central1": (0.47321, 0.11922), "europe-west4": (0.52094, 0.19392),
        "asia-east1": (0.54793, 0.10517), "us-east1": (0.47321, 0.11922),
        "europe-west1": (0.52056, 0.16388), "asia-southeast1": (0.58374, 0.11347)},
    ("machine", "n1-highmem-16"): {
        "asia-east1": (1.09586, 0.21034), "europe-west1": (1.04111, 0.32777)},
    ("machine", "a2-highgpu-1g"): {
        "us-central1": (0.73948, 0.29576), "europe-west4": (0.81406, 0.31824),
        "us-east1": (0.73948, 0.29576), "asia-southeast1": (0.9122, 0.36485)},
    ("machine", "a2-highgpu-2g"): {
        "us-central1": (1.47895, 0.59151), "europe-west4": (1.62813, 0.63648)},
    ("machine", "a2-highgpu-4g"): {
        "us-central1": (2.95791, 1.18302), "europe-west4": (3.25626, 1.27296)},
    ("machine", "a2-highgpu-8g"): {
        "us-central1": (5.91582, 2.36604), "europe-west4": (6.51251, 2.54592),
        "asia-southeast1": (7.29758, 2.9188)},
    ("machine", "a2-ultragpu-1g"): {
        "us-central1": (1.09962, 0.43983), "europe-west4": (1.2105, 0.47328)},
    ("machine", "a3-highgpu-1g"): {
        "us-central1": (1.18251, 0.27193), "europe-west4": (1.24163, 0.2236),
        "asia-east1": (1.36923, 0.2464), "europe-west1": (1.30206, 0.23426),
        "asia-southeast1": (1.45886, 0.26252)},
    ("machine", "a3-highgpu-2g"): {
        "us-central1": (2.36502, 0.54387), "europe-west4": (2.48327, 0.4472),
        "asia-east1": (2.73845, 0.4928)},
    ("machine", "a3-highgpu-4g"): {
        "us-central1": (4.73003, 1.08774), "europe-west4": (4.96653, 0.8944),
        "asia-east1": (5.4769, 0.98561)},
    # GPUs: one GPU an hour (the catalog's AcceleratorCount 1 rows)
    ("accelerator", "NVIDIA_TESLA_T4"): {
        "us-central1": (0.35, 0.14), "asia-east1": (0.35, 0.14), "us-east1": (0.35, 0.14),
        "europe-west1": (0.35, 0.14), "asia-southeast1": (0.37, 0.1195)},
    ("accelerator", "NVIDIA_TESLA_V100"): {
        "us-central1": (2.48, 0.992), "europe-west4": (2.604, 0.7148),
        "asia-east1": (2.48, 0.8792), "us-east1": (2.48, 0.992)},
    ("accelerator", "NVIDIA_TESLA_P100"): {
        "us-central1": (1.46, 0.584), "europe-west4": (1.533, 0.3265),
        "asia-east1": (1.6, 0.1852), "us-east1": (1.46, 0.584), "europe-west1": (1.6, 0.371)},
    ("accelerator", "NVIDIA_TESLA_P4"): {
        "us-central1": (0.6, 0.24), "europe-west4": (0.63, 0.0822),
        "asia-southeast1": (0.65, 0.0662)},
    ("accelerator", "NVIDIA_L4"): {
        "us-central1": (0.56004, 0.2231), "europe-west4": (0.58804, 0.2106),
        "asia-east1": (0.64847, 0.2118), "us-east1": (0.56004, 0.2231),
        "europe-west1": (0.61666, 0.2291), "asia-southeast1": (0.69092, 0.2384)},
    ("accelerator", "NVIDIA_TESLA_A100"): {
        "us-central1": (2.93391, 1.1472), "europe-west4": (1.61365, 1.1691),
        "us-east1": (2.93391, 1.1472), "asia-southeast1": (1.70586, 1.2406)},
}
# Vertex AI runs A3 High machines smaller than a3-highgpu-8g only under Spot or flex-start
# (source vertex-skus-a3): their Compute Engine on-demand rates are not kept, so an on-demand
# estimate of them says "unknown" rather than price a job Vertex would not run.
_NOT_ON_DEMAND = {"a3-highgpu-1g", "a3-highgpu-2g", "a3-highgpu-4g"}
RATES += tuple((kind, name, region, None if name in _NOT_ON_DEMAND else od, spot, "gce-catalog")
               for (kind, name), regions in _GCE.items()
               for region, (od, spot) in regions.items())
RATES += (
    # Boot disks, per GiB-month; the page's US example, so us-central1 only
    ("disk", "pd-standard", "us-central1", 0.04, None, "gce-disks"),
    ("disk", "pd-ssd", "us-central1", 0.17, None, "gce-disks"),
)

# A3 High on Vertex AI custom training in us-central1 (source: vertex-skus-a3), per vCPU-hour,
# per GiB-hour of memory and per GiB-hour of local SSD, by strategy: on demand the Training SKUs;
# flex-start the Compute Engine DWS SKU plus Vertex AI's management fee SKU (local SSD: the DWS
# SKU alone; on demand no local SSD SKU is billed).
A3_UNITS: dict[str, tuple[float, float, float]] = {
    "ON_DEMAND": (0.0293227, 0.0025534, 0.0),
    "FLEX_START": (0.010934 + 0.0038247, 0.000952 + 0.0003331, 0.0001096),
}
H100_RATES = {"ON_DEMAND": 11.2660332, "FLEX_START": 4.200761 + 1.4694826}
# Local SSD that comes with each A3 High machine, GiB (750 and 6,000: the article's tables; 1,500
# and 3,000: github.com/Cyclenerd/google-cloud-pricing-cost-calculator build/gcp.yml, "N TB of
# Local SSD is automatically added to VMs created by using the A3 machine type").
A3_LOCAL_SSD = {"a3-highgpu-1g": 750, "a3-highgpu-2g": 1500, "a3-highgpu-4g": 3000,
                "a3-highgpu-8g": 6000}
# Flex-start (Dynamic Workload Scheduler) rates: (kind, name, region, usd, source).
FLEX_RATES: tuple[tuple[str, str, str, float, str], ...] = ()
for _strategy, (_core, _ram, _ssd) in A3_UNITS.items():
    for _machine, _gib_ssd in A3_LOCAL_SSD.items():
        if _strategy == "ON_DEMAND" and _machine != "a3-highgpu-8g":
            continue  # not offered on demand: no rate, so plan says so
        _vcpus, _gib = {"a3-highgpu-1g": (26, 234), "a3-highgpu-2g": (52, 468),
                        "a3-highgpu-4g": (104, 936), "a3-highgpu-8g": (208, 1872)}[_machine]
        _usd = _vcpus * _core + _gib * _ram + _gib_ssd * _ssd
        if _strategy == "FLEX_START":
            FLEX_RATES += (("machine", _machine, "us-central1", _usd, "vertex-skus-a3"),)
        else:
            RATES += (("machine", _machine, "us-central1", _usd, None, "vertex-skus-a3"),)
RATES += (("accelerator", "NVIDIA_H100_80GB", "us-central1", H100_RATES["ON_DEMAND"], None,
           "vertex-skus-a3"),)
FLEX_RATES += (("accelerator", "NVIDIA_H100_80GB", "us-central1", H100_RATES["FLEX_START"],
                "vertex-skus-a3"),)

# Left out on purpose, with the reason:
# - NVIDIA_H100_80GB outside us-central1, and its Spot rate: the catalog's rows disagree with
#   themselves (4.20076 in us-central1, which is the flex-start "DWS Defined Duration" SKU above,
#   against 9.79655 in us-east4), and the Vertex page's figure 9.79655057 (transcribed without
#   its region) is the Compute Engine rate: the Vertex AI Training SKU in Iowa is 1.15 times it,
#   11.2660332, as n1-standard-4's is (0.21849885 against 0.19).
# - NVIDIA_A100_80GB: the catalog's on-demand rate is barely above its Spot rate.
# - TPUs: the catalog carries placeholder rates (700.0) for several TPU v6e regions, and Vertex
#   prices TPU slices by topology, which the catalog's rows do not map onto.
# - Flex-start beyond A3 High in us-central1: no source read here gave the DWS SKUs of other
#   machines (A2 included) or regions.

# vCPUs and memory (GiB) of the machine types above, from the same gce-catalog rows: what turns a
# catalog's per-core and per-GiB rates for a machine family into one machine's hourly rate.
SHAPES: dict[str, tuple[float, float]] = {
    "n1-standard-1": (1, 3.75), "n1-standard-2": (2, 7.5), "n1-standard-4": (4, 15),
    "n1-standard-8": (8, 30), "n1-standard-16": (16, 60), "n1-standard-32": (32, 120),
    "n1-standard-64": (64, 240), "n1-standard-96": (96, 360),
    "n1-highcpu-2": (2, 1.7998046875), "n1-highcpu-4": (4, 3.599609375),
    "n1-highcpu-8": (8, 7.2001953125), "n1-highcpu-16": (16, 14.400390625),
    "n1-highcpu-32": (32, 28.7998046875), "n1-highcpu-64": (64, 57.599609375),
    "n1-highcpu-96": (96, 86.400390625),
    "n1-highmem-8": (8, 52), "n1-highmem-16": (16, 104), "n1-highmem-64": (64, 416),
    "n1-highmem-96": (96, 624),
    "a2-highgpu-1g": (12, 85), "a2-highgpu-2g": (24, 170), "a2-highgpu-4g": (48, 340),
    "a2-highgpu-8g": (96, 680), "a2-ultragpu-1g": (12, 170),
    "a3-highgpu-1g": (26, 234), "a3-highgpu-2g": (52, 468), "a3-highgpu-4g": (104, 936),
    "a3-highgpu-8g": (208, 1872),
}
