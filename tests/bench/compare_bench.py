#!/usr/bin/env python3
"""Side by side: esk8s (esk8s-node, preset lan, mutual TLS) and hashicorp/memberlist
(DefaultLANConfig) with N real processes each on loopback, one side after the other, per size and
repetition (issue 16; docs/BENCHMARKS.md):

  join        start of the first process -> every member knows every member alive
  first/last  SIGKILL of one member -> the first / the last survivor declares it dead
  bytes       bytes the kernel transmitted on loopback per member per second in steady state
  cpu, rss    CPU time per member over the steady window (% of one core), resident memory

Bytes are counted identically for both sides by the kernel: each side runs in a network namespace
of its own (this program re-executes itself under `unshare --net`; the esk8s nodes run in it, the
memberlist members in a second one held by a sleeping process and entered with nsenter), and the
loopback device's tx_bytes/tx_packets (/proc/PID/net/dev of a member) are read at both ends of the
steady window. Nothing else talks in that namespace during the window (this program makes no HTTP
request then), so they are the gossip protocol's packets with every header (14-byte link header
as loopback carries it, IP, TCP or UDP; TLS records and TCP acks for esk8s, UDP datagrams and
push-pull TCP streams for memberlist).

Detection: memberlist members print a line with the time when NotifyLeave reports the victim;
esk8s survivors are polled over HTTP (/members) every 20 ms each, so esk8s's figures include up to
one poll period more. Join: memberlist members print when they know N alive; esk8s nodes are
polled every 50 ms.

usage: compare_bench.py [--sizes 8,16,32] [--repeats 3] [--steady 30] [--warmup 60] [--json FILE]
                        [--node BIN] [--cli BIN] [--member BIN] [--memberlist-key HEX]
Progress goes to stderr, the report (markdown) to stdout, per-run figures to --json. Needs root
(unshare, nsenter); the CA comes from `esk8s cert create-ca` (--cli). Every child is SIGKILLed at
the end of a run, on failure and on SIGINT/SIGTERM; everything is bounded in time.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ESK8S_GOSSIP_PORT = 2114
ESK8S_HTTP_PORT = 2115
MEMBERLIST_PORT = 7946
ESK8S_NET = "127.0.41."
MEMBERLIST_NET = "127.0.42."
POLL_S = 0.020
JOIN_POLL_S = 0.050
SETTLE_S = 5.0  # after everyone knows everyone alive, before the steady window
DETECT_TIMEOUT_S = 60.0
INSIDE_ENV = "ESK8S_COMPARE_NETNS"

# The settings both sides run with: esk8s's lan preset (gossip/config.h, Config::lan) and
# memberlist.DefaultLANConfig(); memberlist-member prints its own, checked against this.
SETTINGS = [
    ("probe_interval_ms", 1000),
    ("probe_timeout_ms", 500),
    ("suspicion_mult", 4),
    ("suspicion_max_timeout_mult", 6),
    ("gossip_interval_ms", 200),
    ("gossip_nodes", 3),
    ("push_pull_interval_ms", 30000),
    ("retransmit_mult", 4),
    ("indirect_checks", 3),
    ("awareness_max_multiplier", 8),
]

CHILDREN = set()  # every process we started, for the signal handler
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def kill_all(*_):
    for p in list(CHILDREN):
        try:
            p.kill()
        except OSError:
            pass
    sys.exit(130)


def spawn(argv, **kw):
    # A child dies with us (PR_SET_PDEATHSIG through prctl, as the C++ benchmarks do).
    def pdeathsig():
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1

    p = subprocess.Popen(argv, preexec_fn=pdeathsig, **kw)
    CHILDREN.add(p)
    return p


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()
    CHILDREN.discard(p)


def lo_counters(pid):
    """(tx_bytes, tx_packets) of the loopback device in pid's network namespace."""
    with open(f"/proc/{pid}/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                v = rest.split()
                return int(v[8]), int(v[9])
    raise RuntimeError(f"no lo in /proc/{pid}/net/dev")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Steady:
    """Loopback bytes, CPU and RSS of a side's processes over a window."""

    def __init__(self, pids, window_s):
        self.pids = pids
        b0, p0 = lo_counters(pids[0])
        c0 = sum(cpu_ticks(p) for p in pids)
        t0 = time.monotonic()
        time.sleep(window_s)
        b1, p1 = lo_counters(pids[0])
        c1 = sum(cpu_ticks(p) for p in pids)
        self.window = time.monotonic() - t0
        n = len(pids)
        self.bytes = (b1 - b0) / n / self.window
        self.packets = (p1 - p0) / n / self.window
        self.cpu_pct = 100.0 * (c1 - c0) / CLK_TCK / n / self.window
        self.rss_mib = sum(rss_kib(p) for p in pids) / n / 1024


# ---- esk8s ---------------------------------------------------------------------------------------

def make_ca(cli, directory):
    """The cluster CA (ECDSA P-256) as an operator makes it: `esk8s cert create-ca`."""
    subprocess.run([cli, "cert", "create-ca", "--out", directory, "--name", "esk8s compare bench CA",
                    "--validity-days", "2"], check=True, capture_output=True)


def esk8s_identity(i):
    return f"esdb-{i}.esdb.prod.svc.cluster.local"


def http_json(conn, path):
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            return None
        return json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):
        conn.close()
        return None


def members_of(conn):
    m = http_json(conn, "/members")
    if not isinstance(m, dict) or not isinstance(m.get("members"), list):
        return None
    return {row.get("identity"): row.get("state") for row in m["members"] if isinstance(row, dict)}


def run_esk8s(args, n, victim, workdir):
    ca = os.path.join(workdir, "ca")
    make_ca(args.cli, ca)
    ips = [f"{ESK8S_NET}{i + 1}" for i in range(n)]
    peers = ",".join(f"{esk8s_identity(i)}={ips[i]}:{ESK8S_GOSSIP_PORT}" for i in range(n))
    procs = []
    try:
        t0 = time.monotonic()
        for i in range(n):
            env = {
                "ESK8S_SERVICE": "esdb", "ESK8S_NAMESPACE": "prod", "ESK8S_POD_NAME": f"esdb-{i}",
                "ESK8S_CLUSTER_DOMAIN": "cluster.local", "ESK8S_CLUSTER_SIZE": str(n),
                "ESK8S_DISCOVERY": "static", "ESK8S_STATIC_PEERS": peers,
                "ESK8S_BIND_ADDRESS": ips[i], "ESK8S_GOSSIP_PORT": str(ESK8S_GOSSIP_PORT),
                "ESK8S_HTTP_PORT": str(ESK8S_HTTP_PORT), "ESK8S_PRESET": "lan",
                "ESK8S_TLS_MODE": "local-ca", "ESK8S_TLS_CA_DIR": ca, "PATH": "/usr/bin:/bin",
            }
            logf = open(os.path.join(workdir, f"esk8s-{i}.log"), "wb")
            procs.append(spawn([args.node], env=env, stdout=logf, stderr=subprocess.STDOUT))
            logf.close()
        conns = [http.client.HTTPConnection(ip, ESK8S_HTTP_PORT, timeout=1) for ip in ips]
        deadline = t0 + 30 + 2 * n
        join_s = None
        while time.monotonic() < deadline:
            if all((m := members_of(c)) is not None and len(m) == n and
                   all(s == "alive" for s in m.values()) for c in conns):
                join_s = time.monotonic() - t0
                break
            for p in procs:
                if p.poll() is not None:
                    raise RuntimeError(f"an esk8s-node exited ({p.returncode}); logs in {workdir}")
            time.sleep(JOIN_POLL_S)
        if join_s is None:
            raise RuntimeError(f"esk8s: {n} nodes did not all see each other alive in "
                               f"{30 + 2 * n} s; logs in {workdir}")
        log(f"    esk8s: joined in {join_s:.2f} s")
        for c in conns:
            c.close()
        settle(t0, join_s, args.warmup)
        steady = Steady([p.pid for p in procs], args.steady)
        log(f"    esk8s: {steady.bytes:.0f} B/member/s, {steady.cpu_pct:.2f}% CPU, "
            f"{steady.rss_mib:.1f} MiB")

        victim_id = esk8s_identity(victim)
        dead_at = {}
        t_kill = time.monotonic()
        stop(procs[victim])

        def poll(i):
            conn = http.client.HTTPConnection(ips[i], ESK8S_HTTP_PORT, timeout=1)
            nxt = time.monotonic()
            while time.monotonic() < t_kill + DETECT_TIMEOUT_S:
                m = members_of(conn)
                if m is not None and m.get(victim_id) == "dead":
                    dead_at[i] = time.monotonic() - t_kill
                    return
                nxt += POLL_S
                time.sleep(max(0.0, nxt - time.monotonic()))

        threads = [threading.Thread(target=poll, args=(i,)) for i in range(n) if i != victim]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return finish("esk8s", n, join_s, steady, list(dead_at.values()))
    finally:
        for p in procs:
            stop(p)


# ---- memberlist ----------------------------------------------------------------------------------

class Namespace:
    """A network namespace with loopback up, held by a sleeping process."""

    def __init__(self):
        self.holder = spawn(["unshare", "--net", "--", "sh", "-c",
                             "ip link set lo up && echo up && exec sleep 100000"],
                            stdout=subprocess.PIPE, text=True)
        if self.holder.stdout.readline().strip() != "up":
            stop(self.holder)
            raise RuntimeError("cannot make a network namespace (unshare --net needs root)")

    def run(self, argv, **kw):
        return spawn(["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--"] + argv, **kw)

    def close(self):
        stop(self.holder)


def run_memberlist(args, n, victim, workdir):
    ns = Namespace()
    addrs = [f"{MEMBERLIST_NET}{i + 1}:{MEMBERLIST_PORT}" for i in range(n)]
    procs, lines = [], []
    lock = threading.Lock()
    joined, dead = {}, {}
    config_line = [None]
    vname = f"m-{victim}"

    def reader(i, p):
        # Lines that are not as memberlist-member prints them are ignored.
        for line in p.stdout:
            f = line.split()
            with lock:
                if len(f) >= 2 and f[0] == "joined_all" and f[1].isdigit():
                    joined[i] = int(f[1]) / 1e9
                elif len(f) >= 3 and f[0] == "dead" and f[1] == vname and f[2].isdigit():
                    dead.setdefault(i, int(f[2]) / 1e9)
                elif f and f[0] == "config":
                    config_line[0] = dict(kv.split("=", 1) for kv in f[1:] if "=" in kv)

    try:
        t0 = time.time()
        for i in range(n):
            argv = [args.member, "-name", f"m-{i}", "-bind", f"{MEMBERLIST_NET}{i + 1}",
                    "-port", str(MEMBERLIST_PORT), "-join", ",".join(addrs), "-expect", str(n)]
            if args.memberlist_key:
                argv += ["-key", args.memberlist_key]
            errf = open(os.path.join(workdir, f"memberlist-{i}.log"), "wb")
            p = ns.run(argv, stdout=subprocess.PIPE, stderr=errf, text=True)
            errf.close()
            procs.append(p)
            threading.Thread(target=reader, args=(i, p), daemon=True).start()
        deadline = time.monotonic() + 30 + 2 * n
        while time.monotonic() < deadline:
            with lock:
                if len(joined) == n:
                    break
            for p in procs:
                if p.poll() is not None:
                    raise RuntimeError(f"a memberlist-member exited ({p.returncode}); logs in {workdir}")
            time.sleep(0.01)
        with lock:
            if len(joined) != n:
                raise RuntimeError(f"memberlist: only {len(joined)}/{n} members knew all alive in "
                                   f"{30 + 2 * n} s; logs in {workdir}")
            join_s = max(joined.values()) - t0
            got = config_line[0] or {}
        want = {k: str(v) for k, v in SETTINGS}
        wrong = {k: got.get(k) for k in want if got.get(k) != want[k]}
        if wrong:
            raise RuntimeError(f"memberlist-member runs other settings than esk8s's lan preset: {wrong}")
        log(f"    memberlist: joined in {join_s:.2f} s")
        settle(time.monotonic() - (time.time() - t0), join_s, args.warmup)
        steady = Steady([p.pid for p in procs], args.steady)
        log(f"    memberlist: {steady.bytes:.0f} B/member/s, {steady.cpu_pct:.2f}% CPU, "
            f"{steady.rss_mib:.1f} MiB")
        t_kill = time.time()
        stop(procs[victim])
        deadline = time.monotonic() + DETECT_TIMEOUT_S
        while time.monotonic() < deadline:
            with lock:
                if len(dead) >= n - 1:
                    break
            time.sleep(0.02)
        with lock:
            times = [t - t_kill for i, t in dead.items() if i != victim]
        return finish("memberlist", n, join_s, steady, times)
    finally:
        for p in procs:
            stop(p)
        ns.close()


def settle(t0, join_s, warmup):
    """Waits until SETTLE_S after the join and `warmup` after the start (both monotonic from t0).
    memberlist's periodic push-pull begins after a random stagger in [0, interval), so its first
    one comes at a random point of the second interval: from two intervals on, any window of one
    interval holds exactly one push-pull per member on both sides."""
    until = t0 + max(join_s + SETTLE_S, warmup)
    time.sleep(max(0.0, until - time.monotonic()))


def finish(side, n, join_s, steady, dead_s):
    run = {
        "side": side, "n": n, "join_s": join_s,
        "bytes_per_member_s": steady.bytes, "packets_per_member_s": steady.packets,
        "cpu_pct_per_member": steady.cpu_pct, "rss_mib_per_member": steady.rss_mib,
        "steady_window_s": steady.window, "survivors": n - 1, "saw_dead": len(dead_s),
        "first_dead_ms": 1000 * min(dead_s) if dead_s else None,
        "last_dead_ms": 1000 * max(dead_s) if dead_s else None,
    }
    log(f"    {side}: dead seen by {len(dead_s)}/{n - 1}, first {run['first_dead_ms']} ms, "
        f"last {run['last_dead_ms']} ms")
    run["ok"] = len(dead_s) == n - 1
    return run


# ---- report --------------------------------------------------------------------------------------

METRICS = [
    ("join_s", "start → all know all alive", "s", "%.2f"),
    ("first_dead_ms", "SIGKILL → first dead", "ms", "%.0f"),
    ("last_dead_ms", "SIGKILL → last survivor knows", "ms", "%.0f"),
    ("bytes_per_member_s", "bytes/member/s (kernel, lo)", "", "%.0f"),
    ("packets_per_member_s", "packets/member/s", "", "%.1f"),
    ("cpu_pct_per_member", "CPU/member (% of a core)", "", "%.2f"),
    ("rss_mib_per_member", "RSS/member", "MiB", "%.1f"),
]


def med(runs, key):
    v = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(v) if v else None


def fmt(v, f):
    return "–" if v is None else f % v


def report(args, results, wall_s):
    print(f"### esk8s and hashicorp/memberlist side by side (N processes each on loopback)\n")
    print(f"esk8s-node preset `lan` (mutual TLS, ECDSA P-256), memberlist {args.memberlist_version} "
          f"`DefaultLANConfig()`{' with AES-GCM encryption' if args.memberlist_key else ''}; "
          "both with " + ", ".join(f"{k} {v}" for k, v in SETTINGS) + ". "
          f"Medians over the runs that completed; steady window {args.steady} s from "
          f"{args.warmup:.0f} s after the start (at least {SETTLE_S:.0f} s after the join); bytes = loopback tx bytes of the side's own network namespace "
          "(kernel counters, every header included) per member per second. esk8s detection is "
          f"polled every {POLL_S * 1000:.0f} ms, memberlist's is its event time. "
          f"ratio = esk8s / memberlist.\n")
    print("| N | figure | esk8s | memberlist | ratio |")
    print("|---|---|---|---|---|")
    summary = []
    for n in args.sizes:
        e = [r for r in results if r["side"] == "esk8s" and r["n"] == n and r["ok"]]
        m = [r for r in results if r["side"] == "memberlist" and r["n"] == n and r["ok"]]
        ef = sum(1 for r in results if r["side"] == "esk8s" and r["n"] == n and not r["ok"])
        mf = sum(1 for r in results if r["side"] == "memberlist" and r["n"] == n and not r["ok"])
        row = {"n": n, "esk8s_runs": len(e), "esk8s_failed": ef, "memberlist_runs": len(m),
               "memberlist_failed": mf}
        print(f"| {n} | runs (ok, failed) | {len(e)}, {ef} | {len(m)}, {mf} | |")
        for key, label, unit, f in METRICS:
            a, b = med(e, key), med(m, key)
            ratio = a / b if a is not None and b else None
            row[f"esk8s_{key}"], row[f"memberlist_{key}"] = a, b
            u = f" {unit}" if unit else ""
            print(f"| {n} | {label} | {fmt(a, f)}{u if a is not None else ''} | "
                  f"{fmt(b, f)}{u if b is not None else ''} | {fmt(ratio, '%.2f×')} |")
        summary.append(row)
    print(f"\nTotal wall time {wall_s:.0f} s.")
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="8,16,32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steady", type=float, default=30.0,
                    help="steady-state window in seconds (30 = one push-pull period)")
    ap.add_argument("--warmup", type=float, default=60.0,
                    help="the steady window starts no earlier than this many seconds after the "
                         "start (60 = two push-pull periods; see settle())")
    ap.add_argument("--node", default="build/examples/node/esk8s-node")
    ap.add_argument("--cli", default="build/cli/esk8s", help="the esk8s command (makes the CA)")
    ap.add_argument("--member", default="build/bench/memberlist-member")
    ap.add_argument("--memberlist-key", default="",
                    help="hex AES key: run memberlist with its encryption (esk8s always uses TLS)")
    ap.add_argument("--sides", default="esk8s,memberlist", help="which sides to run")
    ap.add_argument("--json", default="", help="write settings, every run and the medians here")
    args = ap.parse_args()
    try:
        args.sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        sys.exit(f"compare_bench: --sizes {args.sizes!r}: want comma-separated integers, e.g. 8,16,32")
    if any(n < 3 or n > 200 for n in args.sizes) or args.repeats < 1 or args.steady <= 0:
        sys.exit("compare_bench: sizes must be in 3..200, --repeats >= 1, --steady > 0")
    args.sides = [s for s in args.sides.split(",") if s]
    if not args.sides or any(s not in ("esk8s", "memberlist") for s in args.sides):
        sys.exit(f"compare_bench: --sides {','.join(args.sides)!r}: want esk8s, memberlist or both")
    for side, what, path in (("esk8s", "--node (esk8s-node)", args.node),
                             ("esk8s", "--cli (the esk8s command)", args.cli),
                             ("memberlist", "--member (memberlist-member; "
                              "tests/bench/memberlist/build.sh builds it with Go)", args.member)):
        if side in args.sides and not os.access(path, os.X_OK):
            sys.exit(f"compare_bench: {what}: {path} is not an executable")
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            sys.exit(f"compare_bench: '{tool}' not found (util-linux, iproute2)")

    if os.environ.get(INSIDE_ENV) != "1":
        # A network namespace of our own for esk8s (and for this program's HTTP polls).
        env = dict(os.environ, **{INSIDE_ENV: "1"})
        argv = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
        r = subprocess.run(["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"',
                            "sh"] + argv, env=env)
        if r.returncode == 1 and os.geteuid() != 0:
            log("compare_bench: unshare --net needs root (or CAP_SYS_ADMIN)")
        sys.exit(r.returncode)

    args.node, args.member = os.path.abspath(args.node), os.path.abspath(args.member)
    args.cli = os.path.abspath(args.cli)
    gomod = os.path.join(os.path.dirname(os.path.abspath(__file__)), "memberlist", "go.mod")
    args.memberlist_version = "?"
    with open(gomod) as f:
        for line in f:
            if "github.com/hashicorp/memberlist " in line:
                args.memberlist_version = line.split()[-1]
    signal.signal(signal.SIGINT, kill_all)
    signal.signal(signal.SIGTERM, kill_all)
    wall0 = time.monotonic()
    results = []
    for n in args.sizes:
        for rep in range(args.repeats):
            victim = 1 + rep % (n - 1)
            for side, fn in (("esk8s", run_esk8s), ("memberlist", run_memberlist)):
                if side not in args.sides:
                    continue
                log(f"N={n} run {rep + 1}/{args.repeats} {side} (SIGKILL member {victim})")
                workdir = tempfile.mkdtemp(prefix=f"esk8s-compare-{side}-")
                try:
                    results.append(fn(args, n, victim, workdir))
                    shutil.rmtree(workdir, ignore_errors=True)
                except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
                    log(f"    {side} failed: {e}")
                    results.append({"side": side, "n": n, "ok": False, "error": str(e)})
    summary = report(args, results, time.monotonic() - wall0)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
                       "cores": os.cpu_count(), "settings": dict(SETTINGS),
                       "memberlist_version": args.memberlist_version,
                       "memberlist_encryption": bool(args.memberlist_key),
                       "steady_s": args.steady, "warmup_s": args.warmup, "runs": results, "medians": summary}, f, indent=1)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
