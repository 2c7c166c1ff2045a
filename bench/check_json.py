#!/usr/bin/env python3
"""Run lamina-bench with the given arguments; pass if it exits 0 and prints one valid JSON
report with verified kernels, training steps and the header fields (meson test 'bench')."""
import json
import subprocess
import sys


def main():
    cmd = sys.argv[1:]
    # no timeout of its own: meson's (scaled by --timeout-multiplier under the sanitizers)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        print("exit status %d; stderr:\n%s" % (p.returncode, p.stderr.decode(errors="replace")))
        return 1
    try:
        rep = json.loads(p.stdout)
    except ValueError as e:
        print("stdout is not JSON: %s\n%s" % (e, p.stdout[:2000].decode(errors="replace")))
        return 1
    problems = []
    for key in ("env", "kernels", "train", "gemm_share"):
        if key not in rep:
            problems.append("missing key " + key)
    env = rep.get("env", {})
    for key in ("cpu", "blas_core", "blas_parallel", "peak_gflops_1thread", "threads"):
        if key not in env:
            problems.append("env lacks " + key)
    kernels = rep.get("kernels", [])
    if not kernels:
        problems.append("no kernel results")
    for k in kernels:
        if not k.get("verified"):
            problems.append("kernel %s %s not verified (err %s)"
                            % (k.get("op"), k.get("shape"), k.get("max_rel_err")))
    for t in rep.get("train", []):
        if not t.get("images_per_second"):
            problems.append("train %s has no images/s" % t.get("model"))
    if not rep.get("train"):
        problems.append("no training-step results")
    for msg in problems:
        print(msg)
    print("%d kernels, %d training configs, %d share rows: %s"
          % (len(kernels), len(rep.get("train", [])), len(rep.get("gemm_share", [])),
             "FAIL" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
