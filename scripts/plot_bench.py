#!/usr/bin/env python3
"""Draws the benchmark plots of docs/BENCHMARKS.md from the machine-readable files the benchmarks
write into $ESK8S_BENCH_DATA (scripts/bench sets it):

  compare.json           tests/bench/compare_bench.py     -> compare.png (esk8s vs memberlist
                                                             against cluster size)
  gossip_process.csv     gossip_process_bench             -> gossip_process.png
  cold_start.csv         cold_start_bench                 -> cold_start.png
  discovery_latency.csv  discovery_bench                  -> discovery_latency.png

  scripts/plot_bench.py DATA_DIR [OUT_DIR=docs/bench]

A missing input is reported and its plot is left as it was; a malformed one is an error naming
the file. matplotlib with the Agg backend (no display, no network).
"""

import csv
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend is chosen first)

ESK8S, OTHER = "#1f77b4", "#d62728"


def fail(path, why):
    sys.exit(f"plot_bench: {path}: {why}")


def read_csv(path, fields):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows, start=2):
        for k in fields:
            if k not in row or row[k] in (None, ""):
                fail(path, f"line {i} has no {k!r} (want columns {', '.join(fields)})")
    return rows


def num(path, v):
    try:
        return float(v)
    except (TypeError, ValueError):
        fail(path, f"{v!r} is not a number")


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot_bench: wrote {path}")


def by_n(runs, key):
    """{n: [values]} of the runs that have `key` (negative values mean not measured)."""
    out = {}
    for r in runs:
        v = r.get(key)
        if v is not None and v >= 0:
            out.setdefault(r["n"], []).append(v)
    return out


def from_zero(ax):
    """y from 0 with some room above the highest point."""
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)


def line_with_spread(ax, series, label, color, style="-o"):
    """Median per size, with a bar from the smallest to the largest run."""
    ns = sorted(series)
    if not ns:
        return
    med = [statistics.median(series[n]) for n in ns]
    lo = [med[i] - min(series[n]) for i, n in enumerate(ns)]
    hi = [max(series[n]) - med[i] for i, n in enumerate(ns)]
    ax.errorbar(ns, med, yerr=[lo, hi], fmt=style, color=color, label=label, capsize=3)


def plot_compare(path, out):
    with open(path) as f:
        try:
            data = json.load(f)
        except ValueError as e:
            fail(path, f"not JSON: {e}")
    runs = [r for r in data.get("runs", []) if r.get("ok")]
    if not runs:
        fail(path, "no completed run")
    version = data.get("memberlist_version", "")
    sides = [("esk8s", "esk8s (lan preset, mTLS)", ESK8S),
             ("memberlist", f"memberlist {version} (LAN defaults)", OTHER)]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    panels = [
        (axes[0][0], [("first_dead_ms", "first dead", "-o"), ("last_dead_ms", "last survivor", "--s")],
         "SIGKILL → dead (ms)"),
        (axes[0][1], [("bytes_per_member_s", "", "-o")], "bytes per member per second (kernel, lo)"),
        (axes[1][0], [("join_s", "", "-o")], "start → all know all alive (s)"),
        (axes[1][1], [("cpu_pct_per_member", "", "-o")], "CPU per member (% of one core)"),
    ]
    for ax, keys, title in panels:
        for side, label, color in sides:
            side_runs = [r for r in runs if r["side"] == side]
            for key, what, style in keys:
                name = f"{label}, {what}" if what else label
                line_with_spread(ax, by_n(side_runs, key), name, color, style)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("members (N)")
        ax.set_xticks(sorted({r["n"] for r in runs}))
        from_zero(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"esk8s vs hashicorp/memberlist, same settings, real processes on loopback "
                 f"({data.get('date', '')}, {data.get('cores', '?')} cores; median, min-max)",
                 fontsize=10)
    save(fig, out, "compare.png")


def plot_gossip_process(path, out):
    fields = ["n", "first_dead_ms", "last_dead_ms", "bytes_per_member_s"]
    runs = [{k: num(path, r[k]) for k in fields} for r in read_csv(path, fields)]
    if not runs:
        fail(path, "no run")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    line_with_spread(a, by_n(runs, "first_dead_ms"), "first dead", ESK8S)
    line_with_spread(a, by_n(runs, "last_dead_ms"), "last survivor", ESK8S, "--s")
    line_with_spread(b, by_n(runs, "bytes_per_member_s"), "gossip bytes (TLS payload)", ESK8S)
    a.set_title("SIGKILL → dead (ms)", fontsize=10)
    b.set_title("bytes per member per second", fontsize=10)
    for ax in (a, b):
        ax.set_xlabel("members (N)")
        ax.set_xticks(sorted({r["n"] for r in runs}))
        from_zero(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("esk8s-node processes on loopback, local preset (gossip_process_bench)", fontsize=10)
    save(fig, out, "gossip_process.png")


def plot_cold_start(path, out):
    rows = read_csv(path, ["policy", "replicas", "kind", "seconds"])
    if not rows:
        fail(path, "no run")
    groups = {}
    for r in rows:
        groups.setdefault((r["policy"], int(num(path, r["replicas"]))), {}).setdefault(
            r["kind"], []).append(num(path, r["seconds"]))
    keys = sorted(groups)
    kinds = [("cold_start", "cold start", ESK8S), ("full_restart", "full restart", OTHER)]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.38
    for j, (kind, label, color) in enumerate(kinds):
        xs, meds, lo, hi = [], [], [], []
        for i, k in enumerate(keys):
            v = groups[k].get(kind)
            if not v:
                continue
            m = statistics.median(v)
            xs.append(i + (j - 0.5) * width)
            meds.append(m)
            lo.append(m - min(v))
            hi.append(max(v) - m)
        ax.bar(xs, meds, width, yerr=[lo, hi], color=color, label=label, capsize=3)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{p}\n{n} replicas" for p, n in keys], fontsize=8)
    ax.set_ylabel("seconds to all Ready and all alive")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Cold start and full restart on esk8s-cluster per pod management policy "
                 "(median, min-max)", fontsize=10)
    save(fig, out, "cold_start.png")


def plot_discovery(path, out):
    ms = sorted(num(path, r["latency_ms"]) for r in read_csv(path, ["latency_ms"]))
    if not ms:
        fail(path, "no sample")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.hist(ms, bins=40, color=ESK8S)
    a.set_xlabel("EndpointSlice PATCH → peer callback (ms)")
    a.set_ylabel("changes")
    b.plot(ms, [(i + 1) / len(ms) for i in range(len(ms))], color=ESK8S)
    b.set_xlabel("ms")
    b.set_ylabel("fraction of changes seen")
    p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    for ax in (a, b):
        ax.axvline(p50, color="k", ls="--", lw=0.8, label=f"median {p50:.1f} ms")
        ax.axvline(p99, color=OTHER, ls=":", lw=0.8, label=f"p99 {p99:.1f} ms")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Discovery latency on esk8s-cluster (real kube-apiserver), {len(ms)} changes",
                 fontsize=10)
    save(fig, out, "discovery_latency.png")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: plot_bench.py DATA_DIR [OUT_DIR=docs/bench]")
    data = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) == 3 else "docs/bench"
    if not os.path.isdir(data):
        sys.exit(f"plot_bench: {data} is not a directory (the benchmarks write there when "
                 "ESK8S_BENCH_DATA names it)")
    os.makedirs(out, exist_ok=True)
    drawn = 0
    for name, fn in (("compare.json", plot_compare), ("gossip_process.csv", plot_gossip_process),
                     ("cold_start.csv", plot_cold_start),
                     ("discovery_latency.csv", plot_discovery)):
        path = os.path.join(data, name)
        if os.path.exists(path):
            fn(path, out)
            drawn += 1
        else:
            print(f"plot_bench: no {path} (that benchmark did not run): its plot is left as it was")
    return 0 if drawn else 1


if __name__ == "__main__":
    sys.exit(main())
