#!/usr/bin/env python3
"""Cross-check lamina's optimizers, schedules and clipping against PyTorch (1.13).

Loads the built shared library through ctypes, runs the same float32 problem through
lam_optim_step() and torch.optim, and prints the largest difference per case (and whether
the runs are bitwise equal). Not part of CI (it needs torch); run by hand:

    python3 tests/optim/gen_torch_optim.py build/liblamina.so

Exit status 0 when every case is within tolerance, 1 otherwise.
"""
import ctypes as C
import math
import sys
import warnings

import numpy as np
import torch


class Param(C.Structure):
    _fields_ = [("name", C.c_char_p), ("w", C.POINTER(C.c_float)), ("g", C.POINTER(C.c_float)),
                ("n", C.c_int64), ("fan_in", C.c_int64), ("fan_out", C.c_int64),
                ("is_bias", C.c_int)]


class OptimDesc(C.Structure):
    _fields_ = [("kind", C.c_int), ("lr", C.c_double), ("momentum", C.c_double),
                ("dampening", C.c_double), ("nesterov", C.c_int),
                ("weight_decay", C.c_double), ("decoupled_weight_decay", C.c_double),
                ("beta1", C.c_double), ("beta2", C.c_double), ("eps", C.c_double),
                ("alpha", C.c_double), ("centered", C.c_int), ("decay_bias", C.c_int)]


class Schedule(C.Structure):
    _fields_ = [("kind", C.c_int), ("base_lr", C.c_double), ("step_size", C.c_int64),
                ("gamma", C.c_double), ("total_steps", C.c_int64), ("min_lr", C.c_double),
                ("warmup_steps", C.c_int64), ("warmup_start_factor", C.c_double)]


SGD, ADAM, ADAMW, RMSPROP = 0, 1, 2, 3
STEPS = 10
SHAPES = [(7, 13), (7,)]


def load(path):
    lib = C.CDLL(path)
    lib.lam_ctx_create.argtypes = [C.c_void_p, C.POINTER(C.c_void_p)]
    lib.lam_ctx_destroy.argtypes = [C.c_void_p]
    lib.lam_optim_desc_init.argtypes = [C.POINTER(OptimDesc), C.c_int]
    lib.lam_optim_create.argtypes = [C.c_void_p, C.POINTER(OptimDesc), C.POINTER(Param), C.c_int,
                                     C.POINTER(C.c_void_p)]
    lib.lam_optim_step.argtypes = [C.c_void_p, C.c_double]
    lib.lam_optim_destroy.argtypes = [C.c_void_p]
    lib.lam_ctx_errmsg.argtypes = [C.c_void_p]
    lib.lam_ctx_errmsg.restype = C.c_char_p
    lib.lam_schedule_init.argtypes = [C.POINTER(Schedule), C.c_int, C.c_double]
    lib.lam_schedule_lr.argtypes = [C.POINTER(Schedule), C.c_int64]
    lib.lam_schedule_lr.restype = C.c_double
    lib.lam_clip_grad_norm.argtypes = [C.c_void_p, C.POINTER(Param), C.c_int, C.c_double,
                                       C.POINTER(C.c_double)]
    return lib


def fptr(a):
    return a.ctypes.data_as(C.POINTER(C.c_float))


def run_case(lib, ctx, kind, opts, torch_cls, torch_kw):
    rng = np.random.default_rng(7)
    w0 = [rng.uniform(-1, 1, s).astype(np.float32) for s in SHAPES]
    grads = [[rng.uniform(-1, 1, s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]
    lrs = [torch_kw["lr"] * (1 + 0.25 * k) for k in range(STEPS)]

    # lamina
    ws = [w.copy() for w in w0]
    gs = [np.zeros_like(w) for w in w0]
    params = (Param * 2)(*[Param(b"p%d" % i, fptr(ws[i]), fptr(gs[i]), ws[i].size,
                                 SHAPES[0][1], SHAPES[0][0], int(i == 1)) for i in range(2)])
    desc = OptimDesc()
    lib.lam_optim_desc_init(C.byref(desc), kind)
    for k, v in opts.items():
        setattr(desc, k, v)
    opt = C.c_void_p()
    st = lib.lam_optim_create(ctx, C.byref(desc), params, 2, C.byref(opt))
    if st != 0:
        raise RuntimeError(lib.lam_ctx_errmsg(ctx).decode())
    for k in range(STEPS):
        for i in range(2):
            gs[i][...] = grads[k][i]
        assert lib.lam_optim_step(opt, lrs[k]) == 0
    lib.lam_optim_destroy(opt)

    # torch
    tp = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in w0]
    topt = torch_cls(tp, foreach=False, **torch_kw)
    for k in range(STEPS):
        for i in range(2):
            tp[i].grad = torch.from_numpy(grads[k][i].copy())
        for group in topt.param_groups:
            group["lr"] = lrs[k]
        topt.step()
    worst, bitwise = 0.0, True
    for i in range(2):
        t = tp[i].detach().numpy()
        worst = max(worst, float(np.max(np.abs(t - ws[i]) / (np.abs(t) + 1e-3))))
        bitwise = bitwise and np.array_equal(t.view(np.uint32), ws[i].view(np.uint32))
    return worst, bitwise


def main():
    # SequentialLR passes an epoch to its children, which PyTorch 1.13 warns about
    warnings.filterwarnings("ignore", category=UserWarning)
    lib = load(sys.argv[1] if len(sys.argv) > 1 else "build/liblamina.so")
    ctx = C.c_void_p()
    assert lib.lam_ctx_create(None, C.byref(ctx)) == 0
    cases = [
        ("sgd wd", SGD, dict(lr=0.1, weight_decay=0.05), torch.optim.SGD,
         dict(lr=0.1, weight_decay=0.05)),
        ("sgd momentum dampening", SGD, dict(lr=0.1, momentum=0.9, dampening=0.1,
                                             weight_decay=0.01),
         torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
        ("sgd nesterov", SGD, dict(lr=0.1, momentum=0.9, nesterov=1, weight_decay=0.01),
         torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("adam", ADAM, dict(lr=0.05), torch.optim.Adam, dict(lr=0.05)),
        ("adam wd betas", ADAM, dict(lr=0.05, weight_decay=0.1, beta1=0.8, beta2=0.95,
                                     eps=1e-3),
         torch.optim.Adam, dict(lr=0.05, weight_decay=0.1, betas=(0.8, 0.95), eps=1e-3)),
        ("adamw", ADAMW, dict(lr=0.05, decoupled_weight_decay=0.2), torch.optim.AdamW,
         dict(lr=0.05, weight_decay=0.2)),
        ("rmsprop", RMSPROP, dict(lr=0.01), torch.optim.RMSprop, dict(lr=0.01)),
        ("rmsprop centered momentum wd", RMSPROP,
         dict(lr=0.01, alpha=0.9, momentum=0.9, centered=1, weight_decay=0.05),
         torch.optim.RMSprop,
         dict(lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.05)),
    ]
    ok = True
    print("torch", torch.__version__)
    for name, kind, opts, cls, kw in cases:
        worst, bitwise = run_case(lib, ctx, kind, opts, cls, kw)
        good = worst < 1e-5
        ok &= good
        print("%-30s max rel diff %.3g  bitwise %s  %s" % (name, worst, bitwise,
                                                            "ok" if good else "FAIL"))

    # schedules against torch's schedulers (lr read before each step)
    def torch_lrs(make, n):
        p = torch.nn.Parameter(torch.zeros(1))
        o = torch.optim.SGD([p], lr=0.1)
        s = make(o)
        out = []
        for _ in range(n):
            out.append(o.param_groups[0]["lr"])
            o.step()
            s.step()
        return out

    def lam_lrs(kind, n, **kw):
        s = Schedule()
        lib.lam_schedule_init(C.byref(s), kind, 0.1)
        for k, v in kw.items():
            setattr(s, k, v)
        return [lib.lam_schedule_lr(C.byref(s), k) for k in range(n)]

    sched = [
        ("StepLR(7, 0.5)", torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.5), 40),
         lam_lrs(1, 40, step_size=7, gamma=0.5)),
        ("CosineAnnealingLR(30, 1e-3)",
         torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 30, 1e-3), 31),
         lam_lrs(2, 31, total_steps=30, min_lr=1e-3)),
        ("LinearLR(0.1, 5)+Cosine(25)",
         torch_lrs(lambda o: torch.optim.lr_scheduler.SequentialLR(
             o, [torch.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 5),
                 torch.optim.lr_scheduler.CosineAnnealingLR(o, 25)], [5]), 30),
         lam_lrs(2, 30, total_steps=30, warmup_steps=5, warmup_start_factor=0.1)),
    ]
    for name, want, got in sched:
        worst = max(abs(a - b) for a, b in zip(want, got))
        good = worst < 1e-9
        ok &= good
        print("%-30s max abs diff %.3g  %s" % (name, worst, "ok" if good else "FAIL"))

    # clipping
    rng = np.random.default_rng(3)
    g = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    tp = [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]
    for p, a in zip(tp, g):
        p.grad = torch.from_numpy(a.copy())
    tnorm = float(torch.nn.utils.clip_grad_norm_(tp, 1.5))
    params = (Param * 2)(*[Param(b"g", fptr(g[i]), fptr(g[i]), g[i].size, 0, 0, 0)
                           for i in range(2)])
    norm = C.c_double()
    assert lib.lam_clip_grad_norm(ctx, params, 2, 1.5, C.byref(norm)) == 0
    worst = max(float(np.max(np.abs(p.grad.numpy() - a))) for p, a in zip(tp, g))
    good = abs(norm.value - tnorm) < 1e-5 and worst < 1e-6
    ok &= good
    print("%-30s norm %.7g vs %.7g, max grad diff %.3g  %s" % ("clip_grad_norm_(1.5)", norm.value,
                                                              tnorm, worst,
                                                              "ok" if good else "FAIL"))
    lib.lam_ctx_destroy(ctx)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
