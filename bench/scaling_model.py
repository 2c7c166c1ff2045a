#!/usr/bin/env python3
"""Projected parallel efficiency of lamina's data-parallel training (docs/scaling.md): an
alpha-beta model of its exchanges against the measured compute of a step.

Inputs (a JSON file, --config; --measure writes one):
    models: {name: {"params": P (all of them, batch norm's included),
                    "layer_params": [floats of each layer with weights, batch norm's
                    excepted, in node order] (from `lamina info`),
                    "buckets": lamina's gradient buckets, "bucket_floats": their sizes (both
                    follow from layer_params by lamina's rule, below),
                    "weight_layers": len(layer_params) (one bucket per layer: the rule
                    before graph/dp_pass.c fused them),
                    "bn_channels": [C, ...] (its batch-norm layers),
                    "compute_ms": {"<batch>": ms of one training step, 1 thread},
                    "gamma_s_per_byte": the local fixed-order sum's cost per byte of
                    gradient (bench/mpi_alphabeta.c, shared memory, at the gradient's size)}}
    mpi: {"shm"|"tcp": per-size medians and fits of mpi_alphabeta runs} (the 2-rank check
         uses the shared-memory medians)
    networks (optional): [{"name", "gbit", "alpha_us"}] added to the assumed ones
The networks are ASSUMPTIONS, not measurements: 25 Gbit/s TCP with a 10 us per-message
latency and 100 Gbit/s RDMA with 2 us, both at full line rate (replace them with --network
NAME:GBIT:ALPHA_US, repeatable).

lamina's buckets (graph/dp_pass.c): the layers with weights, batch norm's excepted (its
gradients come from globally reduced sums), are taken in backward order, from the last
layer of the network towards the first, and share a bucket until it holds at least
LAM_DP_BUCKET_FLOATS = 65536 floats (256 KiB); the last group closes at the first layer with
weights, whatever its size. A bucket starts when its group's last layer in backward order is
done; the previous bucket moves to its second phase (allgather) at that moment, and the last
bucket runs both phases after backward.

Model of one step on N nodes, one rank per node running the single-thread step lamina-bench
measured (a node of k cores at per-node batch b behaves roughly like this model at b/k):
    t_compute(b)  the measured step at per-node batch b (per-sample time piecewise linear
                  in log b between the measured batches, constant outside them)
    t_grad        the gradient exchange, B = 4 x the buckets' floats bytes in `buckets`
                  buckets, each a reduce-scatter (alltoallv) and an allgather (lamina's; a
                  ring allreduce has the same terms):
                      buckets * 2 (N-1) alpha + 2 (N-1)/N B / bw + (N-1)/N B gamma
                  --algorithm rhd: buckets * 2 log2(N) alpha instead (recursive halving and
                  doubling); --buckets K: K buckets of equal size instead of lamina's (1:
                  one fused bucket; PyTorch DDP's 25 MB buckets hold any of these models'
                  gradients whole); --buckets-per-layer: one bucket per layer with weights
                  (lamina before the fusion)
    t_small       the blocking small exchanges, never hidden: the loss (2 doubles) once a
                  step and, per batch-norm layer of C channels, its statistics in the
                  forward and its sums in the backward (2C doubles each); lamina makes each
                  an allgather of every rank's tree nodes, then sums them in its fixed tree:
                      (N-1) alpha + (N-1) 8 len / bw      each (log2(N) alpha with rhd)
    no overlap:       t_step = t_compute + t_grad + t_small
    lamina's order:   t_step = t_compute + max(0, t_hid - f t_compute) + t_open + t_small,
                      t_open = the last bucket's two phases, the allgather of the bucket
                      before it, and every local sum (CPU work on the step's own core);
                      t_hid = t_grad - t_open, assumed hidden behind backward up to
                      f t_compute (an upper bound: a bucket only overlaps the backward
                      that follows its start)
    perfect overlap:  t_step = t_compute + max(0, t_grad - f t_compute) + t_small,
                      f = the backward's share of the step (--backward-fraction, 2/3): every
                      exchange hidden while backward goes on (a bound no schedule reaches)
Weak scaling, fixed per-node batch b (--per-node-batch, 64): efficiency = t_compute(b) /
t_step, a node's images/s against one node alone at the same batch. Strong scaling, fixed
global batch G: efficiency = t_compute(G) / (N t_step(G/N)), the speedup over one node
running all of G, over N; it also pays for the slower per-sample compute of small batches.
A model stops scaling on N nodes where that drops below 50%: at per-node batch b50
(bisection over real b >= 1), global batch G50 = N b50.

2-rank check (printed with --config when the inputs hold shared-memory runs): each bucket's
exchange (the "comm" median: alltoallv + allgatherv) and local sum (the "sum" median) at its
size, interpolated linearly in log-log between the measured sizes, summed over the buckets:
what lamina-bench-dp's `exchanges_alone_s` should show on 2 ranks of this machine.

    bench/scaling_model.py --combine-mpi shm1.txt shm2.txt ...   (medians and fits of runs)
    bench/scaling_model.py --measure --bench /tmp/b0/bench/lamina-bench \\
        --lamina /tmp/b0/cli/lamina --mpi-shm shm1.txt ... --mpi-tcp tcp1.txt ... \\
        --out inputs.json [--compute-from old-inputs.json]
    bench/scaling_model.py --config inputs.json [--nodes 8,64,512] [--buckets 1 |
        --buckets-per-layer] [--algorithm rhd] [--json]
"""
import argparse
import json
import math
import re
import statistics
import subprocess
import sys

DEFAULT_NETWORKS = [  # ASSUMED, not measured: see the docstring
    {"name": "25G TCP", "gbit": 25.0, "alpha_us": 10.0},
    {"name": "100G RDMA", "gbit": 100.0, "alpha_us": 2.0},
]
DEFAULT_MODELS = ("seed-cnn", "resnet20", "mlp")
# batch-norm layers in `lamina info`'s table (it prints no kind): named bn, bn1, bn2,
# ...downsample.1 (resnet20's), or unnamed, which lamina names after the kind: batchnorm#K
BN_NAME = re.compile(r"(^|\.)(bn\d*|batchnorm#\d+|downsample\.1)$")
LAM_DP_BUCKET_FLOATS = 1 << 16  # graph/dp_pass.c: a bucket closes at 65536 floats (256 KiB)


def fuse_buckets(layer_params, limit=LAM_DP_BUCKET_FLOATS):
    """lamina's gradient buckets (graph/dp_pass.c), in backward order: the layers with
    weights (batch norm's excepted; node order in, last layer first out) share a bucket until
    it holds at least `limit` floats; the last group closes at the first layer, whatever its
    size. Returns each bucket's floats."""
    out, total = [], 0
    for p in reversed(layer_params):
        total += p
        if total >= limit:
            out.append(total)
            total = 0
    if total > 0:
        out.append(total)
    return out


# ------------------------------------------------------------------ measuring the inputs

def measure(a):
    out = {"input": a.input, "threads": 1, "runs": a.runs, "models": {},
           "commands": {"info": "%s info --model NAME --input %s" % (a.lamina, a.input),
                        "bench": "%s --model NAME --input %s --batch B --threads 1 --json"
                                 % (a.bench, a.input)}}
    batches = [int(b) for b in a.batches.split(",")]
    for m in a.models.split(","):
        r = subprocess.run([a.lamina, "info", "--model", m, "--input", a.input],
                           stdout=subprocess.PIPE, check=True)
        text = r.stdout.decode()
        tot = re.search(r"total: (\d+) parameters, (\d+) FLOPs per sample \(forward\), (\d+) "
                        r"per training sample", text)
        params, fwd, train = (int(v) for v in tot.groups())
        bn, layers = [], []
        for line in text.splitlines():
            f = line.split()  # node, layer, output, params, FLOPs, inputs, strategy
            if len(f) >= 4 and f[0].isdigit() and f[3].isdigit() and int(f[3]) > 0:
                if BN_NAME.search(f[1]):
                    bn.append(int(f[3]) // 2)  # gamma and beta: 2 C parameters
                else:
                    layers.append(int(f[3]))
        fused = fuse_buckets(layers)
        entry = {"params": params, "forward_flops": fwd, "train_flops": train,
                 "layer_params": layers, "weight_layers": len(layers),
                 "bucket_floats": fused, "buckets": len(fused), "bn_channels": bn,
                 "compute_ms": {}, "compute_ms_runs": {}}
        if a.compute_from:
            with open(a.compute_from) as f:
                old = json.load(f)["models"][m]
            entry["compute_ms"], entry["compute_ms_runs"] = (old["compute_ms"],
                                                              old["compute_ms_runs"])
            out["compute_from"] = a.compute_from
            batches_here = []
        else:
            batches_here = batches
        for b in batches_here:
            runs = []
            for _ in range(a.runs):
                r = subprocess.run([a.bench, "--model", m, "--input", a.input, "--batch",
                                    str(b), "--threads", "1", "--json"],
                                   stdout=subprocess.PIPE, check=True)
                runs.append(json.loads(r.stdout.decode())["median_ms"])
            # min over runs of each run's median step: the machine is shared, and noise
            # only slows a run down (a faster compute is also the conservative side here)
            entry["compute_ms"][str(b)] = min(runs)
            entry["compute_ms_runs"][str(b)] = runs
            print("%s batch %d: %s ms" % (m, b, " ".join("%.3f" % v for v in runs)),
                  file=sys.stderr)
        out["models"][m] = entry
    for kind, paths in (("shm", a.mpi_shm), ("tcp", a.mpi_tcp)):
        if paths:
            out.setdefault("mpi", {})[kind] = dict(combine_mpi(paths, a.max_load),
                                                   files=paths)
    if "shm" in out.get("mpi", {}):
        # the local sum's cost at each model's gradient size, from the shared-memory runs
        for m in out["models"].values():
            m["gamma_s_per_byte"] = gamma_at(out["mpi"]["shm"], 4 * m["params"])
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote " + a.out, file=sys.stderr)


# ------------------------------------------------------------------ mpi_alphabeta runs

def mpi_json(path):
    with open(path) as f:
        return json.loads([ln for ln in f.read().splitlines() if ln.startswith("{")][-1])


def fit2(xs, ys, ts):
    """t = a x + b y by least squares on relative residuals (mpi_alphabeta.c's fit)."""
    sxx = sxy = syy = sxt = syt = 0.0
    for x, y, t in zip(xs, ys, ts):
        w = 1 / (t * t)
        sxx += w * x * x
        sxy += w * x * y
        syy += w * y * y
        sxt += w * x * t
        syt += w * y * t
    det = sxx * syy - sxy * sxy
    a = (sxt * syy - syt * sxy) / det
    b = (sxx * syt - sxy * sxt) / det
    err = math.sqrt(sum(((a * x + b * y - t) / t) ** 2 for x, y, t in zip(xs, ys, ts))
                    / len(ts))
    return a, b, err


def combine_mpi(paths, max_load):
    """Per-size medians over several mpi_alphabeta runs (those whose load average at start
    and end is at most max_load), and the fits on them."""
    runs = [mpi_json(p) for p in paths]
    kept = [r for r in runs if max(r["load_start"], r["load_end"]) <= max_load]
    if not kept:
        raise SystemExit("no run with load average <= %g" % max_load)
    sizes, R = kept[0]["sizes"], kept[0]["ranks"]
    keys = ("pingpong_us", "a2a_us", "sum_us", "allgather_us", "comm_us", "mpi_allreduce_us")
    med = {k: [statistics.median(r[k][i] for r in kept) for i in range(len(sizes))]
           for k in keys}
    res = {"runs": len(runs), "kept": len(kept), "max_load": max_load, "ranks": R,
           "sizes": sizes, "median_us": med, "fits": {}}
    # all sizes, and the gradients' range (64 KiB .. 8 MiB: the rendezvous protocol, data
    # in cache; above it this machine's bandwidth falls by 2x and more)
    for label, lo, hi in (("all", 0, math.inf), ("64K-8M", 65536, 8 << 20)):
        idx = [i for i, n in enumerate(sizes) if lo <= n <= hi]
        pa, pb, pe = fit2([1] * len(idx), [sizes[i] for i in idx],
                          [med["pingpong_us"][i] * 1e-6 for i in idx])
        xc = [2 * (R - 1)] * len(idx)
        yc = [2 * (R - 1) / R * sizes[i] for i in idx]
        ca, cb, ce = fit2(xc, yc, [med["comm_us"][i] * 1e-6 for i in idx])
        ra, rb, re_ = fit2(xc, yc, [med["mpi_allreduce_us"][i] * 1e-6 for i in idx])
        res["fits"][label] = {"from_bytes": sizes[idx[0]], "to_bytes": sizes[idx[-1]],
                              "pingpong": [pa, pb, pe], "segmented": [ca, cb, ce],
                              "mpi_allreduce": [ra, rb, re_]}
    return res


def print_combined(res):
    print("%d of %d runs kept (load average <= %g at start and end), %d ranks; per-size "
          "median over the kept runs of each run's median, us\n"
          % (res["kept"], res["runs"], res["max_load"], res["ranks"]))
    m = res["median_us"]
    print("| bytes | ping-pong | alltoallv | sum | allgatherv | comm (a2a + ag) "
          "| MPI_Allreduce |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for i, n in enumerate(res["sizes"]):
        print("| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |"
              % (n, m["pingpong_us"][i], m["a2a_us"][i], m["sum_us"][i],
                 m["allgather_us"][i], m["comm_us"][i], m["mpi_allreduce_us"][i]))
    print("\n| fit | sizes | alpha (us) | beta (s/B) | bandwidth 1/beta (GB/s) "
          "| rms relative error |")
    print("|---|---|---:|---:|---:|---:|")
    for label, f in res["fits"].items():
        for what in ("pingpong", "segmented", "mpi_allreduce"):
            a, b, e = f[what]
            print("| %s | %d B .. %d B | %.3f | %.3g | %.2f | %.0f%% |"
                  % (what, f["from_bytes"], f["to_bytes"], a * 1e6, b, 1e-9 / b, 100 * e))


def gamma_at(mpi, nbytes):
    """The fixed-order sum's seconds per byte of vector at the measured size nearest to
    nbytes (from 2 ranks' sum time: (R-1)/R n gamma)."""
    sizes, R = mpi["sizes"], mpi["ranks"]
    i = min(range(len(sizes)), key=lambda k: abs(math.log(sizes[k] / nbytes)))
    return mpi["median_us"]["sum_us"][i] * 1e-6 / ((R - 1) / R * sizes[i])


# ------------------------------------------------------------------ the model

def compute_s(model, b):
    """Step time at per-node batch b (seconds), from the measured steps."""
    pts = sorted((int(k), v / 1e3) for k, v in model["compute_ms"].items())
    if b <= pts[0][0]:
        return pts[0][1] / pts[0][0] * b
    if b >= pts[-1][0]:
        return pts[-1][1] / pts[-1][0] * b
    for (b0, t0), (b1, t1) in zip(pts, pts[1:]):
        if b0 <= b <= b1:
            w = math.log(b / b0) / math.log(b1 / b0)
            per = (t0 / b0) * (1 - w) + (t1 / b1) * w  # per-sample time, linear in log b
            return per * b
    raise AssertionError


def lamina_buckets(model):
    """The floats of each of lamina's gradient buckets, in the order it starts them."""
    if "layer_params" in model:
        return fuse_buckets(model["layer_params"])
    if "bucket_floats" in model:
        return list(model["bucket_floats"])
    k = model.get("buckets", 1)  # older inputs: a count alone, sizes taken as equal
    return [model["params"] / k] * k


def bucket_floats(model, a):
    """The buckets the model exchanges: lamina's, or --buckets K of equal size, or one per
    layer with weights (--buckets-per-layer), all holding the same floats."""
    total = sum(lamina_buckets(model))
    if a.buckets:
        return [total / a.buckets] * a.buckets
    if a.buckets_per_layer:
        if "layer_params" in model:
            return list(reversed(model["layer_params"]))
        return [total / model["weight_layers"]] * model["weight_layers"]
    return lamina_buckets(model)


def grad_exchange_s(n, sizes, net, gamma, algorithm):
    """The buckets' exchanges (sizes: floats per bucket, in start order): (all of it, the
    part lamina's order leaves after backward: the last bucket's two phases, the allgather
    of the one before it, and every local sum)."""
    if n <= 1 or not sizes:
        return 0.0, 0.0
    alpha, bw = net["alpha_us"] * 1e-6, net["gbit"] * 1e9 / 8
    hops = (n - 1) if algorithm == "ring" else math.log2(n)  # messages per phase, in series
    phase = [hops * alpha + (n - 1) / n * 4 * f / bw for f in sizes]  # each phase
    sums = sum((n - 1) / n * 4 * f * gamma for f in sizes)
    total = 2 * sum(phase) + sums
    opened = 2 * phase[-1] + (phase[-2] if len(sizes) > 1 else 0.0) + sums
    return total, opened


def small_exchange_s(n, doubles, net, algorithm):
    """An allgather of every rank's `doubles` values (lamina's small reductions)."""
    if n <= 1:
        return 0.0
    alpha, bw = net["alpha_us"] * 1e-6, net["gbit"] * 1e9 / 8
    hops = (n - 1) if algorithm == "ring" else math.log2(n)
    return hops * alpha + (n - 1) * 8 * doubles / bw


def step(model, n, b, net, a, gamma):
    """One step of n nodes at per-node batch b: its parts and efficiencies. eff_*: against
    one node alone at the same per-node batch (weak scaling); strong_*: against one node
    running the whole global batch n b (strong scaling: the speedup, over N). *_no_overlap:
    nothing hidden; *_lamina: lamina's order (see grad_exchange_s); *_overlap: every
    exchange hidden behind backward as far as it lasts."""
    tc = compute_s(model, b)
    g = gamma if gamma is not None else model.get("gamma_s_per_byte", 0.0)
    tg, topen = grad_exchange_s(n, bucket_floats(model, a), net, g, a.algorithm)
    small = [2] + [2 * c for c in model.get("bn_channels", []) for _ in range(2)]
    ts = sum(small_exchange_s(n, d, net, a.small_algorithm or a.algorithm) for d in small)
    f = a.backward_fraction
    no = tc + tg + ts
    la = tc + max(0.0, (tg - topen) - f * tc) + topen + ts
    ov = tc + max(0.0, tg - f * tc) + ts
    t1 = compute_s(model, n * b)
    return {"compute_ms": tc * 1e3, "grad_ms": tg * 1e3, "grad_after_backward_ms": topen * 1e3,
            "small_ms": ts * 1e3,
            "eff_no_overlap": tc / no, "eff_lamina": tc / la, "eff_overlap": tc / ov,
            "strong_no_overlap": t1 / (n * no), "strong_lamina": t1 / (n * la),
            "strong_overlap": t1 / (n * ov)}


def b50(model, n, net, a, gamma, key):
    """The per-node batch at which the efficiency `key` crosses 50% (None: above 50% even at
    batch 1; inf: never reaches it)."""
    if step(model, n, 1, net, a, gamma)[key] >= 0.5:
        return None
    lo, hi = 1.0, 2.0
    while step(model, n, hi, net, a, gamma)[key] < 0.5:
        lo, hi = hi, hi * 2
        if hi > 1e9:
            return math.inf
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if step(model, n, mid, net, a, gamma)[key] < 0.5:
            lo = mid
        else:
            hi = mid
    return hi


def loglog(xs, ys, x):
    """ys at x, linear in log-log between the measured points (proportional beyond)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1] * x / xs[-1]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 <= x <= x1:
            w = math.log(x / x0) / math.log(x1 / x0)
            return math.exp(math.log(y0) * (1 - w) + math.log(y1) * w)
    raise AssertionError


def two_ranks_s(shm, sizes):
    """2 ranks on this machine's shared memory: (exchanges, local sums) of buckets of
    `sizes` floats, from the measured per-size medians of bench/mpi_alphabeta.c."""
    med = shm["median_us"]
    ex = sum(loglog(shm["sizes"], med["comm_us"], 4 * f) for f in sizes) * 1e-6
    su = sum(loglog(shm["sizes"], med["sum_us"], 4 * f) for f in sizes) * 1e-6
    return ex, su


def fmt_b(v):
    if v is None:
        return "< 1"
    if v == math.inf:
        return "never"
    return "%.0f" % v if v >= 10 else "%.1f" % v


def fmt_g(v, n):
    if v is None:
        return "< %d" % n
    if v == math.inf:
        return "never"
    return "{:,.0f}".format(v * n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="inputs JSON (from --measure)")
    ap.add_argument("--measure", action="store_true", help="measure the inputs, write --out")
    ap.add_argument("--bench", default="/tmp/b0/bench/lamina-bench")
    ap.add_argument("--lamina", default="/tmp/b0/cli/lamina")
    ap.add_argument("--input", default="1x28x28")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--batches", default="1,2,4,8,16,32,64,128,256")
    ap.add_argument("--runs", type=int, default=3, help="lamina-bench runs per batch (3)")
    ap.add_argument("--mpi-shm", nargs="+", action="extend", metavar="FILE",
                    help="mpi_alphabeta output of a shared-memory run (repeatable): their "
                    "per-size medians are recorded, and the local sum's gamma taken from them")
    ap.add_argument("--mpi-tcp", nargs="+", action="extend", metavar="FILE",
                    help="mpi_alphabeta output of a TCP-loopback run (repeatable)")
    ap.add_argument("--max-load", type=float, default=math.inf,
                    help="ignore mpi_alphabeta runs whose load average exceeded this (no "
                    "limit: the run's own two busy-polling ranks add about 2 to it)")
    ap.add_argument("--combine-mpi", nargs="+", metavar="FILE",
                    help="print the per-size medians and fits of mpi_alphabeta runs, exit")
    ap.add_argument("--out", default="scaling_inputs.json")
    ap.add_argument("--nodes", default="8,64,512")
    ap.add_argument("--per-node-batch", type=float, default=64)
    ap.add_argument("--backward-fraction", type=float, default=2 / 3)
    ap.add_argument("--network", action="append", metavar="NAME:GBIT:ALPHA_US",
                    help="replace the assumed networks (repeatable)")
    ap.add_argument("--gamma", type=float, help="local sum s/byte (default: each model's "
                    "from the config, measured at its gradient's size; 0 leaves it out)")
    ap.add_argument("--algorithm", choices=("ring", "rhd"), default="ring",
                    help="latency term of every exchange: (N-1) alpha per allgather, 2(N-1) "
                    "per bucket (ring, or lamina's alltoallv), or log2(N) and 2 log2(N) "
                    "(recursive doubling / halving and doubling)")
    ap.add_argument("--small-algorithm", choices=("ring", "rhd"),
                    help="the same for the small exchanges alone (default: --algorithm)")
    ap.add_argument("--buckets", type=int, default=0,
                    help="K gradient buckets of equal size per step, a scenario (default: "
                    "lamina's, layers fused up to 65536 floats; 1: one fused bucket)")
    ap.add_argument("--buckets-per-layer", action="store_true",
                    help="one bucket per layer with weights, as lamina exchanged them before "
                    "graph/dp_pass.c fused them (for comparison)")
    ap.add_argument("--compute-from", metavar="FILE",
                    help="with --measure: take the compute times from this earlier inputs "
                    "file instead of running lamina-bench")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.buckets and a.buckets_per_layer:
        ap.error("--buckets and --buckets-per-layer exclude each other")
    if a.combine_mpi:
        print_combined(combine_mpi(a.combine_mpi, a.max_load))
        return 0
    if a.measure:
        return measure(a) or 0
    if not a.config:
        ap.error("--config FILE (or --measure)")
    with open(a.config) as f:
        cfg = json.load(f)
    nets = DEFAULT_NETWORKS
    if a.network:
        nets = []
        for s in a.network:
            name, gbit, al = s.rsplit(":", 2)
            nets.append({"name": name, "gbit": float(gbit), "alpha_us": float(al)})
    nets = nets + cfg.get("networks", [])
    gamma = a.gamma  # None: each model's own
    nodes = [int(v) for v in a.nodes.split(",")]
    models = cfg["models"]

    for mname, m in models.items():
        if a.buckets_per_layer and "layer_params" not in m and "weight_layers" not in m:
            raise SystemExit("--buckets-per-layer: %s: the inputs have neither layer_params "
                             "nor weight_layers (rerun --measure)" % mname)
        if "layer_params" not in m and "bucket_floats" not in m:
            print("warning: %s: the inputs give a bucket count alone (buckets of equal size "
                  "assumed); inputs measured before graph/dp_pass.c fused the buckets count "
                  "one per layer with weights: rerun --measure" % mname, file=sys.stderr)
        nb = len(lamina_buckets(m))
        if "layer_params" in m and m.get("buckets", nb) != nb:
            print("warning: %s: the inputs say %d buckets, its layer_params make %d by "
                  "lamina's rule (used)" % (mname, m["buckets"], nb), file=sys.stderr)
    if a.buckets:
        which = "%d of equal size (--buckets)" % a.buckets
    elif a.buckets_per_layer:
        which = "one per layer with weights (--buckets-per-layer)"
    else:
        which = "lamina's: layers fused in backward order up to %d floats" % LAM_DP_BUCKET_FLOATS
    print("Assumed networks: " + "; ".join("%s: %g Gbit/s, alpha %g us" % (
        n["name"], n["gbit"], n["alpha_us"]) for n in nets))
    print("gradient exchange: buckets x %s alpha + 2(N-1)/N B/bw + (N-1)/N B gamma, buckets "
          "%s, gamma %s; small exchanges: %s alpha + (N-1) 8 len/bw each; backward fraction "
          "%.2f" % ("2(N-1)" if a.algorithm == "ring" else "2 log2(N)", which,
                    "%.3g s/B" % gamma if gamma is not None else "per model (" + ", ".join(
                        "%s %.3g s/B" % (k, v.get("gamma_s_per_byte", 0.0))
                        for k, v in models.items()) + ")",
                    "(N-1)" if (a.small_algorithm or a.algorithm) == "ring" else "log2(N)",
                    a.backward_fraction))
    out = {"weak": [], "strong": [], "two_ranks": []}
    shm = cfg.get("mpi", {}).get("shm")
    if shm:
        print("\n### Check: 2 ranks, shared memory, from the measured per-size medians\n")
        print("Each bucket's comm (alltoallv + allgatherv) and sum medians at its size "
              "(log-log interpolation), summed over the buckets.\n")
        print("| model | buckets (floats, in start order) | exchanges ms | local sums ms "
              "| total ms |")
        print("|---|---|---:|---:|---:|")
        for mname, m in models.items():
            sizes = bucket_floats(m, a)
            ex, su = two_ranks_s(shm, sizes)
            print("| %s | %d: %s | %.3f | %.3f | %.3f |"
                  % (mname, len(sizes), ", ".join("{:,.0f}".format(f) for f in sizes),
                     ex * 1e3, su * 1e3, (ex + su) * 1e3))
            out["two_ranks"].append({"model": mname, "bucket_floats": sizes,
                                     "exchanges_ms": ex * 1e3, "sums_ms": su * 1e3})
    b = a.per_node_batch
    print("\n### Weak scaling: per-node batch %g\n" % b)
    for mname, m in models.items():
        sizes = bucket_floats(m, a)
        print("**%s** (%d parameters, %.2f MB of gradient in %d bucket%s, %d batch-norm "
              "layers; step at batch %g: %.2f ms)\n"
              % (mname, m["params"], 4 * sum(sizes) / 1e6, len(sizes),
                 "" if len(sizes) == 1 else "s",
                 len(m.get("bn_channels", [])), b, compute_s(m, b) * 1e3))
        print("| nodes | network | gradient exchange ms | of it after backward ms "
              "| small exchanges ms | efficiency, no overlap | lamina's order "
              "| perfect overlap |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        for n in nodes:
            for net in nets:
                r = step(m, n, b, net, a, gamma)
                print("| %d | %s | %.2f | %.2f | %.2f | %.0f%% | %.0f%% | %.0f%% |"
                      % (n, net["name"], r["grad_ms"], r["grad_after_backward_ms"],
                         r["small_ms"], 100 * r["eff_no_overlap"], 100 * r["eff_lamina"],
                         100 * r["eff_overlap"]))
                out["weak"].append(dict(r, model=mname, nodes=n, network=net["name"],
                                        per_node_batch=b))
        print()
    print("### Strong scaling: where efficiency drops below 50%\n")
    print("Efficiency here = speedup over one node running the whole global batch G, / N "
          "(it includes the slower per-sample compute of small batches). b50 = the per-node "
          "batch G/N below which it is under 50%; G50 = N x b50. \"< 1\": still >= 50% at one "
          "sample per node.\n")
    print("| model | nodes | network | b50 no overlap | G50 no overlap | b50 lamina's order "
          "| G50 lamina's order | b50 perfect overlap | G50 perfect overlap |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    jv = lambda v: "below 1" if v is None else "never" if v == math.inf else v
    for mname, m in models.items():
        for n in nodes:
            for net in nets:
                v = [b50(m, n, net, a, gamma, k) for k in
                     ("strong_no_overlap", "strong_lamina", "strong_overlap")]
                print("| %s | %d | %s | %s |"
                      % (mname, n, net["name"],
                         " | ".join("%s | %s" % (fmt_b(x), fmt_g(x, n)) for x in v)))
                out["strong"].append({"model": mname, "nodes": n, "network": net["name"],
                                      "b50_no_overlap": jv(v[0]), "b50_lamina": jv(v[1]),
                                      "b50_overlap": jv(v[2])})
    if a.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
