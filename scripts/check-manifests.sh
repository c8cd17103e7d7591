#!/usr/bin/env bash
# Validates deploy/kubernetes/ without a cluster and without the network:
# - every built-in resource against the Kubernetes API schemas, strictly (unknown fields are
#   errors), with kubernetes-validate from PyPI, which carries the schemas of each Kubernetes
#   release in its wheel;
# - KEDA's ScaledObject against KEDA's CRD schema as cloudcoil-models-keda (PyPI) generated it
#   into models, strictly too, and its redis-streams trigger's parameters against the names
#   KEDA documents;
# - kustomization.yaml lists every manifest, and only those.
# The validators run in a network namespace of their own with no interface, so a validator
# that tried to fetch a schema would fail here rather than quietly pass.
#   scripts/check-manifests.sh [DIR]    (default deploy/kubernetes)
# The validators are installed once into .cache/package/venv (pinned versions).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.cache/package/venv
if [[ ! -x $venv/bin/kubernetes-validate ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate==1.37.0 cloudcoil-models-keda==2.16.1.0 pyyaml >&2
fi

unshare --net "$venv/bin/python" - "${1:-deploy/kubernetes}" <<'EOF'
import pathlib
import subprocess
import sys

import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject

folder = pathlib.Path(sys.argv[1])
kubernetes_validate = pathlib.Path(sys.executable).with_name("kubernetes-validate")
failures = []
checked = 0

manifests = sorted(p for p in folder.glob("*.yaml") if p.name != "kustomization.yaml")
listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
if sorted(listed) != [p.name for p in manifests]:
    failures.append(f"kustomization.yaml lists {sorted(listed)}, the folder has "
                    f"{[p.name for p in manifests]}")

# Parameters of KEDA's redis-streams scaler (keda.sh docs, "Redis Streams").
REDIS_STREAMS = {
    "address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv",
    "username", "usernameFromEnv", "password", "passwordFromEnv", "stream", "consumerGroup",
    "pendingEntriesCount", "streamLength", "lagCount", "activationLagCount", "enableTLS",
    "unsafeSsl", "databaseIndex",
}


def dropped(given, kept, path=""):
    """Keys of `given` that the model did not keep: fields the schema does not know."""
    if isinstance(given, dict):
        unknown = []
        for key, value in given.items():
            if key not in (kept or {}):
                unknown.append(f"{path}.{key}")
            else:
                unknown += dropped(value, kept[key], f"{path}.{key}")
        return unknown
    if isinstance(given, list):
        return [u for i, (g, k) in enumerate(zip(given, kept or [])) for u in dropped(g, k, f"{path}[{i}]")]
    return []


for manifest in manifests:
    for resource in yaml.safe_load_all(manifest.read_text()):
        if not resource:
            continue
        name = f"{manifest.name}: {resource['kind']}/{resource['metadata']['name']}"
        checked += 1
        if resource["apiVersion"].startswith("keda.sh/"):
            try:
                model = ScaledObject.model_validate(resource)
            except Exception as error:  # pydantic says which field and why
                failures.append(f"{name}: {error}")
                continue
            kept = model.model_dump(by_alias=True, exclude_unset=True)
            problems = [f"unknown field {u}" for u in dropped(resource, kept)]
            for trigger in model.spec.triggers:
                if trigger.type == "redis-streams":
                    unknown = set(trigger.metadata) - REDIS_STREAMS
                    if unknown:
                        problems.append(f"redis-streams has no parameter {sorted(unknown)}")
            if problems:
                failures.append(f"{name}: {'; '.join(problems)}")
            else:
                print(f"ok   {name} (KEDA CRD schema, strict)")
            continue
        result = subprocess.run(
            [kubernetes_validate, "--strict", "--quiet", "-"],
            input=yaml.safe_dump(resource), capture_output=True, text=True,
        )
        if result.returncode != 0 or "WARN" in result.stdout:
            failures.append(f"{name}: {result.stdout.strip()} {result.stderr.strip()}")
        else:
            print(f"ok   {name} (Kubernetes schema, strict)")

for failure in failures:
    print(f"FAIL {failure}")
print(f"{checked - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures or checked == 0 else 0)
EOF
