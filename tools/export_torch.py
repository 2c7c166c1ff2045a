#!/usr/bin/env python3
"""Write a PyTorch state_dict to a safetensors file that lamina can read.

    export_torch.py IN.pt OUT.safetensors [--meta KEY=VALUE ...] [--verbose]
    export_torch.py --self-test

IN.pt is anything torch.save wrote that holds the weights: a state_dict, a whole nn.Module
(its class must be importable, as torch.load needs it), or a checkpoint dict holding the
state_dict under one of the keys "state_dict", "model_state_dict", "model", "net" or
"module"; the command says which it took. torch.load unpickles, so it can run code from
the file: export only files you trust.

From Python (other scripts add tools/ to sys.path):

    from export_torch import save_state_dict
    save_state_dict(model.state_dict(), "weights.safetensors", {"model": "resnet20"})

save_state_dict also takes a list of (name, tensor) pairs, for dumps that mix tensors of
several origins (the golden fixtures in tests/golden).

Why by hand: Debian has no python3-safetensors, and the format is small enough to write with
json and struct (https://github.com/huggingface/safetensors): an 8-byte little-endian
header length N, N bytes of UTF-8 JSON mapping each name to {"dtype", "shape",
"data_offsets": [begin, end]} (relative to the data region) plus "__metadata__" (string to
string), then the raw little-endian, row-major data. This writer

  - keeps each tensor's dtype: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL (other
    dtypes, sparse, quantized and meta tensors are refused);
  - lays tensors out by decreasing element size, in the caller's order within a size (what
    lamina's ckpt/safetensors_write.c does), with no gaps, and pads the JSON with spaces so
    the data region starts at an 8-byte file offset: every tensor then starts at a multiple
    of its element size; the JSON lists the entries in that same file order;
  - writes 0-d tensors with shape [], makes non-contiguous tensors contiguous, and refuses
    non-tensor values, non-string names, the reserved name "__metadata__" and duplicate
    names, with a one-line message naming the file;
  - records "format": "pt", "source": "lamina tools/export_torch.py" and "torch": the torch
    version in __metadata__, then the caller's entries (which may override them);
  - replaces OUT atomically: it writes a temporary sibling, fsyncs it and os.replace()s it
    over OUT, so a failed export leaves the old file untouched.

The output is a pure function of the tensors, names and metadata, so regenerating a file
from the same inputs gives the same bytes.

Exit status: 0, 1 when the export (or the self-test) fails, 2 bad usage.
"""
import argparse
import json
import math
import os
import struct
import sys
import tempfile

import torch

SOURCE = "lamina tools/export_torch.py"
DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")


class ExportError(ValueError):
    """A problem with the input or the output, as one line that names the file."""


def _entries(state_dict, path):
    """(name, tensor) pairs of a mapping or a sequence of pairs, checked; path names the
    output in messages."""
    pairs = state_dict.items() if hasattr(state_dict, "items") else state_dict
    out, seen = [], set()
    for name, t in pairs:
        if not isinstance(name, str):
            raise ExportError("%s: tensor name %r is a %s, not a string"
                              % (path, name, type(name).__name__))
        if name == "__metadata__":
            raise ExportError("%s: '__metadata__' is reserved and cannot name a tensor" % path)
        if name in seen:
            raise ExportError("%s: duplicate tensor name '%s'" % (path, name))
        seen.add(name)
        if not isinstance(t, torch.Tensor):
            raise ExportError("%s: '%s' is of type %s, not a tensor"
                              % (path, name, type(t).__name__))
        if t.layout != torch.strided or t.is_quantized or t.is_meta:
            raise ExportError("%s: '%s' is a %s%s tensor; only dense tensors with data can be "
                              "written" % (path, name, "quantized " if t.is_quantized else "",
                                           "meta" if t.is_meta else str(t.layout)))
        if t.dtype not in DTYPES:
            raise ExportError("%s: '%s' has dtype %s, which safetensors export does not support "
                              "(supported: %s)" % (path, name, t.dtype,
                                                  ", ".join(DTYPES.values())))
        out.append((name, t))
    return out


def _raw_bytes(t):
    """The tensor's data as little-endian, row-major bytes (the host is little-endian)."""
    flat = t.detach().cpu().contiguous().reshape(-1)
    if flat.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret its 16 bits
        flat = flat.view(torch.int16)
    return flat.numpy().tobytes()


def save_state_dict(state_dict, path, metadata=None):
    """Write state_dict (a mapping or a sequence of (name, tensor) pairs) to path as
    safetensors, atomically. metadata: optional str -> str, added to __metadata__ after the
    defaults (format, source, torch). Returns the file size in bytes. Raises ExportError
    for bad input, OSError when the file cannot be written."""
    if sys.byteorder != "little":
        raise ExportError("%s: only little-endian hosts are supported" % path)
    entries = _entries(state_dict, path)
    meta = {"format": "pt", "source": SOURCE, "torch": torch.__version__}
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ExportError("%s: metadata %r: %r must map a string to a string" % (path, k, v))
        meta[k] = v
    # stable sort: largest elements first, so each tensor starts at a multiple of its size
    order = sorted(range(len(entries)), key=lambda i: -entries[i][1].element_size())
    header = {"__metadata__": meta}
    offset = 0
    for i in order:
        name, t = entries[i]
        nbytes = t.numel() * t.element_size()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    try:
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise ExportError("%s: a name or metadata string is not valid Unicode (%s)"
                          % (path, e.reason))
    text += b" " * (-len(text) % 8)  # the data region starts at an 8-byte file offset

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for i in order:
                f.write(_raw_bytes(entries[i][1]))
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give what open() would
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    try:  # make the rename itself durable; not every filesystem lets a directory be fsync'd
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return 8 + len(text) + offset


def _is_tensor_map(obj):
    return hasattr(obj, "items") and all(isinstance(v, torch.Tensor) for v in obj.values())


def extract_state_dict(obj, path):
    """(state_dict, what it was) from a torch.load result; path names the input file."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict(), "a whole %s module (its state_dict())" % type(obj).__name__
    if not hasattr(obj, "items"):
        raise ExportError("%s: holds a %s, not a state_dict, a module or a checkpoint dict"
                          % (path, type(obj).__name__))
    if _is_tensor_map(obj):
        return obj, "a state_dict"
    for key in CONTAINER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, torch.nn.Module):
            return inner.state_dict(), "the %s module under '%s' (its state_dict())" % (
                type(inner).__name__, key)
        if hasattr(inner, "items"):
            _entries(inner, "%s['%s']" % (path, key))  # names the first non-tensor value
            return inner, "the state_dict under '%s'" % key
    bad = next(k for k, v in obj.items() if not isinstance(v, torch.Tensor))
    raise ExportError("%s: '%s' is of type %s, not a tensor, and no entry %s holds a "
                      "state_dict"
                      % (path, bad, type(obj[bad]).__name__,
                         "/".join("'%s'" % k for k in CONTAINER_KEYS)))


def load_state_dict_file(path):
    """Load IN.pt onto the CPU and find its state_dict: (state_dict, what it was)."""
    try:
        obj = torch.load(path, map_location="cpu")
    except OSError as e:
        raise ExportError("%s: %s" % (path, e.strerror or e))
    except Exception as e:  # unpickling can fail in many ways; say how, on one line
        msg = str(e).strip().splitlines()
        raise ExportError("%s: torch.load failed: %s%s" % (path, type(e).__name__,
                                                           ": " + msg[0] if msg else ""))
    return extract_state_dict(obj, path)


# ------------------------------------------------------------------ self-test

ST_SIZES = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
            "U8": 1, "BOOL": 1}
ST_FORMATS = {"F32": "f", "F64": "d", "F16": "e", "BF16": "H", "I64": "q", "I32": "i",
              "I16": "h", "I8": "b", "U8": "B", "BOOL": "B"}


def read_safetensors(path):
    """Parse a safetensors file with json and struct only (independently of the writer),
    checking the layout rules lamina's reader enforces. Returns (metadata, {name: (dtype,
    shape, flat list of Python values)}, {name: begin offset})."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    if (8 + n) % 8 != 0 or 8 + n > len(raw):
        raise AssertionError("header length %d: data does not start at an 8-byte offset" % n)

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise AssertionError("duplicate JSON keys")
        return dict(pairs)

    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise AssertionError("metadata is not string -> string")
    spans, tensors, begins = [], {}, {}
    for name, e in header.items():
        if set(e) != {"dtype", "shape", "data_offsets"}:
            raise AssertionError("%s: keys %s" % (name, sorted(e)))
        dt, shape, (b, end) = e["dtype"], e["shape"], e["data_offsets"]
        size = ST_SIZES[dt]
        numel = math.prod(shape)
        if end - b != numel * size or b % size != 0:
            raise AssertionError("%s: offsets [%d, %d] for %s %s" % (name, b, end, dt, shape))
        vals = list(struct.unpack_from("<%d%s" % (numel, ST_FORMATS[dt]), data, b))
        if dt == "BF16":
            vals = [struct.unpack("<f", struct.pack("<I", v << 16))[0] for v in vals]
        elif dt == "BOOL":
            if any(v > 1 for v in vals):
                raise AssertionError("%s: BOOL byte other than 0 or 1" % name)
            vals = [bool(v) for v in vals]
        spans.append((b, end))
        tensors[name] = (dt, shape, vals)
        begins[name] = b
    pos = 0
    for b, end in sorted(spans):
        if b != pos:
            raise AssertionError("gap or overlap at data offset %d" % pos)
        pos = end
    if pos != len(data):
        raise AssertionError("%d data bytes, tensors cover %d" % (len(data), pos))
    return meta, tensors, begins


def _same(a, b):
    """Equal values, NaN equal to NaN and -0.0 distinct from 0.0."""
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def self_test():
    """Write a state dict with every dtype and awkward shapes, read it back with
    read_safetensors, compare; check the refusals and the input-file forms. Raises
    AssertionError on the first mismatch; returns the number of checks."""
    inf, nan = float("inf"), float("nan")
    sd = {
        "f32": torch.tensor([[1.5, -0.0, inf], [nan, 3.25e-8, -2.0]], dtype=torch.float32),
        "u8": torch.tensor([0, 7, 255], dtype=torch.uint8),  # 1-byte first: layout reorders
        "f64": torch.arange(5, dtype=torch.float64) / 3,
        "f16": torch.tensor([0.5, -65504.0, 6e-5, -inf], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -3.0e38, 1.0 / 3, nan], dtype=torch.bfloat16),
        "i64": torch.tensor([-2 ** 63, 2 ** 63 - 1, 0], dtype=torch.int64),
        "i32": torch.tensor([-2 ** 31, 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([[-32768], [32767]], dtype=torch.int16),
        "i8": torch.tensor([-128, 127, 1], dtype=torch.int8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(7.25),
        "bn.num_batches_tracked": torch.tensor(3),
        "transposed": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),
        "strided": torch.arange(20, dtype=torch.int32)[::3],
        "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.full((2, 2), -1.25)),
        "unicodé name": torch.ones(1, dtype=torch.float64),
    }
    checks = 0
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "t.safetensors")
        size = save_state_dict(sd, out, {"note": "self-test ✓"})
        assert size == os.path.getsize(out), "returned size %d" % size
        meta, got, begins = read_safetensors(out)
        assert meta == {"format": "pt", "source": SOURCE, "torch": torch.__version__,
                        "note": "self-test ✓"}, meta
        assert list(got) == sorted(sd, key=lambda k: -sd[k].element_size()), list(got)
        assert set(got) == set(sd)
        for name, t in sd.items():
            dt, shape, vals = got[name]
            assert dt == DTYPES[t.dtype] and shape == list(t.shape), (name, dt, shape)
            want = t.detach().reshape(-1).tolist()
            assert len(vals) == len(want) and all(map(_same, vals, want)), (name, vals, want)
            checks += 1
        assert begins["i64"] % 8 == 0 and begins["i32"] % 4 == 0
        # the same input gives the same bytes
        again = os.path.join(d, "u.safetensors")
        save_state_dict(sd, again, {"note": "self-test ✓"})
        with open(out, "rb") as f1, open(again, "rb") as f2:
            assert f1.read() == f2.read(), "two exports differ"
        checks += 1
        # refusals: nothing written, the old file untouched, no temporary left behind
        with open(out, "rb") as f:
            before = f.read()
        bad_inputs = [
            ([("a", torch.ones(1)), ("a", torch.ones(1))], "duplicate tensor name 'a'"),
            ({"w": torch.ones(1), "epoch": 3}, "'epoch' is of type int, not a tensor"),
            ({"__metadata__": torch.ones(1)}, "reserved"),
            ({"c": torch.ones(2, dtype=torch.complex64)}, "dtype torch.complex64"),
            ({"s": torch.ones(2).to_sparse()}, "sparse_coo"),
            ({1: torch.ones(1)}, "not a string"),
        ]
        for bad, why in bad_inputs:
            try:
                save_state_dict(bad, out)
            except ExportError as e:
                assert why in str(e) and str(e).startswith(out + ":"), str(e)
            else:
                raise AssertionError("accepted %r" % (bad,))
            checks += 1
        try:
            save_state_dict(sd, out, {"n": 1})
        except ExportError as e:
            assert "must map a string to a string" in str(e), str(e)
        else:
            raise AssertionError("accepted integer metadata")
        with open(out, "rb") as f:
            assert f.read() == before, "a refused export changed the file"
        assert sorted(os.listdir(d)) == ["t.safetensors", "u.safetensors"], os.listdir(d)
        checks += 2
        # the forms of IN.pt
        model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
        forms = [(model.state_dict(), "a state_dict"),
                 (model, "a whole Sequential module"),
                 ({"epoch": 4, "state_dict": model.state_dict()}, "under 'state_dict'"),
                 ({"model": model, "step": 9}, "module under 'model'")]
        for obj, what in forms:
            pt = os.path.join(d, "in.pt")
            torch.save(obj, pt)
            loaded, took = load_state_dict_file(pt)
            assert what in took, took
            assert list(loaded) == list(model.state_dict()), list(loaded)
            checks += 1
        torch.save({"epoch": 4, "state_dict": {"w": torch.ones(1), "lr": 0.1}}, pt)
        try:
            load_state_dict_file(pt)
        except ExportError as e:
            assert "in.pt['state_dict']: 'lr' is of type float, not a tensor" in str(e), str(e)
        else:
            raise AssertionError("accepted a float in a state_dict")
        checks += 1
    return checks


# ------------------------------------------------------------------ command

def parse_meta(items, ap):
    meta = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            ap.error("--meta wants KEY=VALUE, not '%s'" % item)
        meta[key] = value
    return meta


def main():
    ap = argparse.ArgumentParser(
        description="Write a PyTorch state_dict (.pt) to a safetensors file.",
        usage="%(prog)s IN.pt OUT.safetensors [--meta KEY=VALUE ...] [--verbose] | "
              "%(prog)s --self-test")
    ap.add_argument("input", nargs="?", help="torch.save'd state_dict, module or checkpoint")
    ap.add_argument("output", nargs="?", help="safetensors file to write (replaced atomically)")
    ap.add_argument("--meta", action="append", metavar="KEY=VALUE",
                    help="add a __metadata__ entry (repeatable)")
    ap.add_argument("--verbose", action="store_true", help="print one line per tensor")
    ap.add_argument("--self-test", action="store_true",
                    help="write every dtype, read it back independently, compare")
    a = ap.parse_args()
    prog = os.path.basename(sys.argv[0])
    if a.self_test:
        if a.input or a.output or a.meta:
            ap.error("--self-test takes no other arguments")
        try:
            n = self_test()
        except AssertionError as e:
            print("%s: self-test FAILED: %s" % (prog, e), file=sys.stderr)
            return 1
        print("%s: self-test passed (%d checks, torch %s)" % (prog, n, torch.__version__))
        return 0
    if a.input is None or a.output is None:
        ap.error("IN.pt and OUT.safetensors are required")
    meta = parse_meta(a.meta, ap)
    try:
        sd, took = load_state_dict_file(a.input)
        size = save_state_dict(sd, a.output, meta)
    except (ExportError, OSError) as e:
        # load_state_dict_file reports its own OSErrors: any other one is the output's
        msg = str(e) if isinstance(e, ExportError) else "%s: cannot write: %s" % (
            a.output, e.strerror or e)
        print("%s: error: %s" % (prog, msg), file=sys.stderr)
        return 1
    if a.verbose:
        for name, t in sd.items():
            print("  %-50s %-4s %s" % (name, DTYPES[t.dtype], list(t.shape)))
    print("%s: wrote %s: %d tensors, %d elements, %d bytes, from %s in %s"
          % (prog, a.output, len(sd), sum(t.numel() for t in sd.values()), size, took, a.input))
    return 0


if __name__ == "__main__":
    sys.exit(main())
