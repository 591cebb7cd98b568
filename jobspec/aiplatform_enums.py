"""Enum values of the aiplatform v1 API that the spec's options check against, as data.

Copied from the discovery document google-api-python-client ships
(googleapiclient/discovery_cache/documents/aiplatform.v1.json, revision 20261106, read
2026-11-27), so validating a spec never imports googleapiclient. tests/test_joboptions.py fails
when the shipped document's lists differ from these. Each value maps to whether the document
marks it deprecated, and its description there.
"""

from __future__ import annotations

REVISION = "20261106"

# MachineSpec.acceleratorType (ACCELERATOR_TYPE_UNSPECIFIED left out: it means no accelerator)
ACCELERATOR_TYPES: dict[str, tuple[bool, str]] = {
    "NVIDIA_TESLA_K80": (True, "Deprecated: Nvidia Tesla K80 GPU has reached end of support, "
                               "see https://cloud.google.com/compute/docs/eol/k80-eol."),
    "NVIDIA_TESLA_P100": (False, "Nvidia Tesla P100 GPU."),
    "NVIDIA_TESLA_V100": (False, "Nvidia Tesla V100 GPU."),
    "NVIDIA_TESLA_P4": (False, "Nvidia Tesla P4 GPU."),
    "NVIDIA_TESLA_T4": (False, "Nvidia Tesla T4 GPU."),
    "NVIDIA_TESLA_A100": (False, "Nvidia Tesla A100 GPU."),
    "NVIDIA_A100_80GB": (False, "Nvidia A100 80GB GPU."),
    "NVIDIA_L4": (False, "Nvidia L4 GPU."),
    "NVIDIA_H100_80GB": (False, "Nvidia H100 80Gb GPU."),
    "NVIDIA_H100_MEGA_80GB": (False, "Nvidia H100 Mega 80Gb GPU."),
    "NVIDIA_H200_141GB": (False, "Nvidia H200 141Gb GPU."),
    "NVIDIA_B200": (False, "Nvidia B200 GPU."),
    "NVIDIA_GB200": (False, "Nvidia GB200 GPU."),
    "NVIDIA_RTX_PRO_6000": (False, "Nvidia RTX Pro 6000 GPU."),
    "TPU_V2": (False, "TPU v2."),
    "TPU_V3": (False, "TPU v3."),
    "TPU_V4_POD": (False, "TPU v4."),
    "TPU_V5_LITEPOD": (False, "TPU v5."),
}

# Scheduling.strategy (STRATEGY_UNSPECIFIED left out: "Strategy will default to STANDARD")
SCHEDULING_STRATEGIES: dict[str, tuple[bool, str]] = {
    "ON_DEMAND": (True, "Deprecated. Regular on-demand provisioning strategy."),
    "LOW_COST": (True, "Deprecated. Low cost by making potential use of spot resources."),
    "STANDARD": (False, "Standard provisioning strategy uses regular on-demand resources."),
    "SPOT": (False, "Spot provisioning strategy uses spot resources."),
    "FLEX_START": (False, "Flex Start strategy uses DWS to queue for resources."),
}

# ReservationAffinity.reservationAffinityType (TYPE_UNSPECIFIED: "This should not be used")
RESERVATION_AFFINITY_TYPES: dict[str, tuple[bool, str]] = {
    "NO_RESERVATION": (False, "Do not consume from any reserved capacity, only use on-demand."),
    "ANY_RESERVATION": (False, "Consume any reservation available, falling back to on-demand."),
    "SPECIFIC_RESERVATION": (False, "Consume from a specific reservation. When chosen, the "
                                    "reservation must be identified via the `key` and `values` "
                                    "fields."),
}

# DiskSpec.bootDiskType is a free string; its description lists the valid values
BOOT_DISK_TYPES = ("pd-ssd", "pd-standard", "hyperdisk-balanced")
