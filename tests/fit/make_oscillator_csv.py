#!/usr/bin/env python3
"""Write a regression CSV from a physical formula: the steady-state amplitude of a driven,
damped harmonic oscillator,

    m x'' + c x' + k x = F0 cos(w t),   F0 = 1
    A(m, k, c, w) = 1 / sqrt((k - m w^2)^2 + (c w)^2)

with mass m, stiffness k, damping c and drive frequency w drawn uniformly from [0.5, 2]
(SI units; resonance near w = sqrt(k/m) with quality factor up to 4, so A spans 0.1..4).
Four input columns and the target A, last. Deterministic for a given --seed, standard
library only, so the README's figures can be reproduced anywhere:

    python3 tests/fit/make_oscillator_csv.py oscillator.csv --rows 5000 --seed 1
"""
import argparse
import math
import random


def amplitude(m, k, c, w):
    return 1.0 / math.sqrt((k - m * w * w) ** 2 + (c * w) ** 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="CSV file to write")
    ap.add_argument("--rows", type=int, default=5000, help="samples (default 5000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with open(a.out, "w") as f:
        f.write("m,k,c,w,amplitude\n")
        for _ in range(a.rows):
            m, k, c, w = (rng.uniform(0.5, 2.0) for _ in range(4))
            f.write(f"{m:.6f},{k:.6f},{c:.6f},{w:.6f},{amplitude(m, k, c, w):.7g}\n")


if __name__ == "__main__":
    main()
