#!/usr/bin/env python3
"""Summarizes an Autobahn|Testsuite report and applies the CI rule.

Reads the `index.json` that wstest writes into its report folder
(fuzzingclient: at the end of the run; fuzzingserver: when the client asks
for /updateReports), prints one line per behavior (OK, NON-STRICT,
INFORMATIONAL, UNIMPLEMENTED, FAILED) and exits 1 when any case's `behavior`
is FAILED outside the tolerated groups (default: 12.* and 13.*, the
permessage-deflate groups), or when a case that wstest said it would run
(its "Cases = [...]" log line, with --log) has no result.

Usage:
  summarize.py REPORT_DIR_OR_INDEX_JSON [--agent NAME] [--log WSTEST_LOG]
               [--tolerate PATTERN ...] [--markdown FILE] [--title TEXT]

Exit codes: 0 pass, 1 the rule failed, 2 no usable report.
"""

import argparse
import ast
import fnmatch
import json
import os
import re
import sys
from collections import Counter

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
GROUPS = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved Bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 Handling",
    "7": "Close Handling",
    "9": "Limits/Performance",
    "10": "Misc",
    "12": "Compression (payloads)",
    "13": "Compression (parameters)",
}
DEFAULT_TOLERATED = ["12.*", "13.*"]


def case_key(case_id):
    return tuple(int(p) if p.isdigit() else 0 for p in case_id.split("."))


def group_of(case_id):
    return case_id.split(".", 1)[0]


def tolerated(case_id, patterns):
    return any(fnmatch.fnmatchcase(case_id, p) or case_id == p for p in patterns)


def expected_cases(log_path):
    """The case list wstest printed ("Cases = ['1.1.1', ...]"), or None."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("Cases = ["):
                    return ast.literal_eval(line[len("Cases = "):].strip())
    except OSError:
        return None
    return None


def case_detail(report_dir, entry):
    """The per-case JSON (description, result), when wstest wrote it."""
    name = entry.get("reportfile")
    if not name:
        return {}
    try:
        with open(os.path.join(report_dir, name), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def short(text, width=160):
    text = re.sub(r"\s+", " ", str(text or "")).strip()
    return text if len(text) <= width else text[: width - 3] + "..."


def ids_line(ids, limit=12):
    ids = sorted(ids, key=case_key)
    more = len(ids) - limit
    return " ".join(ids[:limit]) + (f" (+{more} more)" if more > 0 else "")


def markdown(title, cases, failures, missing, tolerated_failed):
    by_group = {}
    for cid, entry in cases.items():
        by_group.setdefault(group_of(cid), Counter())[entry.get("behavior", "?")] += 1
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| group | cases | " + " | ".join(BEHAVIORS) + " |")
    lines.append("|---|---:|" + "---:|" * len(BEHAVIORS))
    total = Counter()
    for g in sorted(by_group, key=int):
        c = by_group[g]
        total.update(c)
        name = f"{g} {GROUPS.get(g, '')}".strip()
        lines.append(f"| {name} | {sum(c.values())} | " + " | ".join(str(c.get(b, 0)) for b in BEHAVIORS) + " |")
    lines.append(
        f"| **all** | **{sum(total.values())}** | "
        + " | ".join(f"**{total.get(b, 0)}**" for b in BEHAVIORS)
        + " |"
    )
    lines.append("")
    if failures:
        lines.append("FAILED: " + ", ".join(sorted(failures, key=case_key)))
    if missing:
        lines.append("No result: " + ", ".join(sorted(missing, key=case_key)))
    if tolerated_failed:
        lines.append("FAILED but tolerated (compression): " + ", ".join(sorted(tolerated_failed, key=case_key)))
    if not failures and not missing:
        lines.append("No FAILED case outside the compression groups.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", help="wstest report folder or its index.json")
    ap.add_argument("--agent", help="agent to judge (default: the only one in the report)")
    ap.add_argument("--log", help="wstest's stdout, to check that every case it announced has a result")
    ap.add_argument("--tolerate", action="append", metavar="PATTERN",
                    help="case pattern whose FAILED is tolerated (repeatable; default 12.* 13.*)")
    ap.add_argument("--markdown", metavar="FILE", help="also write a Markdown table per group to FILE")
    ap.add_argument("--title", default="", help="heading for the Markdown table and the summary")
    args = ap.parse_args(argv)
    patterns = args.tolerate if args.tolerate is not None else DEFAULT_TOLERATED

    index = args.report
    if os.path.isdir(index):
        index = os.path.join(index, "index.json")
    report_dir = os.path.dirname(os.path.abspath(index))
    try:
        with open(index, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        print(f"autobahn: no usable report at {index}: {e}", file=sys.stderr)
        return 2

    agents = sorted(report)
    if args.agent:
        agent = args.agent
        if agent not in report:
            print(f"autobahn: agent {agent!r} not in {index}; agents there: {agents}", file=sys.stderr)
            return 2
    elif len(agents) == 1:
        agent = agents[0]
    else:
        print(f"autobahn: {index} has agents {agents}; pick one with --agent", file=sys.stderr)
        return 2
    cases = report[agent]

    counts = Counter(e.get("behavior", "?") for e in cases.values())
    failures = [c for c, e in cases.items() if e.get("behavior") == "FAILED" and not tolerated(c, patterns)]
    tolerated_failed = [c for c, e in cases.items() if e.get("behavior") == "FAILED" and tolerated(c, patterns)]
    missing = []
    if args.log:
        want = expected_cases(args.log)
        if want is None:
            print(f"autobahn: no 'Cases = [...]' line in {args.log}", file=sys.stderr)
            return 2
        missing = [c for c in want if c not in cases]

    label = args.title or agent
    print(f"autobahn {label}: {len(cases)} cases for agent {agent!r} in {index}")
    for b in BEHAVIORS + sorted(set(counts) - set(BEHAVIORS)):
        ids = [c for c, e in cases.items() if e.get("behavior") == b]
        tail = f"  {ids_line(ids)}" if ids and b != "OK" else ""
        print(f"  {b:<14}{counts.get(b, 0):>5}{tail}")
    if tolerated_failed:
        print(f"  ({len(tolerated_failed)} FAILED tolerated in {' '.join(patterns)})")
    for c in sorted(failures, key=case_key):
        d = case_detail(report_dir, cases[c])
        why = d.get("result") or ""
        close = cases[c].get("behaviorClose")
        print(f"FAILED {c} (close {close}, code {cases[c].get('remoteCloseCode')}): {short(d.get('description'))}")
        print(f"    -> {short(why)}")
    if missing:
        print(f"NO RESULT for {len(missing)} case(s) wstest announced (did the peer or wstest stop?): "
              f"{ids_line(missing, 20)}")

    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(args.title, cases, failures, missing, tolerated_failed))

    bad = len(failures) + len(missing)
    passed = len(cases) - len(failures) - len(tolerated_failed)
    print(f"autobahn: {passed} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
