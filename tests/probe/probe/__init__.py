"""Probe trainers for tests/test_local.py: each module is run as `python -m probe.<module>`.

They record what they see (argv, cwd, environment, pid) as JSON files in $PROBE_OUT, so the
tests can compare jobspec's local runs with `gcloud ai-platform local train`.
"""
