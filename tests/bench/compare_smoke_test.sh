#!/usr/bin/env bash
# Smoke test of the side-by-side benchmark (tests/bench/compare_bench.py): N=3 esk8s-node
# processes (lan preset) and N=3 memberlist members, one short run each; every figure of both
# sides must be there and plausible for these settings (a probe per second, suspicion >= 4 s at
# N=3). Builds memberlist-member into OUTDIR first (cached). Skips (77) without Go or root.
#   compare_smoke_test.sh ESK8S_NODE ESK8S_CLI OUTDIR
set -euo pipefail
usage="usage: compare_smoke_test.sh ESK8S_NODE ESK8S_CLI OUTDIR"
node=${1:?$usage}
cli=${2:?$usage}
out=${3:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
"$here/memberlist/build.sh" "$out"
if [ ! -x "$out/memberlist-member" ]; then
  echo "SKIP: memberlist-member was not built (no Go; see above)"
  exit 77
fi
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: the comparison needs root for its network namespaces (unshare --net, nsenter)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$here/compare_bench.py" --sizes 3 --repeats 1 --steady 3 --warmup 0 --node "$node" \
  --cli "$cli" --member "$out/memberlist-member" --json "$tmp/compare.json"
python3 - "$tmp/compare.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
runs = {r["side"]: r for r in data["runs"]}
bad = []
for side in ("esk8s", "memberlist"):
    r = runs.get(side)
    if r is None or not r.get("ok"):
        bad.append(f"{side}: no completed run ({r and r.get('error')})")
        continue
    checks = [
        ("join_s", 0 < r["join_s"] < 30),
        ("first_dead_ms", 1000 <= r["first_dead_ms"] <= 40000),
        ("last_dead_ms", r["first_dead_ms"] <= r["last_dead_ms"] <= 40000),
        ("bytes_per_member_s", 20 <= r["bytes_per_member_s"] <= 1e6),
        ("packets_per_member_s", 0.5 <= r["packets_per_member_s"] <= 1e4),
        ("cpu_pct_per_member", 0 <= r["cpu_pct_per_member"] <= 100),
        ("rss_mib_per_member", 1 <= r["rss_mib_per_member"] <= 4096),
        ("saw_dead", r["saw_dead"] == 2),
    ]
    bad += [f"{side}: {k} = {r[k]} is implausible" for k, good in checks if not good]
    print(f"{side}: " + ", ".join(f"{k} {r[k]:.4g}" for k, _ in checks))
if bad:
    sys.exit("compare smoke test FAILED:\n  " + "\n  ".join(bad))
print("both sides measured: join, first/last dead, bytes, packets, CPU and RSS are plausible")
PY
