#!/usr/bin/env bash
# Soak: a mixed-transport load with churn against one `pushpoll serve` for a
# while (default 10 minutes), sampling the server's RSS and open file
# descriptors. Churn: every transport's load runs in short rounds, so all its
# connections close and reopen every round. Passes when every round lost
# nothing and, once the load is gone, descriptors are back to the start and
# RSS grew by less than the allowance (default 16 MiB: allocator noise).
#
# Usage: scripts/soak.sh [--minutes M] [--subscribers N] [--out FILE]
# Needs: cargo build --release -p pushpoll
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
minutes=10 subs=100 out="" allowance_kib=$((16 * 1024))
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift ;;
    --subscribers) subs="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
  shift
done
bin="$root/target/release/pushpoll"
work="$(mktemp -d)"
server=""
loads=()
cleanup() {
  for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --addr 127.0.0.1:0 2>"$work/serve.log" &
server=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*serving on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/serve.log" | head -n1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start" >&2; exit 1; }

rss() { awk '/^VmRSS/{print $2}' "/proc/$server/status"; }
fds() { find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l; }
sample() { echo "$1 $(( $(date +%s) - t0 )) $(rss) $(fds)" >>"$work/samples"; }

# One transport's rounds until the deadline; each round's JSON kept.
rounds() { # TRANSPORT URL
  local n=0
  while [ "$(date +%s)" -lt "$deadline" ]; do
    n=$((n + 1))
    timeout 120 "$bin" load --transport "$1" --url "$2" --subscribers "$subs" --rate 10 --duration 20 \
      --poll-interval 1 --json "$work/$1-$n.json" >/dev/null 2>&1 || echo "$1 round $n: exit $?" >>"$work/failures"
  done
}

# Warm up once per transport, so start figures include the allocator's pools.
for t in ws sse long-poll short-poll; do
  "$bin" load --transport "$t" --url "http://127.0.0.1:$port" --subscribers "$subs" --rate 10 --duration 1 \
    --json "$work/warmup-$t.json" >/dev/null 2>&1 || true
done
sleep 1
t0=$(date +%s)
deadline=$((t0 + minutes * 60))
sample start
rounds ws "ws://127.0.0.1:$port/ws" & loads+=($!)
rounds sse "http://127.0.0.1:$port" & loads+=($!)
rounds long-poll "http://127.0.0.1:$port" & loads+=($!)
rounds short-poll "http://127.0.0.1:$port" & loads+=($!)
while [ "$(date +%s)" -lt "$deadline" ]; do
  sleep 30
  sample load
done
for p in "${loads[@]}"; do wait "$p" || true; done
loads=()
sleep 2
sample end

status=0
report=$(python3 - "$work" "$minutes" "$subs" "$allowance_kib" <<'PY'
import glob, json, os, sys
work, minutes, subs, allowance = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
samples = [l.split() for l in open(os.path.join(work, "samples"))]
start = next(s for s in samples if s[0] == "start")
end = next(s for s in samples if s[0] == "end")
peak = max(samples, key=lambda s: int(s[2]))
runs = []
for f in glob.glob(os.path.join(work, "*-[0-9]*.json")):
    runs += json.load(open(f))["runs"]
by = {}
for r in runs:
    t = by.setdefault(r["transport"], [0, 0, 0, 0, 0])
    t[0] += 1; t[1] += r["delivered"]; t[2] += r["lost"]; t[3] += r["duplicated"] + r["reordered"]
    t[4] += sum(r["errors"].values())
failures = open(os.path.join(work, "failures")).read().strip() if os.path.exists(os.path.join(work, "failures")) else ""
print(f"soak: {minutes} min, {subs} subscribers per transport in 20 s rounds (every connection reopened each round), 10 msg/s")
print()
print("| transport | rounds | delivered | lost | dup+reordered | errors |")
print("|---|---:|---:|---:|---:|---:|")
for t, (n, d, l, x, e) in sorted(by.items()):
    print(f"| {t} | {n} | {d:,} | {l} | {x} | {e} |")
print()
print("| server | start | peak (under load) | end (load gone) |")
print("|---|---:|---:|---:|")
print(f"| RSS (KiB) | {int(start[2]):,} | {int(peak[2]):,} | {int(end[2]):,} |")
print(f"| open file descriptors | {start[3]} | {max(int(s[3]) for s in samples)} | {end[3]} |")
ok = (not failures and all(v[2] == 0 and v[3] == 0 for v in by.values())
      and int(end[3]) <= int(start[3]) and int(end[2]) - int(start[2]) < allowance)
print()
print(("PASS" if ok else "FAIL") + f": RSS grew {int(end[2]) - int(start[2]):,} KiB (allowance {allowance:,}), descriptors {start[3]} -> {end[3]}")
if failures:
    print(failures)
sys.exit(0 if ok else 1)
PY
) || status=$?
echo "$report"
[ -n "$out" ] && { mkdir -p "$(dirname "$out")"; echo "$report" >"$out"; }
exit $status
