"""The shipped price table: hourly rates for Vertex AI custom training, each with its source.

Every figure below was read from the source named next to it on the date given; nothing is
derived or guessed. A rate the sources did not give is absent, and the estimator says "unknown"
for it. `jobspec prices --refresh` writes a user-level copy from the Cloud Billing Catalog API,
which the estimator prefers (jobspec/prices.py).

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
    "gce-disks": Source(
        "https://cloud.google.com/compute/disks-image-pricing", "2026-11-27", "compute-engine",
        "'based off US pricing, a 200 GB standard Persistent Disk volume would cost $8.00 for "
        "the whole month ... a 200 GB SSD Persistent Disk volume would cost $34.00': $0.04 and "
        "$0.17 per GB-month in US regions"),
}

# (kind, name, region, on-demand, spot, source). kind: "machine" and "accelerator" rates are per
# hour of one machine / one accelerator; "disk" rates are per GiB-month (prices.py divides by
# 730 hours, the month Google's pricing pages use). Flex-start (Dynamic Workload Scheduler)
# rates could not be sourced: none are shipped, so a FLEX_START estimate says "unknown".
RATES: tuple[tuple[str, str, str, float | None, float | None, str], ...] = (
    # Vertex AI custom training (source: the Vertex AI pricing page)
    ("machine", "n1-standard-4", "us-central1", 0.21849885, None, "vertex-page"),
    ("accelerator", "NVIDIA_TESLA_T4", "europe-west4", 0.4025, None, "vertex-page-t4"),
    # Compute Engine (lower bounds for Vertex)
    ("machine", "n1-standard-4", "europe-west4", 0.20917, 0.07782, "gce-catalog"),
    ("machine", "n1-standard-8", "us-central1", 0.38, 0.0963, "gce-catalog"),
    ("machine", "n1-standard-8", "europe-west4", 0.41834, 0.15564, "gce-catalog"),
    ("machine", "n1-standard-8", "asia-east1", 0.44, 0.08447, "gce-catalog"),
    ("machine", "n1-standard-64", "us-central1", 3.03998, 0.7704, "gce-catalog"),
    ("machine", "n1-standard-64", "europe-west4", 3.34669, 1.24512, "gce-catalog"),
    ("machine", "n1-standard-64", "asia-east1", 3.51997, 0.67576, "gce-catalog"),
    ("machine", "n1-standard-96", "us-central1", 4.55998, 1.1556, "gce-catalog"),
    ("machine", "n1-standard-96", "europe-west4", 5.02003, 1.86768, "gce-catalog"),
    ("machine", "n1-standard-96", "asia-east1", 5.27995, 1.01364, "gce-catalog"),
    ("machine", "n1-highcpu-2", "us-central1", 0.07085, 0.01814, "gce-catalog"),
    ("machine", "n1-highcpu-2", "europe-west4", 0.078, 0.02899, "gce-catalog"),
    ("machine", "n1-highcpu-4", "europe-west4", 0.156, 0.05798, "gce-catalog"),
    ("machine", "n1-highcpu-4", "asia-east1", 0.16407, 0.03151, "gce-catalog"),
    ("machine", "n1-highcpu-32", "us-central1", 1.13358, 0.29017, "gce-catalog"),
    ("machine", "n1-highcpu-32", "europe-west4", 1.24799, 0.46387, "gce-catalog"),
    ("machine", "n1-highcpu-32", "asia-east1", 1.31256, 0.25206, "gce-catalog"),
    ("machine", "a2-highgpu-1g", "us-central1", 0.73948, 0.29576, "gce-catalog"),
    ("machine", "a2-highgpu-1g", "europe-west4", 0.81406, 0.31824, "gce-catalog"),
    ("machine", "a2-highgpu-2g", "us-central1", 1.47895, 0.59151, "gce-catalog"),
    ("machine", "a2-highgpu-2g", "europe-west4", 1.62813, 0.63648, "gce-catalog"),
    ("machine", "a2-highgpu-4g", "us-central1", 2.95791, 1.18302, "gce-catalog"),
    ("machine", "a2-highgpu-4g", "europe-west4", 3.25626, 1.27296, "gce-catalog"),
    ("machine", "a2-highgpu-8g", "us-central1", 5.91582, 2.36604, "gce-catalog"),
    ("machine", "a2-highgpu-8g", "europe-west4", 6.51251, 2.54592, "gce-catalog"),
    ("machine", "a2-ultragpu-1g", "us-central1", 1.09962, 0.43983, "gce-catalog"),
    ("machine", "a2-ultragpu-1g", "europe-west4", 1.2105, 0.47328, "gce-catalog"),
    ("machine", "a3-highgpu-1g", "us-central1", 1.18251, 0.27193, "gce-catalog"),
    ("machine", "a3-highgpu-1g", "europe-west4", 1.24163, 0.2236, "gce-catalog"),
    ("machine", "a3-highgpu-1g", "asia-east1", 1.36923, 0.2464, "gce-catalog"),
    ("machine", "a3-highgpu-2g", "us-central1", 2.36502, 0.54387, "gce-catalog"),
    ("machine", "a3-highgpu-2g", "europe-west4", 2.48327, 0.4472, "gce-catalog"),
    ("machine", "a3-highgpu-2g", "asia-east1", 2.73845, 0.4928, "gce-catalog"),
    ("machine", "a3-highgpu-4g", "us-central1", 4.73003, 1.08774, "gce-catalog"),
    ("machine", "a3-highgpu-4g", "europe-west4", 4.96653, 0.8944, "gce-catalog"),
    ("machine", "a3-highgpu-4g", "asia-east1", 5.4769, 0.98561, "gce-catalog"),
    ("accelerator", "NVIDIA_TESLA_A100", "us-central1", 2.93391, 1.1472, "gce-catalog"),
    ("accelerator", "NVIDIA_TESLA_A100", "europe-west4", 1.61365, 1.1691, "gce-catalog"),
    ("accelerator", "NVIDIA_L4", "us-central1", 0.56004, 0.2231, "gce-catalog"),
    ("accelerator", "NVIDIA_L4", "europe-west4", 0.58804, 0.2106, "gce-catalog"),
    ("accelerator", "NVIDIA_L4", "asia-east1", 0.64847, 0.2118, "gce-catalog"),
    ("disk", "pd-standard", "us-central1", 0.04, None, "gce-disks"),
    ("disk", "pd-ssd", "us-central1", 0.17, None, "gce-disks"),
)
