#!/usr/bin/env python3
"""Data-parallel training side by side, in interleaved rounds (the machine is shared):
lamina 1 rank x 1 thread, 2 ranks x 1 thread, 1 rank x 2 threads (all with the same chunks,
so the same weights; and 1 rank x 2 threads with the batch as one chunk, the ordinary
step), and PyTorch 1.13 DDP (gloo, 2 processes x 1 thread), on one model
at one global batch. Prints the median images/s of each over the rounds and the ratios the
MPI issue asks for, and how much of the 2-rank step was spent blocked on exchanges.

    python3 bench/mpi_compare.py --build build --model seed-cnn --batch 128 --chunk 64 --rounds 5
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", default="seed-cnn")
    ap.add_argument("--input", default="1x28x28")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--torch-env", default="best", choices=["best", "shipped"])
    a = ap.parse_args()
    bench = os.path.join(a.build, "bench", "lamina-bench-dp")
    common = ["--model", a.model, "--input", a.input, "--batch", str(a.batch), "--chunk",
              str(a.chunk), "--steps", str(a.steps)]
    configs = {
        "lamina 1 rank x 1 thread": MPIRUN + ["-np", "1", bench] + common + ["--threads", "1"],
        "lamina 2 ranks x 1 thread": MPIRUN + ["-np", "2", bench] + common + ["--threads", "1"],
        "lamina 1 rank x 2 threads": MPIRUN + ["-np", "1", bench] + common + ["--threads", "2"],
        "lamina 1 rank x 2 threads, 1 chunk": MPIRUN + ["-np", "1", bench] + common[:-4] +
        ["--chunk", str(a.batch), "--steps", str(a.steps), "--threads", "2"],
        "PyTorch DDP gloo 2 x 1 thread": ["/usr/bin/python3", os.path.join(HERE, "torch_ddp.py"),
                                          "--model", a.model, "--input", a.input,
                                          "--global-batch", str(a.batch), "--procs", "2",
                                          "--threads", "1", "--steps", str(a.steps),
                                          "--env", a.torch_env, "--json"],
    }
    ips = {k: [] for k in configs}
    blocked, alone = [], []
    for r in range(a.rounds):
        for name, cmd in configs.items():
            j = run_json(cmd)
            ips[name].append(j["images_per_second"])
            if name.startswith("lamina 2 ranks"):
                blocked.append(j["blocked_on_exchanges_s"] / j["median_step_s"])
                alone.append(j["exchanges_alone_s"])
        print("round %d: " % (r + 1) + ", ".join("%s %.0f" % (k, v[-1]) for k, v in ips.items()),
              flush=True)
    med = {k: statistics.median(v) for k, v in ips.items()}
    print("\nmedian images/s over %d rounds (%s, global batch %d, chunks of %d):" %
          (a.rounds, a.model, a.batch, a.chunk))
    for k, v in med.items():
        print("  %-32s %8.0f" % (k, v))
    two, one, thr, ddp = (med["lamina 2 ranks x 1 thread"], med["lamina 1 rank x 1 thread"],
                          med["lamina 1 rank x 2 threads"], med["PyTorch DDP gloo 2 x 1 thread"])
    print("  2 ranks / 1 rank x 1 thread:   %.2fx (target 1.8x)" % (two / one))
    print("  2 ranks / 1 rank x 2 threads:  %.2fx (target >= 1.0x; %.2fx against one chunk)" %
          (two / thr, two / med["lamina 1 rank x 2 threads, 1 chunk"]))
    print("  2 ranks / PyTorch DDP 2 x 1:   %.2fx (target 1.3x)" % (two / ddp))
    print("  2 ranks: blocked on exchanges %.1f%% of the step; the gradient exchanges alone "
          "take %.2f ms (median over rounds)" % (100 * statistics.median(blocked),
                                                 1e3 * statistics.median(alone)))
    print(json.dumps({"model": a.model, "batch": a.batch, "chunk": a.chunk, "median_ips": med,
                      "ratio_2ranks_1rank": two / one, "ratio_2ranks_2threads": two / thr,
                      "ratio_2ranks_ddp": two / ddp,
                      "blocked_share": statistics.median(blocked),
                      "exchanges_alone_s": statistics.median(alone)}))


if __name__ == "__main__":
    sys.exit(main())
