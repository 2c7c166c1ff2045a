#!/usr/bin/env python3
"""Interoperability of lamina's safetensors files with Python.

usage: check_safetensors_torch.py TEST_SAFETENSORS_BINARY

1. The C test binary writes its sample file (--write-sample). This script parses it with
   json + struct (all the format needs), then again with torch and with the `safetensors`
   package when they are installed, and compares every value and the metadata.
2. The script writes the same sample itself, the way Python tools do (no header padding,
   data in name order so several tensors start at unaligned offsets), and the binary must
   read it back exactly (--check-sample).

Exit status: 0 when everything matches, 1 otherwise.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

# Keep in step with the sample in test_safetensors.c.
SAMPLE = {
    "w": ("F32", [2, 3], [-0.5, -0.25, 0.0, 0.25, 0.5, 0.75]),
    "d": ("F64", [3], [1.0 / 3.0, -2.5, 1e300]),
    "i": ("I64", [4], [-1, 0, 1 << 40, -(1 << 62)]),
    "b": ("U8", [3], [0, 127, 255]),
    "s": ("F32", [], [42.5]),
    "e": ("F32", [0, 3], []),
}
META = {"producer": "lamina", "note": "\u00fcn\u00efcode"}
FMT = {"F32": "f", "F64": "d", "I64": "q", "U8": "B"}
TORCH = {"F32": "float32", "F64": "float64", "I64": "int64", "U8": "uint8"}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate keys in header")
    return dict(pairs)


def parse(path):
    """Parse with json + struct, checking the layout rules; returns (header, data)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header_bytes = raw[8:8 + n]
    check(header_bytes[:1] == b"{", "header starts with '{'")
    check((8 + n) % 8 == 0, "data region starts at an 8-byte offset")
    header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=no_duplicates)
    data = raw[8 + n:]
    spans = sorted(tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__")
    pos = 0
    for b, e in spans:
        check(b == pos, "tensors tile the data region (at %d)" % b)
        pos = e
    check(pos == len(data), "tensors cover the data region")
    return header, data


def compare_file(path):
    header, data = parse(path)
    check(header.get("__metadata__") == META, "metadata %r" % header.get("__metadata__"))
    names = sorted(k for k in header if k != "__metadata__")
    check(names == sorted(SAMPLE), "tensor names %r" % names)
    for name, (dtype, shape, values) in SAMPLE.items():
        info = header[name]
        check(info["dtype"] == dtype and info["shape"] == shape, "%s dtype/shape" % name)
        b, e = info["data_offsets"]
        got = list(struct.unpack("<%d%s" % (len(values), FMT[dtype]), data[b:e]))
        check(got == values, "%s values %r, expected %r" % (name, got, values))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        for name, (dtype, shape, values) in SAMPLE.items():
            b, e = header[name]["data_offsets"]
            tdt = getattr(torch, TORCH[dtype])
            if e > b:
                t = torch.frombuffer(bytearray(data[b:e]), dtype=tdt).reshape(shape)
            else:
                t = torch.empty(shape, dtype=tdt)
            want = torch.tensor(values, dtype=tdt).reshape(shape)
            check(t.shape == want.shape and torch.equal(t, want), "torch: %s" % name)
        print("torch %s: compared %d tensors" % (torch.__version__, len(SAMPLE)))
    try:
        from safetensors.numpy import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        loaded = load_file(path)
        for name, (dtype, shape, values) in SAMPLE.items():
            arr = loaded[name]
            check(list(arr.shape) == shape and arr.reshape(-1).tolist() == values,
                  "safetensors package: %s" % name)
        print("safetensors package: compared %d tensors" % len(SAMPLE))


def write_python_file(path):
    """The sample as a Python tool might write it: unpadded, data in name order."""
    header, blobs, pos = {}, [], 0
    for name in sorted(SAMPLE):
        dtype, shape, values = SAMPLE[name]
        blob = struct.pack("<%d%s" % (len(values), FMT[dtype]), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [pos, pos + len(blob)]}
        blobs.append(blob)
        pos += len(blob)
    header["__metadata__"] = META
    text = json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        ours = os.path.join(tmp, "lamina.safetensors")
        r = subprocess.run([binary, "--write-sample", ours])
        check(r.returncode == 0, "the binary writes its sample")
        if r.returncode == 0:
            compare_file(ours)
        theirs = os.path.join(tmp, "python.safetensors")
        write_python_file(theirs)
        r = subprocess.run([binary, "--check-sample", theirs])
        check(r.returncode == 0, "the binary reads a file written by Python")
    print("safetensors_python: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
