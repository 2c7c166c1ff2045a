#!/usr/bin/env python3
"""PyTorch DistributedDataParallel (gloo) timing of one training step: the baseline of the
MPI issue's "2 ranks x 1 thread at global batch 128" target.

The network is bench/compare_pytorch.py's build_net (seed-cnn, mlp, resnet20, ... on a
CxHxW input) and the step is compare_pytorch.py's worker() step: SGD momentum 0.9, lr 0.01,
softmax cross-entropy on random data in [-1, 1) of shape (batch, C, H, W), zero_grad(set_to_none
=True), forward, backward, optimizer step. With --procs P > 1 the script spawns P processes
itself (torch.multiprocessing, spawn; MASTER_ADDR=127.0.0.1 and a free port), each calls
torch.set_num_threads(--threads), builds the network from torch.manual_seed(1), wraps it in
DistributedDataParallel (gloo, PyTorch's default buckets) and trains on its own
global_batch / P samples. The backward therefore includes DDP's bucketed allreduce of the
gradients. After --warmup steps, rank 0 times each of --steps steps with a wall clock around
the step alone (no barrier: the allreduce inside backward already synchronises the ranks
once per step) and reports the median and min step and images/s = global batch / median
step. Every rank's own median is reported too. With --procs 1 one spawned process runs the
plain step (no process group, no DDP) on the whole global batch, for comparison.

    /usr/bin/python3 bench/torch_ddp.py --model seed-cnn --global-batch 128 --procs 2 \\
        --threads 1 --steps 30 --json

--env best runs the workers as compare_pytorch.py's "PyTorch at its best" (its BEST_ENV:
glibc kept from handing freed memory back, the OpenMP build of OpenBLAS); --env shipped
(the default) leaves the environment as it is. Either way OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS are set to --threads in the workers so that no BLAS pool outgrows
the thread budget (with P processes on the machine's cores).

Exit status: 0, 2 bad usage, 1 when a worker fails.
"""
import argparse
import json
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare_pytorch import BEST_ENV, build_net  # noqa: E402  (the one definition of the nets)

IMAGE_MODELS = ("seed-cnn", "mlp", "resnet20")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, a, port, queue):
    """One rank: build, wrap, warm up, time. Puts (rank, dict) or (rank, error string)."""
    try:
        import torch
        import torch.distributed as dist
        torch.set_num_threads(a.threads)
        distributed = a.procs > 1
        if distributed:
            os.environ["MASTER_ADDR"] = "127.0.0.1"
            os.environ["MASTER_PORT"] = str(port)
            dist.init_process_group("gloo", rank=rank, world_size=a.procs)
        torch.manual_seed(1)  # the same initial weights on every rank (DDP broadcasts rank 0's)
        shape = [int(v) for v in a.input.split("x")]
        net = build_net(torch, a.model, shape)
        n_params = sum(p.numel() for p in net.parameters())
        model = net
        if distributed:
            model = torch.nn.parallel.DistributedDataParallel(net)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        local = a.global_batch // a.procs
        torch.manual_seed(1000 + rank)  # each rank its own samples
        x = torch.rand(local, *shape) * 2 - 1
        y = torch.randint(0, 10, (local,))

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()

        for _ in range(a.warmup):
            step()
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        if distributed:
            dist.barrier()  # after the timing: no rank leaves while another still times
            dist.destroy_process_group()
        queue.put((rank, {"times": times, "params": n_params,
                          "threads": torch.get_num_threads(), "torch": torch.__version__}))
    except Exception as e:  # report it to the parent rather than hang the others' queue.get
        queue.put((rank, "%s: %s" % (type(e).__name__, e)))
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="seed-cnn",
                    help="network of compare_pytorch.build_net: %s (seed-cnn)"
                    % ", ".join(IMAGE_MODELS))
    ap.add_argument("--input", default="1x28x28", help="sample shape CxHxW (1x28x28)")
    ap.add_argument("--global-batch", type=int, default=128, help="samples per step over all "
                    "processes (128); a multiple of --procs")
    ap.add_argument("--procs", type=int, default=2, help="processes (ranks) (2); 1: no DDP")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (1)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps (30)")
    ap.add_argument("--warmup", type=int, default=10, help="warm-up steps (10)")
    ap.add_argument("--env", choices=("shipped", "best"), default="shipped",
                    help="workers' environment: as is, or compare_pytorch's BEST_ENV")
    ap.add_argument("--json", action="store_true", help="also print one JSON line")
    a = ap.parse_args()
    if a.model not in IMAGE_MODELS:
        ap.error("--model must be one of " + ", ".join(IMAGE_MODELS))
    if a.procs < 1 or a.threads < 1 or a.steps < 1 or a.warmup < 0:
        ap.error("--procs, --threads, --steps must be >= 1, --warmup >= 0")
    if a.global_batch < a.procs or a.global_batch % a.procs:
        ap.error("--global-batch must be a positive multiple of --procs")
    try:
        shape = [int(v) for v in a.input.split("x")]
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except ValueError:
        ap.error("--input must be CxHxW")

    # the workers are fresh interpreters (spawn): what is in os.environ now is what they see,
    # LD_LIBRARY_PATH (read by the loader at exec) included
    for k, v in BEST_ENV.items():
        if a.env == "best":
            os.environ[k] = v
        else:
            os.environ.pop(k, None)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)

    import torch.multiprocessing as mp
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = free_port()
    procs = [ctx.Process(target=worker, args=(r, a, port, queue)) for r in range(a.procs)]
    for p in procs:
        p.start()
    results = {}
    failed = None
    while len(results) < a.procs:
        if queue.empty():
            if any(p.exitcode not in (None, 0) for p in procs):
                failed = "a worker died (exit codes %s)" % [p.exitcode for p in procs]
                break
            time.sleep(0.05)
            continue
        rank, r = queue.get()
        if isinstance(r, str):
            failed = "rank %d: %s" % (rank, r)
            break
        results[rank] = r
    if failed:
        for p in procs:
            if p.is_alive():
                p.terminate()
        print("torch_ddp: error: " + failed, file=sys.stderr)
        return 1
    for p in procs:
        p.join()

    t0 = results[0]["times"]
    med, lo = statistics.median(t0), min(t0)
    rank_medians = [statistics.median(results[r]["times"]) * 1e3 for r in range(a.procs)]
    kind = "DDP (gloo)" if a.procs > 1 else "no DDP"
    print("PyTorch %s, %d process%s x %d thread%s, %s, %s env: %s %s, global batch %d (%d per "
          "process), %d parameters" % (results[0]["torch"], a.procs, "es" if a.procs > 1 else "",
                                       a.threads, "s" if a.threads > 1 else "", kind, a.env,
                                       a.model, a.input, a.global_batch,
                                       a.global_batch // a.procs, results[0]["params"]))
    print("rank 0 step over %d steps after %d warm-up: median %.3f ms, min %.3f ms; "
          "%.0f images/s (global batch / median); per-rank medians %s ms"
          % (a.steps, a.warmup, med * 1e3, lo * 1e3, a.global_batch / med,
             "/".join("%.3f" % m for m in rank_medians)))
    if a.json:
        print(json.dumps({"model": a.model, "input": a.input, "global_batch": a.global_batch,
                          "procs": a.procs, "threads": a.threads, "env": a.env,
                          "ddp": a.procs > 1, "backend": "gloo" if a.procs > 1 else None,
                          "steps": a.steps, "warmup": a.warmup,
                          "median_ms": med * 1e3, "min_ms": lo * 1e3,
                          "max_ms": max(t0) * 1e3,
                          "images_per_second": a.global_batch / med,
                          "images_per_second_best": a.global_batch / lo,
                          "rank_median_ms": rank_medians, "params": results[0]["params"],
                          "torch": results[0]["torch"], "torch_threads": results[0]["threads"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
