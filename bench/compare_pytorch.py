#!/usr/bin/env python3
"""lamina against PyTorch, side by side in one run: the same networks, batch sizes and
thread counts, the same training step (SGD momentum 0.9, lr 0.01, softmax cross-entropy,
random data, warm-up then the median of timed steps).

Each measurement is a fresh subprocess: `lamina-bench --model ... --json`, PyTorch "as
shipped" (the default environment), and PyTorch "at its best" (glibc kept from handing
freed memory back to the system, and the OpenMP build of OpenBLAS):

    GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:\\
glibc.malloc.trim_threshold=4294967295
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp

The three are interleaved within every round, in a rotating order, so machine noise falls on
all of them alike; the table reports the median over rounds of each one's median step, and
each ratio as the median over rounds of that round's ratio.

The "ceiling" column is the images/s of a step whose every FLOP ran at the sgemm peak that
lamina-bench measures (2048^3, before and after the rounds, the higher one), using the
step's FLOPs from lam_model_train_flops; "ceil/best" is that over PyTorch at its best, the
largest ratio any engine bound by this machine's sgemm could reach with the direct
convolution's FLOPs (Winograd's multiplies are fewer, so lamina can pass it).

    bench/compare_pytorch.py --bench build/bench/lamina-bench [--rounds 3] [--all] [--json]

Exit status: 0 (also when torch is not importable: a message says so), 2 bad usage, 1 when
a subprocess fails.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

BEST_ENV = {
    "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:"
                      "glibc.malloc.trim_threshold=4294967295",
    "LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu/openblas-openmp",
}

# (network, input, batch, threads or None for all cores, target ratios) from the speed issue
DEFAULT_CONFIGS = [
    ("seed-cnn", "1x28x28", 64, 1, None),
    ("seed-cnn", "1x28x28", 64, 2, {"best": 1.3, "shipped": 4.0}),
    ("seed-cnn", "3x32x32", 64, None, {"best": 1.2}),
    ("mlp", "1x28x28", 256, None, {"best": 1.2}),
    ("resnet20", "1x28x28", 64, 2, {"best": 1.3}),
    ("resnet20", "3x32x32", 64, 2, {"best": 1.3}),
    # the recurrent issue's language models: batch 64 of T = 64 tokens (input "64")
    ("char-lstm", "64", 64, 1, None),
    ("char-lstm", "64", 64, 2, {"best": 1.5}),
    ("char-gru", "64", 64, 2, None),
    # the attention issue's GPTs: batch 12 of T positions (input "T"); gpt-6x384 is nanoGPT's
    # shakespeare-char size, for its tokens/s
    ("gpt-mini", "64", 12, 1, None),
    ("gpt-mini", "64", 12, 2, {"best": 1.5}),
    ("gpt-6x384", "256", 12, 2, None),
]

# Vocabulary of the language-model configurations (lamina-bench's N_TOKENS): about the
# distinct bytes of Debian's fortunes.
N_TOKENS = 96


# ------------------------------------------------------------------ worker (torch side)

def build_net(torch, name, shape):
    nn = torch.nn
    if name.startswith("gpt-"):
        # bench/torch_gpt.py's GPT: lamina's built-in gpt-mini / gpt-6x384
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from torch_gpt import GPT
        if name == "gpt-mini":
            return GPT(N_TOKENS, n_layer=4, n_head=4, n_embd=128, block_size=64)
        return GPT(N_TOKENS, n_layer=6, n_head=6, n_embd=384, block_size=256)
    if name not in ("char-lstm", "char-gru"):
        c, h, w = shape
    if name == "seed-cnn":
        return nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 512), nn.ReLU(),
                             nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    if name in ("char-lstm", "char-gru"):
        class CharModel(nn.Module):
            # bench/torch_char_lm.py's model: lamina's built-in char-lstm / char-gru
            def __init__(self):
                super().__init__()
                self.encoder = nn.Embedding(N_TOKENS, 64)
                rnn = nn.LSTM if name == "char-lstm" else nn.GRU
                self.rnn = rnn(64, 256, 2, dropout=0.2, batch_first=True)
                self.decoder = nn.Linear(256, N_TOKENS)

            def forward(self, x):
                return self.decoder(self.rnn(self.encoder(x))[0])
        return CharModel()
    if name == "resnet20":
        # the one definition, shared with the ResNet-20 golden fixture and training script
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from torch_resnet import resnet20
        return resnet20(in_channels=c, num_classes=10)
    raise ValueError("unknown network " + name)


def worker(args):
    import torch
    torch.set_num_threads(args.threads)  # it defaults to 1 on the development machine
    torch.manual_seed(1)
    shape = [int(v) for v in args.input.split("x")]
    lm = args.net.startswith("char-") or args.net.startswith("gpt-")
    net = build_net(torch, args.net, shape if not lm else None)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    if lm:
        # token ids in, one label per position: the per-position mean cross-entropy
        x = torch.randint(0, N_TOKENS, (args.batch, shape[0]))
        y = torch.randint(0, N_TOKENS, (args.batch * shape[0],))
    else:
        x = torch.rand(args.batch, *shape) * 2 - 1
        y = torch.randint(0, 10, (args.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        out = net(x)
        loss = loss_fn(out.reshape(-1, out.shape[-1]) if lm else out, y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"images_per_second": args.batch / med, "median_ms": med * 1e3,
                      "min_ms": min(times) * 1e3, "max_ms": max(times) * 1e3,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))
    return 0


# ------------------------------------------------------------------ driver

def rate(x):
    """A rate for the table: whole numbers, with two decimals below 100 (gpt-6x384 runs at
    8 sequences/s)."""
    return "%.0f" % x if x >= 100 else "%.2f" % x


def find_torch_python(explicit):
    candidates = [explicit] if explicit else [sys.executable, "/usr/bin/python3"]
    for py in candidates:
        if not py or not os.path.exists(py):
            continue
        r = subprocess.run([py, "-c", "import torch; print(torch.__version__)"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return py, r.stdout.decode().strip()
    return None, None


def find_bench(explicit):
    if explicit:
        return explicit
    for cand in (os.environ.get("LAMINA_BENCH"), shutil.which("lamina-bench")):
        if cand and os.path.exists(cand):
            return cand
    here = os.path.dirname(os.path.abspath(__file__))
    for build in sorted(os.listdir(os.path.join(here, ".."))):
        cand = os.path.join(here, "..", build, "bench", "lamina-bench")
        if build.startswith("build") and os.path.exists(cand):
            return os.path.normpath(cand)
    return None


def run_json(cmd, env):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd[:4]), r.returncode,
                                                    r.stderr.decode(errors="replace")[-500:]))
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def measure_peaks(bench):
    """sgemm peak GFLOP/s on 1 thread and on all, as lamina-bench's header measures it."""
    r = subprocess.run([bench, "--op", "none", "--json"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        return {}
    env = json.loads(r.stdout.decode())["env"]
    return {1: env["peak_gflops_1thread"],
            env["threads"]: max(env["peak_gflops_nthreads"], env["peak_gflops_nthreads_end"])}


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", help="path of lamina-bench (default: $LAMINA_BENCH, PATH, "
                    "../build*/bench/lamina-bench)")
    ap.add_argument("--python", help="python with torch (default: this one, /usr/bin/python3)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per run (30)")
    ap.add_argument("--warmup", type=int, default=10, help="warm-up steps per run (10)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="'all cores' thread count (default: CPU count)")
    ap.add_argument("--all", action="store_true",
                    help="every network at batch 32, 64, 256 and threads 1..N")
    ap.add_argument("--json", action="store_true", help="also print the results as JSON")
    ap.add_argument("--only", help="comma-separated networks to run (default: all)")
    ap.add_argument("--worker", nargs=6, metavar=("NET", "INPUT", "BATCH", "THREADS", "STEPS",
                                                  "WARMUP"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        w = argparse.Namespace(net=a.worker[0], input=a.worker[1], batch=int(a.worker[2]),
                               threads=int(a.worker[3]), steps=int(a.worker[4]),
                               warmup=int(a.worker[5]))
        return worker(w)
    if a.rounds < 1 or a.steps < 1 or a.warmup < 0 or a.threads < 1:
        ap.error("--rounds, --steps and --threads must be >= 1, --warmup >= 0")

    py, torch_version = find_torch_python(a.python)
    if py is None:
        print("compare_pytorch: torch is not importable (tried %s): nothing to compare"
              % (a.python or sys.executable + ", /usr/bin/python3"), file=sys.stderr)
        return 0
    bench = find_bench(a.bench)
    if bench is None:
        print("compare_pytorch: error: lamina-bench not found; pass --bench PATH",
              file=sys.stderr)
        return 2

    if a.all:
        configs = [(n, i, b, t, None) for n, i in (("seed-cnn", "1x28x28"),
                                                    ("seed-cnn", "3x32x32"), ("mlp", "1x28x28"))
                   for b in (32, 64, 256) for t in range(1, a.threads + 1)]
    else:
        configs = [(n, i, b, t if t is not None else a.threads, tg)
                   for n, i, b, t, tg in DEFAULT_CONFIGS if (t or 1) <= a.threads]

    if a.only:
        configs = [c for c in configs if c[0] in a.only.split(",")]
        if not configs:
            ap.error("--only %s matches no configuration" % a.only)
    shipped_env = {k: v for k, v in os.environ.items() if k not in BEST_ENV}
    best_env = dict(shipped_env, **BEST_ENV)
    variants = ("lamina", "shipped", "best")
    me = os.path.abspath(__file__)
    results = {}  # (config index, variant) -> list of images/s, one per round
    work = {}  # config index -> GFLOP per image, from lamina's train_gflops / images_per_second
    share = {}  # config index -> lamina's GEMM share of the step, one per round
    load_start = load_average()
    peaks = measure_peaks(bench)
    t_start = time.time()
    for rnd in range(a.rounds):
        for ci, (net, inp, batch, threads, _) in enumerate(configs):
            order = variants[rnd % 3:] + variants[:rnd % 3]
            for v in order:
                if v == "lamina":
                    cmd = [bench, "--model", net, "--input", inp, "--batch", str(batch),
                           "--threads", str(threads), "--reps", str(a.steps), "--json"]
                    env = dict(os.environ)
                else:
                    cmd = [py, me, "--worker", net, inp, str(batch), str(threads),
                           str(a.steps), str(a.warmup)]
                    env = shipped_env if v == "shipped" else best_env
                try:
                    r = run_json(cmd, env)
                except (RuntimeError, ValueError, IndexError) as e:
                    print("compare_pytorch: error: %s" % e, file=sys.stderr)
                    return 1
                results.setdefault((ci, v), []).append(r["images_per_second"])
                if v == "lamina":
                    work[ci] = r["train_gflops"] / r["images_per_second"]
                    if r.get("gemm_share", -1) >= 0:
                        share.setdefault(ci, []).append(r["gemm_share"])
        print("round %d/%d done (%.0f s)" % (rnd + 1, a.rounds, time.time() - t_start),
              file=sys.stderr)
    load_end = load_average()
    for t, g in measure_peaks(bench).items():
        peaks[t] = max(g, peaks.get(t, 0.0))

    print("lamina vs PyTorch %s (%s), training step images/s, median over %d interleaved "
          "rounds of the median of %d steps after %d warm-up (lamina-bench warms up 5)"
          % (torch_version, py, a.rounds, a.steps, a.warmup))
    print("lamina-bench: %s; load average %.2f at start, %.2f at end" % (bench, load_start,
                                                                        load_end))
    print("sgemm peak (lamina-bench, 2048^3, higher of start and end): %s"
          % ", ".join("%.1f GFLOP/s on %d thread%s" % (g, t, "s" if t > 1 else "")
                      for t, g in sorted(peaks.items())))
    hdr = "%-18s %5s %3s | %10s %10s %10s | %9s %9s | %8s %9s %5s | %s" % (
        "network", "batch", "thr", "lamina", "torch ship", "torch best", "vs ship", "vs best",
        "ceiling", "ceil/best", "gemm", "issue target")
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for ci, (net, inp, batch, threads, target) in enumerate(configs):
        med = {v: statistics.median(results[(ci, v)]) for v in variants}
        # ratios within each round (measured minutes apart at most), then their median: a
        # slow drift of the machine's speed over the run cancels out of every round's ratio
        r_ship, r_best = (statistics.median(lam / other for lam, other in
                                            zip(results[(ci, "lamina")], results[(ci, v)]))
                          for v in ("shipped", "best"))
        ceiling = peaks[threads] / work[ci] if threads in peaks and work.get(ci) else float("nan")
        verdict = ""
        if target:
            parts = []
            if "best" in target:
                parts.append(">=%.1fx best %s" % (target["best"],
                                                  "met" if r_best >= target["best"] else "NOT met"))
            if "shipped" in target:
                parts.append(">=%.0fx shipped %s"
                             % (target["shipped"],
                                "met" if r_ship >= target["shipped"] else "NOT met"))
            verdict = "; ".join(parts)
        gemm = statistics.median(share[ci]) if ci in share else float("nan")
        print("%-18s %5d %3d | %10s %10s %10s | %8.2fx %8.2fx | %8s %8.2fx %4.0f%% | %s"
              % (net + " " + inp, batch, threads, rate(med["lamina"]), rate(med["shipped"]),
                 rate(med["best"]), r_ship, r_best, rate(ceiling), ceiling / med["best"],
                 100 * gemm, verdict))
        rows.append({"network": net, "input": inp, "batch": batch, "threads": threads,
                     "lamina": med["lamina"], "torch_shipped": med["shipped"],
                     "torch_best": med["best"], "ratio_vs_shipped": r_ship,
                     "ratio_vs_best": r_best, "ceiling": ceiling,
                     "gflop_per_image": work.get(ci), "gemm_share": gemm, "per_round": {v: results[(ci, v)]
                                                            for v in variants},
                     "target": verdict})
    print("(images/s: for the language models, sequences per second; tokens/s is that times "
          "the input's length (64, or 256 for gpt-6x384). gemm: the share of lamina's step "
          "spent in GEMMs, lamina-bench's probe.)")
    print("\nper round (images/s, in run order within each round's rotation):")
    for ci, (net, inp, batch, threads, _) in enumerate(configs):
        print("  %-18s %4d %2d  " % (net + " " + inp, batch, threads) + "  ".join(
            "%s %s" % (v, "/".join(rate(x) for x in results[(ci, v)])) for v in variants))
    if a.json:
        print(json.dumps({"torch": torch_version, "python": py, "bench": bench,
                          "rounds": a.rounds, "steps": a.steps, "warmup": a.warmup,
                          "load_start": load_start, "load_end": load_end,
                          "sgemm_peak_gflops": {str(t): g for t, g in peaks.items()},
                          "results": rows},
                         indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
