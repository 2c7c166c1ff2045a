#!/usr/bin/env python3
"""Compare two lamina checkpoints tensor by tensor, bit for bit: the model, the optimizer,
the training position and the history, leaving out only what measures time
(train.seconds_bits, history.seconds) and the metadata. Exit 0 when equal, 1 with the
first differing tensor named. Usage: compare_ckpt.py A B"""
import json
import struct
import sys

SKIP = {"train.seconds_bits", "history.seconds"}


def tensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, t in head.items():
        if name == "__metadata__" or name in SKIP:
            continue
        a, b = t["data_offsets"]
        out[name] = (t["dtype"], tuple(t["shape"]), body[a:b])
    return out


def main():
    a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
    if sorted(a) != sorted(b):
        print(f"tensor names differ: {sorted(set(a) ^ set(b))}")
        return 1
    for name in sorted(a):
        if a[name] != b[name]:
            print(f"{sys.argv[1]} and {sys.argv[2]} differ in {name}")
            return 1
    print(f"equal: {len(a)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
