#!/usr/bin/env bash
# Collects every agent's results document of a finished load Job from the
# pods' logs (they print it between marker lines), then merges them.
#
#   deploy/collect.sh [JOB] [DIR]     # defaults: pushpoll-load, results/k8s
#
# Writes DIR/agent-N.json per pod and DIR/merged.json (pushpoll report
# --merge), and prints the merged summary. Needs kubectl and pushpoll.
set -euo pipefail
job="${1:-pushpoll-load}"
dir="${2:-results/k8s}"
mkdir -p "$dir"
kubectl wait --for=condition=complete --timeout=30m "job/$job" || {
  echo "job $job did not complete; collecting what the pods printed" >&2
}
n=0
for pod in $(kubectl get pods -l "job-name=$job" -o jsonpath='{.items[*].metadata.name}'); do
  index=$(kubectl get pod "$pod" -o jsonpath='{.metadata.annotations.batch\.kubernetes\.io/job-completion-index}')
  kubectl logs "$pod" \
    | sed -n '/^--- pushpoll result agent-[0-9]* ---$/,/^--- end pushpoll result ---$/p' \
    | sed '1d;$d' > "$dir/agent-$index.json"
  if [ -s "$dir/agent-$index.json" ]; then
    n=$((n + 1))
  else
    echo "pod $pod (agent $index) printed no result" >&2
    rm -f "$dir/agent-$index.json"
  fi
done
[ "$n" -gt 0 ] || { echo "no agent printed a result" >&2; exit 1; }
pushpoll report --merge "$dir"/agent-*.json --json "$dir/merged.json" --out "$dir/report"
