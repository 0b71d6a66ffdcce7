#!/usr/bin/env bash
# Release build time and binary size of two revisions, side by side in one
# run: both trees build into one target directory after a warm-up build of
# the dependencies, so each timed build recompiles only the workspace's own
# crates (every crates/**/*.rs and src/**/*.rs is touched first), and the
# two alternate so drift on a shared machine hits both alike.
#
#   scripts/build-cost.sh BEFORE_REV [AFTER_REV] [--rounds N]
#
# AFTER_REV defaults to the working tree. Prints one Markdown row per build
# and the medians. Uses a temporary worktree and target directory, removed
# at the end (a release build of pushpoll needs ~2 GB of disk).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
before="" after="" rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 64 ;;
    *) if [ -z "$before" ]; then before="$1"; elif [ -z "$after" ]; then after="$1"; else echo "too many revisions" >&2; exit 64; fi ;;
  esac
  shift
done
[ -n "$before" ] || { echo "usage: scripts/build-cost.sh BEFORE_REV [AFTER_REV] [--rounds N]" >&2; exit 64; }
[[ "$rounds" =~ ^[1-9]$ ]] || { echo "--rounds takes 1 to 9" >&2; exit 64; }
work="$(mktemp -d)"
trees=()
cleanup() {
  for t in "${trees[@]}"; do git -C "$root" worktree remove --force "$t" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
checkout() { local rev=$1 dir="$work/$2"; git -C "$root" worktree add -q --detach "$dir" "$rev"; trees+=("$dir"); echo "$dir"; }
b_dir=$(checkout "$before" before)
if [ -n "$after" ]; then a_dir=$(checkout "$after" after); else a_dir="$root"; after="working tree"; fi
export CARGO_TARGET_DIR="$work/target" CARGO_TERM_COLOR=never
(cd "$b_dir" && cargo build --release -p pushpoll >"$work/warm.log" 2>&1) || { cat "$work/warm.log" >&2; exit 1; }
build() {
  local dir=$1 name=$2
  (cd "$dir" && find crates src -name '*.rs' -exec touch {} +)
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$dir" && cargo build --release -p pushpoll >"$work/$name.log" 2>&1) || { cat "$work/$name.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  python3 -c "print(round($t1 - $t0, 1))"
}
echo "| build | seconds | binary bytes |"
echo "|---|---:|---:|"
: >"$work/times"
for i in $(seq 1 "$rounds"); do
  for side in after before; do
    dir=$a_dir; [ "$side" = before ] && dir=$b_dir
    s=$(build "$dir" "$side-$i")
    size=$(stat -c %s "$CARGO_TARGET_DIR/release/pushpoll")
    echo "| $side ($([ "$side" = before ] && echo "$before" || echo "$after")), $i | $s | $size |"
    echo "$side $s $size" >>"$work/times"
  done
done
python3 - "$work/times" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
t = {s: statistics.median(float(r[1]) for r in rows if r[0] == s) for s in ("before", "after")}
b = {s: int([r[2] for r in rows if r[0] == s][-1]) for s in ("before", "after")}
print()
print(f"median seconds: after {t['after']} vs before {t['before']} ({(t['after'] / t['before'] - 1) * 100:+.1f} %); "
      f"binary: {b['after']:,} vs {b['before']:,} bytes ({(b['after'] / b['before'] - 1) * 100:+.2f} %)")
PY
echo
echo "machine: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(uname -sr), $(cargo --version)"
