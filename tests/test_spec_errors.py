"""The error table: broken specs and the exact text `jobspec validate` prints for each.

Each case pins the whole message: `file:line:col: key.path: message`, the source line, the
caret and the summary. Placeholders: {dir} is the spec's folder, {parent} its parent, {LONG}
a 129-character job name.
"""

# ruff: noqa: E501 - the pinned messages are the long lines users see; wrapping would hide them

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

LONG = "a" + "b" * 128


def case(name: str, spec: str, expected: str, env: dict[str, str] | None = None) -> object:
    fill = {"{LONG}": LONG}
    spec, expected = dedent(spec), dedent(expected)
    for key, value in fill.items():
        spec, expected = spec.replace(key, value), expected.replace(key, value)
    return pytest.param(spec, expected, env or {}, id=name)


def project(tmp_path: Path, spec: str | bytes) -> Path:
    """A folder with the spec, a trainer package and a plain `data` folder (no __init__.py)."""
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text("")
    (tmp_path / "data").mkdir()
    path = tmp_path / "spec.yaml"
    if isinstance(spec, bytes):
        path.write_bytes(spec)
    else:
        path.write_text(spec)
    return path


def fill(expected: str, tmp_path: Path) -> str:
    return expected.replace("{dir}", str(tmp_path)).replace("{parent}", str(tmp_path.parent))


CASES = [
    case(
        "yaml-unclosed-flow-sequence",
        """\
        version: 1
        name: [job
        """,
        """\
        spec.yaml:2:7: YAML syntax error: the file ends inside this flow sequence: did not find expected ',' or ']'
            2 | name: [job
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "yaml-unclosed-quote",
        """\
        version: 1
        name: "job
        """,
        """\
        spec.yaml:2:7: YAML syntax error: the file ends inside this quoted value: found unexpected end of stream
            2 | name: "job
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "yaml-indented-too-far",
        """\
        version: 1
        name: job
          trainer: x
        """,
        """\
        spec.yaml:3:10: YAML syntax error: unexpected ':' here: is the line indented too far, or does a value holding ': ' need quotes?
            3 |   trainer: x
              |          ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "yaml-list-item-in-mapping",
        """\
        version: 1
        name: job
        - x
        """,
        """\
        spec.yaml:3:1: YAML syntax error: did not find expected key (in the block mapping at line 1, column 1)
            3 | - x
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "yaml-reserved-character",
        """\
        version: 1
        name: @job
        """,
        """\
        spec.yaml:2:7: YAML syntax error: '@' cannot start a plain value: put the value in quotes
            2 | name: @job
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "yaml-unknown-alias",
        """\
        version: 1
        name: *job
        """,
        """\
        spec.yaml:2:7: unknown alias *job
            2 | name: *job
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "yaml-brace-in-flow-list",
        """\
        version: 1
        args: [--out=${name}]
        """,
        """\
        spec.yaml:2:15: YAML syntax error: did not find expected ',' or ']' (in the flow sequence at line 2, column 7); quote values that contain { } [ ] or ,
            2 | args: [--out=${name}]
              |               ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "yaml-tab-indent",
        """\
        version: 1
        trainer:
        \tmodule: trainer.task
        """,
        """\
        spec.yaml:3:1: YAML syntax error: a tab character: YAML indents with spaces only
            3 | \tmodule: trainer.task
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "yaml-control-character",
        """\
        version: 1
        name: jo\x07b
        """,
        """\
        spec.yaml:2:9: the character U+0007 is not allowed in YAML (control characters must be escaped in a double-quoted string)
            2 | name: jo\ufffdb
              |         ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "type-str",
        """\
        version: 1
        name: 12
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:2:7: name: expected a string, got the number 12
            2 | name: 12
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "type-int-literal",
        """\
        version: "1"
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:1:10: version: expected 1, got the string '1'
            1 | version: "1"
              |          ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "type-int",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local:
            distributed: {workers: "2"}
        """,
        """\
        spec.yaml:8:28: targets.local.distributed.workers: expected a whole number, got the string '2'
            8 |     distributed: {workers: "2"}
              |                            ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "type-int-float",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local:
            distributed: {workers: 2.5}
        """,
        """\
        spec.yaml:8:28: targets.local.distributed.workers: expected a whole number, got the number 2.5
            8 |     distributed: {workers: 2.5}
              |                            ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "type-bool",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local:
            isolated: "yes"
        """,
        """\
        spec.yaml:8:15: targets.local.isolated: expected true or false, got the string 'yes'
            8 |     isolated: "yes"
              |               ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "type-list",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        args: {train-steps: 1000}
        targets:
          local: {}
        """,
        """\
        spec.yaml:6:7: args: expected a list, got a mapping
            6 | args: {train-steps: 1000}
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "type-mapping",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        env: [DEBUG=1]
        targets:
          local: {}
        """,
        """\
        spec.yaml:6:6: env: expected a mapping, got a list
            6 | env: [DEBUG=1]
              |      ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "type-mapping-section",
        """\
        version: 1
        name: job
        trainer: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:3:10: trainer: expected a mapping, got the string 'trainer.task'
            3 | trainer: trainer.task
              |          ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "unknown-top",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        descripton: census
        targets:
          local: {}
        """,
        """\
        spec.yaml:6:1: descripton: unknown key (did you mean 'description'?)
            6 | descripton: census
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "unknown-trainer",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
          requirement: [numpy]
        targets:
          local: {}
        """,
        """\
        spec.yaml:6:3: trainer.requirement: unknown key (did you mean 'requirements'?)
            6 |   requirement: [numpy]
              |   ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "unknown-local",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local:
            job_dri: output
        """,
        """\
        spec.yaml:8:5: targets.local.job_dri: unknown key (did you mean 'job_dir'?)
            8 |     job_dri: output
              |     ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "unknown-cloud",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            regoin: europe-west1
        """,
        """\
        spec.yaml:10:5: targets.cloud.regoin: unknown key (did you mean 'region'?)
           10 |     regoin: europe-west1
              |     ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "unknown-distributed",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local:
            distributed:
              wokers: 2
        """,
        """\
        spec.yaml:9:7: targets.local.distributed.wokers: unknown key (did you mean 'workers'?)
            9 |       wokers: 2
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "unknown-custom-pool",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            scale_tier: CUSTOM
            chief:
              machine_type: n1-standard-4
              cuont: 1
        """,
        """\
        spec.yaml:13:7: targets.cloud.chief.cuont: unknown key (did you mean 'count'?)
           13 |       cuont: 1
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "unknown-accelerator",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            scale_tier: CUSTOM
            chief:
              machine_type: n1-standard-4
              accelerator: {type: NVIDIA_TESLA_T4, cnt: 1}
        """,
        """\
        spec.yaml:13:44: targets.cloud.chief.accelerator.cnt: unknown key (did you mean 'count'?)
           13 |       accelerator: {type: NVIDIA_TESLA_T4, cnt: 1}
              |                                            ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "missing-version",
        """\
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:1:1: version: missing required key 'version'
            1 | name: job
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "missing-name",
        """\
        version: 1
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:1:1: name: missing required key 'name'
            1 | version: 1
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "missing-trainer",
        """\
        version: 1
        name: job
        targets:
          local: {}
        """,
        """\
        spec.yaml:1:1: trainer: missing required key 'trainer'
            1 | version: 1
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "missing-module",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
        targets:
          local: {}
        """,
        """\
        spec.yaml:3:1: trainer.module: missing required key 'module'
            3 | trainer:
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "missing-package-path",
        """\
        version: 1
        name: job
        trainer:
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:3:1: trainer.package_path: missing required key 'package_path'
            3 | trainer:
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "missing-targets",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        """,
        """\
        spec.yaml:1:1: targets: missing required key 'targets'
            1 | version: 1
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "missing-bucket",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            runtime_version: "2.11"
        """,
        """\
        spec.yaml:7:3: targets.cloud.bucket: missing required key 'bucket'
            7 |   cloud:
              |   ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "name-digit-first",
        """\
        version: 1
        name: 7up
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:2:7: name: expected a letter, then letters, digits or underscores, at most 128 characters, got '7up'
            2 | name: 7up
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "name-dash",
        """\
        version: 1
        name: census-single
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:2:7: name: expected a letter, then letters, digits or underscores, at most 128 characters, got 'census-single'
            2 | name: census-single
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "name-129-chars",
        """\
        version: 1
        name: {LONG}
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:2:7: name: a job name has at most 128 characters, got 129
            2 | name: {LONG}
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "name-after-interpolation",
        """\
        version: 1
        name: census_${RUN}
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:2:7: name: expected a letter, then letters, digits or underscores, at most 128 characters, got 'census_run-7'
            2 | name: census_${RUN}
              |       ^
        1 problem(s) in 1 file(s)
        """, env={'RUN': 'run-7'},
    ),
    case(
        "bucket-invalid",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: My_Bucket
            runtime_version: "2.11"
        """,
        """\
        spec.yaml:8:13: targets.cloud.bucket: 'My_Bucket' is not a valid bucket name: expected 3-63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit
            8 |     bucket: My_Bucket
              |             ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "bucket-gs-prefix",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: gs://my-bucket
            runtime_version: "2.11"
        """,
        """\
        spec.yaml:8:13: targets.cloud.bucket: expected a bucket name without gs://, got 'gs://my-bucket'
            8 |     bucket: gs://my-bucket
              |             ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "cloud-job-dir-not-gs",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            job_dir: output/job
        """,
        """\
        spec.yaml:10:14: targets.cloud.job_dir: a cloud job_dir must be a gs:// path, got 'output/job'
           10 |     job_dir: output/job
              |              ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "module-invalid",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer/task.py
        targets:
          local: {}
        """,
        """\
        spec.yaml:5:11: trainer.module: expected a dotted Python module name like trainer.task, got 'trainer/task.py'
            5 |   module: trainer/task.py
              |           ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "package-path-missing",
        """\
        version: 1
        name: job
        trainer:
          package_path: ../trainer
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:4:17: trainer.package_path: '../trainer' is not a folder (looked for {parent}/trainer)
            4 |   package_path: ../trainer
              |                 ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "package-path-no-init",
        """\
        version: 1
        name: job
        trainer:
          package_path: data
          module: trainer.task
        targets:
          local: {}
        """,
        """\
        spec.yaml:4:17: trainer.package_path: 'data' is not a Python package: {dir}/data has no __init__.py
            4 |   package_path: data
              |                 ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "extends-unknown",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
          debug:
            kind: local
            extends: locl
        """,
        """\
        spec.yaml:10:14: targets.debug.extends: no target named 'locl' to extend (did you mean 'local'?)
           10 |     extends: locl
              |              ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "extends-cycle",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          a:
            kind: local
            extends: b
          b:
            kind: local
            extends: a
        """,
        """\
        spec.yaml:12:14: targets.b.extends: extends forms a cycle: a -> b -> a
           12 |     extends: a
              |              ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "extends-itself",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          a:
            kind: local
            extends: a
        """,
        """\
        spec.yaml:9:14: targets.a.extends: extends forms a cycle: a -> a
            9 |     extends: a
              |              ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "custom-without-chief",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            scale_tier: CUSTOM
            workers: {machine_type: n1-standard-4, count: 2}
        """,
        """\
        spec.yaml:7:3: targets.cloud: scale_tier CUSTOM needs chief.machine_type
            7 |   cloud:
              |   ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "basic-tpu",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            scale_tier: BASIC_TPU
        """,
        """\
        spec.yaml:10:17: targets.cloud.scale_tier: BASIC_TPU is not supported: Vertex AI has no equivalent of the legacy TPU tier; use scale_tier CUSTOM with a TPU machine type
           10 |     scale_tier: BASIC_TPU
              |                 ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "cloud-without-runtime",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
        """,
        """\
        spec.yaml:7:3: targets.cloud: a cloud target needs an image: image (any container image with python3 and pip), build, runtime_version or executor_image
            7 |   cloud:
              |   ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "cloud-runtime-and-image",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            executor_image: us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest
        """,
        """\
        spec.yaml:10:21: targets.cloud.executor_image: executor_image and runtime_version both name the image; keep one: image (any container), build (an image jobspec builds), runtime_version (a framework version) or executor_image (a Google prebuilt image)
           10 |     executor_image: us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest
              |                     ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "scale-tier-typo",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            scale_tier: STANDARD1
        """,
        """\
        spec.yaml:10:17: targets.cloud.scale_tier: expected one of BASIC, STANDARD_1, PREMIUM_1, BASIC_GPU, BASIC_TPU, CUSTOM, got the string 'STANDARD1' (did you mean 'STANDARD_1'?)
           10 |     scale_tier: STANDARD1
              |                 ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "scale-tier-case",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            scale_tier: basic_gpu
        """,
        """\
        spec.yaml:10:17: targets.cloud.scale_tier: expected one of BASIC, STANDARD_1, PREMIUM_1, BASIC_GPU, BASIC_TPU, CUSTOM, got the string 'basic_gpu' (did you mean 'BASIC_GPU'?)
           10 |     scale_tier: basic_gpu
              |                 ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "labels-bad-key",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            labels: {Team: ml}
        """,
        """\
        spec.yaml:10:14: targets.cloud.labels.Team: label key 'Team' must start with a lowercase letter and hold at most 63 lowercase letters, digits, '_' or '-'
           10 |     labels: {Team: ml}
              |              ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "labels-bad-value",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            labels: {team: "ML Ops"}
        """,
        """\
        spec.yaml:10:20: targets.cloud.labels.team: label value 'ML Ops' may hold at most 63 lowercase letters, digits, '_' or '-'
           10 |     labels: {team: "ML Ops"}
              |                    ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "region-invalid",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            region: us_central1
        """,
        """\
        spec.yaml:10:13: targets.cloud.region: expected a region like us-central1, got 'us_central1'
           10 |     region: us_central1
              |             ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "max-running-time-invalid",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            max_running_time: 2 hours
        """,
        """\
        spec.yaml:10:23: targets.cloud.max_running_time: expected a number of seconds (at least 1) or a duration like "90m", "2h", got '2 hours'
           10 |     max_running_time: 2 hours
              |                       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "max-running-time-negative",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            max_running_time: -60
        """,
        """\
        spec.yaml:10:23: targets.cloud.max_running_time: expected a number of seconds (at least 1) or a duration like "90m", "2h", got -60
           10 |     max_running_time: -60
              |                       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "interp-bad-syntax",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        args:
          - --data=${DATA DIR}
        targets:
          local: {}
        """,
        """\
        spec.yaml:7:5: args[0]: '${DATA DIR}' is not a valid reference: use ${name}, ${VAR} or ${VAR:-default}
            7 |   - --data=${DATA DIR}
              |     ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "interp-unterminated",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        args:
          - --data=${DATA_DIR
        targets:
          local: {}
        """,
        """\
        spec.yaml:7:5: args[0]: unterminated '${' (write '$$' for a literal '$')
            7 |   - --data=${DATA_DIR
              |     ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "interp-bucket-in-local",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local:
            job_dir: gs://${bucket}/out
        """,
        """\
        spec.yaml:8:14: targets.local.job_dir: '${bucket}' is not defined: target 'local' is not a cloud target
            8 |     job_dir: gs://${bucket}/out
              |              ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "unsafe-tag",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        args: !!python/object/apply:os.system ["touch PWNED"]
        targets:
          local: {}
        """,
        """\
        spec.yaml:6:7: YAML tag '!!python/object/apply:os.system' is not allowed: a job file holds plain data (strings, numbers, booleans, lists and mappings) only
            6 | args: !!python/object/apply:os.system ["touch PWNED"]
              |       ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "terminal-escapes-and-bidi-shown-inert",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        "colour\\e[31m": red
        na\u202eme: x
        targets:
          local: {}
        """,
        """\
        spec.yaml:6:1: ['colour\\x1b[31m']: unknown key
            6 | "colour\\e[31m": red
              | ^
        spec.yaml:7:1: ['na\\u202eme']: unknown key (did you mean 'name'?)
            7 | na\ufffdme: x
              | ^
        2 problem(s) in 1 file(s)
        """,
    ),
    case(
        "kind-mapping-inside-a-target",  # found by bench/fuzz_specs.py: a traceback before
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local:
            distributed: {kind: {}, workrs: 1}
        """,
        """\
        spec.yaml:8:19: targets.local.distributed.kind: unknown key
            8 |     distributed: {kind: {}, workrs: 1}
              |                   ^
        spec.yaml:8:29: targets.local.distributed.workrs: unknown key (did you mean 'workers'?)
            8 |     distributed: {kind: {}, workrs: 1}
              |                             ^
        2 problem(s) in 1 file(s)
        """,
    ),
    case(
        "duplicate-key",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        name: other
        targets:
          local: {}
        """,
        """\
        spec.yaml:6:1: duplicate key 'name' (first defined at line 2); YAML would keep only one
            6 | name: other
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "top-level-list",
        """\
        - version: 1
        - name: job
        """,
        """\
        spec.yaml:1:1: expected a mapping of keys at the top level, got a list
            1 | - version: 1
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "top-level-empty",
        """\
        # nothing yet
        """,
        """\
        spec.yaml:1:1: expected a mapping of keys at the top level, got nothing (an empty value)
            1 | # nothing yet
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "kind-missing",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
          gpu:
            job_dir: output
        """,
        """\
        spec.yaml:8:3: targets.gpu: missing 'kind' (local or cloud): only targets named local or cloud may leave it out
            8 |   gpu:
              |   ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "kind-wrong",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
          gpu:
            kind: Cloud
        """,
        """\
        spec.yaml:9:11: targets.gpu.kind: expected one of local, cloud, got the string 'Cloud' (did you mean 'cloud'?)
            9 |     kind: Cloud
              |           ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "multiple-documents",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets:
          local: {}
        ---
        version: 1
        """,
        """\
        spec.yaml:8:1: more than one YAML document; a job file holds one
            8 | ---
              | ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "targets-not-mapping",
        """\
        version: 1
        name: job
        trainer:
          package_path: trainer
          module: trainer.task
        targets: [local, cloud]
        """,
        """\
        spec.yaml:6:10: targets: expected a mapping, got a list
            6 | targets: [local, cloud]
              |          ^
        1 problem(s) in 1 file(s)
        """,
    ),
    case(
        "several-errors",
        """\
        version: 2
        name: 1job
        trainer:
          package_path: trainer
          modul: trainer.task
        extra: 1
        targets:
          local:
            job_dri: output
          cloud:
            bucket: gs://bucket
            runtime_version: "2.11"
        """,
        """\
        spec.yaml:1:10: version: expected 1, got the number 2
            1 | version: 2
              |          ^
        spec.yaml:2:7: name: expected a letter, then letters, digits or underscores, at most 128 characters, got '1job'
            2 | name: 1job
              |       ^
        spec.yaml:3:1: trainer.module: missing required key 'module'
            3 | trainer:
              | ^
        spec.yaml:5:3: trainer.modul: unknown key (did you mean 'module'?)
            5 |   modul: trainer.task
              |   ^
        spec.yaml:6:1: extra: unknown key
            6 | extra: 1
              | ^
        spec.yaml:9:5: targets.local.job_dri: unknown key (did you mean 'job_dir'?)
            9 |     job_dri: output
              |     ^
        spec.yaml:11:13: targets.cloud.bucket: expected a bucket name without gs://, got 'gs://bucket'
           11 |     bucket: gs://bucket
              |             ^
        7 problem(s) in 1 file(s)
        """,
    ),
]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 45


@pytest.mark.parametrize(("spec", "expected", "env"), CASES)
def test_broken_spec(spec: str, expected: str, env: dict[str, str], cli, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATA_DIR", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    project(tmp_path, spec)
    result = cli("validate", "spec.yaml", cwd=tmp_path)
    assert "Traceback" not in result.out + result.err
    assert (result.code, result.out) == (2, "")
    assert result.err == fill(expected, tmp_path)
    assert not (tmp_path / "PWNED").exists()  # no tag ever ran a command


UNSET_VAR = """\
version: 1
name: job
trainer:
  package_path: trainer
  module: trainer.task
args:
  - --data=${DATA_DIR}/train.csv
targets:
  local: {}
"""
UNSET_ERROR = """\
spec.yaml:7:5: args[0]: environment variable DATA_DIR is not set (write ${DATA_DIR:-default} \
to give a default)
    7 |   - --data=${DATA_DIR}/train.csv
      |     ^
"""


def test_unset_variable_is_an_error_at_plan_and_with_strict_env(cli, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.delenv("DATA_DIR", raising=False)
    project(tmp_path, UNSET_VAR)
    strict = cli("validate", "--strict-env", "spec.yaml", cwd=tmp_path)
    assert (strict.code, strict.out) == (2, "")
    assert strict.err == UNSET_ERROR + "1 problem(s) in 1 file(s)\n"
    plan = cli("plan", "spec.yaml", "--target", "local", cwd=tmp_path)
    assert (plan.code, plan.out) == (2, "")
    assert plan.err.startswith(UNSET_ERROR)


def test_unset_variable_is_a_note_at_validate(cli, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATA_DIR", raising=False)
    project(tmp_path, UNSET_VAR)
    result = cli("validate", "spec.yaml", cwd=tmp_path)
    assert (result.code, result.out) == (0, "1 spec(s) valid\n")
    assert result.err == UNSET_ERROR.replace(
        "to give a default)", "to give a default): note: allowed by `validate`, which may run "
        "without your environment (CI, pre-commit); an error at `plan` and `run`, and with "
        "`validate --strict-env`")


def test_unsafe_tag_never_executes(cli, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    project(tmp_path, f"""\
version: 1
name: !!python/object/apply:os.system ["touch {marker}"]
run: !!python/object/apply:subprocess.check_call [["touch", "{marker}"]]
""")
    result = cli("validate", "spec.yaml", cwd=tmp_path)
    assert result.code == 2
    assert "YAML tag '!!python/object/apply:os.system' is not allowed" in result.err
    assert not marker.exists()


def test_not_utf8(cli, tmp_path: Path) -> None:
    project(tmp_path, b"version: 1\nname: caf\xe9\n")  # Latin-1, as some editors save it
    result = cli("validate", "spec.yaml", cwd=tmp_path)
    assert result.code == 2
    assert result.err == dedent("""\
        spec.yaml:2:10: not UTF-8 text (byte 0xe9); save the file as UTF-8
            2 | name: caf\ufffd
              |          ^
        1 problem(s) in 1 file(s)
        """)


def test_every_file_is_reported(cli, tmp_path: Path) -> None:
    project(tmp_path, "version: 1\nname: 9\n")
    (tmp_path / "other.yaml").write_text("version: 1\nname: [\n")
    (tmp_path / "fine.yaml").write_text(
        "version: 1\nname: fine\ntrainer: {package_path: trainer, module: trainer.task}\n"
        "targets: {local: {}}\n")
    result = cli("validate", "spec.yaml", "fine.yaml", "other.yaml", cwd=tmp_path)
    assert result.code == 2
    lines = result.err.splitlines()
    assert [line for line in lines if not line.startswith(" ")] == [
        "spec.yaml:1:1: targets: missing required key 'targets'",
        "spec.yaml:1:1: trainer: missing required key 'trainer'",
        "spec.yaml:2:7: name: expected a string, got the number 9",
        "other.yaml:2:8: YAML syntax error: the file ends too early: did not find expected node content",
        "4 problem(s) in 2 file(s)",
    ]


def test_missing_file_is_a_usage_error(cli, tmp_path: Path) -> None:
    result = cli("validate", "nope.yaml", cwd=tmp_path)
    assert (result.code, result.err) == (2, "nope.yaml: no such spec file\n1 problem(s) in 1 file(s)\n")


# ---------------------------------------------------------------------------------------------
# Command-line overrides: each error names the override it came from


SPEC = """\
version: 1
name: job
trainer:
  package_path: trainer
  module: trainer.task
targets:
  local: {}
  cloud:
    bucket: my-bucket
    runtime_version: "2.11"
"""


def override(name: str, args: list[str], expected: str) -> object:
    return pytest.param(args, dedent(expected), id=name)


OVERRIDES = [
    override(
        "set-invalid-value",
        ["--target", "cloud", "--set", "targets.cloud.region=europe_west1"],
        """\
        --set targets.cloud.region=europe_west1:1:28: targets.cloud.region: expected a region like us-central1, got 'europe_west1'
            1 | --set targets.cloud.region=europe_west1
              |                            ^
        """,
    ),
    override(
        "set-unknown-key",
        ["--target", "cloud", "--set", "targets.cloud.regoin=europe-west1"],
        """\
        --set targets.cloud.regoin=europe-west1:1:21: targets.cloud.regoin: unknown key (did you mean 'region'?)
            1 | --set targets.cloud.regoin=europe-west1
              |                     ^
        """,
    ),
    override(
        "set-wrong-type",
        ["--target", "local", "--set", "name=5"],
        """\
        --set name=5:1:12: name: expected a string, got the number 5
            1 | --set name=5
              |            ^
        """,
    ),
    override(
        "set-no-equals",
        ["--target", "local", "--set", "targets.local.job_dir"],
        """\
        --set targets.local.job_dir:1:7: expected KEY.PATH=VALUE
            1 | --set targets.local.job_dir
              |       ^
        """,
    ),
    override(
        "set-empty-key",
        ["--target", "local", "--set", "targets..job_dir=x"],
        """\
        --set targets..job_dir=x:1:15: targets..job_dir: empty key in the path
            1 | --set targets..job_dir=x
              |               ^
        """,
    ),
    override(
        "set-through-scalar",
        ["--target", "local", "--set", "name.first=x"],
        """\
        --set name.first=x:1:7: name.first: name is the string 'job', so it has no key 'first'
            1 | --set name.first=x
              |       ^
        """,
    ),
    override(
        "set-yaml-syntax",
        ["--target", "local", "--set", "args=[--a, --b"],
        """\
        --set args=[--a, --b:1:12: YAML syntax error: the value ends inside this flow sequence: did not find expected ',' or ']'
            1 | --set args=[--a, --b
              |            ^
        """,
    ),
    override(
        "set-list-item-type",
        ["--target", "local", "--set", "args=[--a, {b: 1}]"],
        """\
        --set args=[--a, {b: 1}]:1:18: args[1]: expected a string, got a mapping
            1 | --set args=[--a, {b: 1}]
              |                  ^
        """,
    ),
    override(
        "set-unsafe-tag",
        ["--target", "local", "--set", "name=!!python/object/apply:os.system [touch PWNED]"],
        """\
        --set name=!!python/object/apply:os.system [touch PWNED]:1:12: YAML tag '!!python/object/apply:os.system' is not allowed: a job file holds plain data (strings, numbers, booleans, lists and mappings) only
            1 | --set name=!!python/object/apply:os.system [touch PWNED]
              |            ^
        """,
    ),
    override(
        "set-unset-var",
        ["--target", "local", "--set", "targets.local.job_dir=${NO_SUCH_DIR}"],
        """\
        --set targets.local.job_dir=${NO_SUCH_DIR}:1:29: targets.local.job_dir: environment variable NO_SUCH_DIR is not set (write ${NO_SUCH_DIR:-default} to give a default)
            1 | --set targets.local.job_dir=${NO_SUCH_DIR}
              |                             ^
        """,
    ),
    override(
        "name-digit-first",
        ["--target", "local", "--name", "2nd_try"],
        """\
        --name 2nd_try:1:8: name: expected a letter, then letters, digits or underscores, at most 128 characters, got '2nd_try'
            1 | --name 2nd_try
              |        ^
        """,
    ),
    override(
        "name-dash",
        ["--target", "local", "--name", "census-run"],
        """\
        --name census-run:1:8: name: expected a letter, then letters, digits or underscores, at most 128 characters, got 'census-run'
            1 | --name census-run
              |        ^
        """,
    ),
    override(
        "target-typo",
        ["--target", "clod"],
        """\
        spec.yaml: no target named 'clod' (did you mean 'cloud'?); the spec has: local, cloud
        """,
    ),
    override(
        "target-unknown",
        ["--target", "staging"],
        """\
        spec.yaml: no target named 'staging'; the spec has: local, cloud
        """,
    ),
]


@pytest.mark.parametrize(("args", "expected"), OVERRIDES)
def test_bad_override(args: list[str], expected: str, cli, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_DIR", raising=False)
    project(tmp_path, SPEC)
    result = cli("plan", "spec.yaml", *args, cwd=tmp_path)
    assert "Traceback" not in result.out + result.err
    assert (result.code, result.out) == (2, "")
    assert result.err == expected
    assert not (tmp_path / "PWNED").exists()
