"""deploy/kubernetes: the kustomize base and the PostgreSQL-cluster overlay, rendered with
`kubectl kustomize` (when kubectl is present) and validated with `kubernetes-validate --strict`
(PyPI; it bundles the API schemas, no cluster needed) against two Kubernetes versions; then the
facts the drain depends on are read from the rendered objects.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
# The oldest and the newest minor versions the manifests are written for.
VERSIONS = ["1.33", "1.35"]
# Custom resources that kubernetes-validate has no schema for (it warns and passes them).
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def duration_seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", str(text).strip())
    assert match, text
    return float(match[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match[2]]


def render(kustomization: Path, tmp_path: Path) -> Path:
    """The rendered manifests: `kubectl kustomize`, or the base's own files when kubectl is missing
    (only the base renders without it: the overlay's patches need kustomize)."""
    kubectl = shutil.which("kubectl")
    out = tmp_path / f"{kustomization.name}.yaml"
    if kubectl:
        result = subprocess.run([kubectl, "kustomize", str(kustomization)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        out.write_text(result.stdout)
        return out
    if kustomization != KUBE / "base":
        pytest.skip("kubectl is not installed: the overlay needs kustomize to render")
    spec = yaml.safe_load((kustomization / "kustomization.yaml").read_text())
    docs = [(kustomization / name).read_text() for name in spec["resources"]]
    out.write_text("\n---\n".join(docs))
    return out


def validate(manifest: Path, version: str) -> str:
    result = subprocess.run(["kubernetes-validate", "--strict", "-k", version, str(manifest)],
                            capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    print(f"kubernetes-validate --strict -k {version} {manifest.name}:\n{output}")
    assert result.returncode == 0, output
    return output


@pytest.fixture(params=["base", "overlays/postgres-cluster"])
def rendered(request, tmp_path) -> tuple[str, Path, list[dict]]:
    path = render(KUBE / request.param, tmp_path)
    return request.param, path, [d for d in yaml.safe_load_all(path.read_text()) if d]


def one(docs: list[dict], kind: str) -> dict:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_validate_strictly(rendered, version):
    name, path, docs = rendered
    output = validate(path, version)
    # Every built-in object is checked against the schema, and passes; only the custom kinds warn.
    for doc in docs:
        kind, api = doc["kind"], doc["apiVersion"]
        if (api, kind) in CUSTOM_KINDS:
            assert f"Couldn't find schema for kind {kind}" in output
        else:
            assert f"passed for resource {kind.lower()}/{doc['metadata']['name']} against version {version}" in output
    assert {d["kind"] for d in docs} == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                                         "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor"}


def test_deployment_follows_the_drain_and_is_locked_down(rendered):
    name, _, docs = rendered
    deployment = one(docs, "Deployment")
    config_map = one(docs, "ConfigMap")
    config_text = config_map["data"]["wsgate.yaml"]
    config = yaml.safe_load(config_text)
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    # The kubelet's SIGKILL comes after the whole drain: drain_delay, then at most drain_timeout.
    limits = config["limits"]
    assert pod["terminationGracePeriodSeconds"] > duration_seconds(limits["drain_delay"]) + duration_seconds(limits["drain_timeout"])
    assert duration_seconds(limits["drain_delay"]) + duration_seconds(limits["drain_spread"]) < duration_seconds(limits["drain_timeout"])
    # Config changes roll the pods: the annotation is the sha256 of the wsgate.yaml the pods mount.
    annotation = spec["template"]["metadata"]["annotations"]["checksum/config"]
    assert annotation == hashlib.sha256(config_text.encode()).hexdigest(), "run deploy/kubernetes/checksum.sh"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"ws": int(config["listen"][0]["address"].rsplit(":", 1)[1]),
                     "admin": int(config["admin"]["address"].rsplit(":", 1)[1])}
    assert pod["securityContext"]["runAsUser"] == 65532 and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    env = {e["name"]: e.get("valueFrom") for e in container["env"]}
    for key in config["keys"]:
        if "secret_env" in key:
            assert "secretKeyRef" in env[key["secret_env"]], key
    if name == "overlays/postgres-cluster":
        cluster = config["cluster"]
        assert env[cluster["postgres"]["url_env"]] == {"secretKeyRef": {"name": "wsgate-postgres", "key": "url"}}
        assert set(cluster) == {"postgres", "poll_interval", "stale_after"}  # instance: the pod's name by default
    else:
        assert "cluster" not in config


def test_admin_port_only_from_monitoring(rendered):
    _, _, docs = rendered
    policy = one(docs, "NetworkPolicy")["spec"]
    rules = {tuple(p["port"] for p in rule["ports"]): rule.get("from") for rule in policy["ingress"]}
    assert rules[("ws",)] is None  # clients from anywhere
    assert rules[("admin",)] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    monitor = one(docs, "ServiceMonitor")["spec"]
    assert monitor["endpoints"][0]["port"] == "admin" and monitor["endpoints"][0]["path"] == "/metrics"
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    hpa = one(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["minReplicas"] == 3 and hpa["metrics"][0]["resource"]["name"] == "cpu"
