#!/usr/bin/env python3
"""Checks deploy/kubernetes/*.yaml without a cluster (CI has none): every
document parses, the Job is an Indexed Job whose pods all run at once, every
$VARIABLE its script uses is defined, every `pushpoll load` flag it passes
exists (checked against the binary's --help) and the run id comes from
JOB_COMPLETION_INDEX.

    deploy/check-manifests.py target/release/pushpoll
"""
import glob
import os
import re
import subprocess
import sys

import yaml

binary = sys.argv[1] if len(sys.argv) > 1 else "pushpoll"
here = os.path.dirname(os.path.abspath(__file__))
files = sorted(glob.glob(os.path.join(here, "kubernetes", "*.yaml")))
assert files, "no manifests under deploy/kubernetes"
docs = [d for f in files for d in yaml.safe_load_all(open(f)) if d]
by_kind = {}
for d in docs:
    assert "apiVersion" in d and "kind" in d and "metadata" in d, f"incomplete document: {d}"
    by_kind.setdefault(d["kind"], []).append(d)

(job,) = by_kind["Job"]
spec = job["spec"]
assert spec["completionMode"] == "Indexed", "one agent per index"
assert spec["completions"] == spec["parallelism"], "all agents at once"
pod = spec["template"]["spec"]
assert pod["restartPolicy"] == "Never"
(container,) = pod["containers"]
script = "\n".join(container["args"])
assert "JOB_COMPLETION_INDEX" in script and "--run-id" in script, "a run id per agent"

defined = {"JOB_COMPLETION_INDEX", "run_id", "out", "status"}
defined |= {e["name"] for e in container.get("env", [])}
maps = {m["metadata"]["name"]: m for m in by_kind.get("ConfigMap", [])}
for src in container.get("envFrom", []):
    name = src["configMapRef"]["name"]
    assert name in maps, f"envFrom names a ConfigMap that is not here: {name}"
    defined |= set(maps[name]["data"])
used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", script))
missing = used - defined
assert not missing, f"the script uses undefined variables: {sorted(missing)}"

help_text = subprocess.run([binary, "load", "--help"], capture_output=True, text=True, check=True).stdout
flags = set(re.findall(r"(--[a-z0-9-]+)", script.split("pushpoll load", 1)[1].split("||")[0]))
unknown = [f for f in sorted(flags) if f not in help_text]
assert not unknown, f"pushpoll load has no {unknown}"
# The live metrics (docs/metrics.md): the port the agent serves on is the
# one the pod declares and its scrape annotation names.
ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
assert "metrics" in ports, "the container declares a port named metrics"
assert "--metrics-addr" in flags, "the agent serves its metrics (--metrics-addr)"
config = {k: v for m in maps.values() for k, v in m["data"].items()}
assert str(ports["metrics"]) == config.get("METRICS_PORT"), "METRICS_PORT is the declared port"
notes = spec["template"]["metadata"].get("annotations", {})
assert notes.get("prometheus.io/port") == str(ports["metrics"]), "the scrape annotation names the port"
mounts = {m["name"] for m in container.get("volumeMounts", [])}
volumes = {v["name"] for v in pod.get("volumes", [])}
assert mounts <= volumes, f"mounts without volumes: {mounts - volumes}"
print(f"deploy: {len(docs)} documents in {len(files)} files parse; the Indexed Job's "
      f"{len(flags)} pushpoll flags and {len(used)} variables check out")
