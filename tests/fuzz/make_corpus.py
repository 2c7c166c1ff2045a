#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).

Run from the repository root: python3 tests/fuzz/make_corpus.py [checkpoint.safetensors ...]
Seeds are small valid files plus one of each known-bad shape, so the fuzzer starts next to
every branch of the readers. Files already in the corpus (seeds of earlier versions, inputs
the fuzz runs found) are kept. Checkpoints given on the command line are copied in as seeds
of the checkpoint target (make them with `lamina train ... --save`).
"""
import gzip
import json
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def idx(type_code, dims, payload):
    return struct.pack(">BBBB", 0, 0, type_code, len(dims)) + \
        b"".join(struct.pack(">I", d) for d in dims) + payload


def npy(descr, shape, payload, fortran=False, version=1):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", repr(tuple(shape)))
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    ln = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + ln + header.encode() + payload


def main():
    # the seeds are written over; the inputs the fuzz runs found (-merge=1) stay, so this
    # script never deletes coverage (it once did)
    img = idx(0x08, [3, 2, 2], bytes(range(12)))
    put("idx", "u8_3x2x2", img)
    put("idx", "u8_3x2x2.gz", gzip.compress(img))
    put("idx", "labels_3", idx(0x08, [3], bytes([0, 1, 2])))
    put("idx", "f32_2x1x2x2", idx(0x0D, [2, 1, 2, 2], struct.pack(">8f", *range(8))))
    put("idx", "f64_2x3", idx(0x0E, [2, 3], struct.pack(">6d", *range(6))))
    put("idx", "i16_2x2", idx(0x0B, [2, 2], struct.pack(">4h", -1, 2, -3, 4)))
    put("idx", "truncated_header", img[:6])
    put("idx", "truncated_payload", img[:-3])
    put("idx", "wrong_magic", b"\x01\x02" + img[2:])
    put("idx", "overflow_dims", idx(0x08, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b"\0" * 8))
    put("idx", "zero_dim", idx(0x08, [0, 2, 2], b""))

    put("csv", "classify_header", "a,b,label\n1.5,2,0\n3,4e-1,1\n-5,6,2\n")
    put("csv", "regress_noheader", "0.1,0.2,0.3\n0.4,0.5,0.6\n")
    put("csv", "quoted_crlf", '"x","y"\r\n"1.0","2"\r\n3,4\r\n')
    put("csv", "semicolon", "x;y;t\n1;2;0.5\n3;4;1.5\n")
    put("csv", "ragged", "1,2,3\n4,5\n")
    put("csv", "not_a_number", "1,2,abc\n")
    put("csv", "nan_inf", "1,nan,0\n2,inf,1\n")
    put("csv", "bom_blank", "\ufeffx,y\n\n1,0\n\n2,1\n")
    put("csv", "unterminated_quote", '1,"2\n')
    put("csv", "empty_file", b"")  # found by fuzzing: NULL + 0 in the reader

    f4 = npy("<f4", [2, 3], struct.pack("<6f", *range(6)))
    put("npy", "f4_2x3", f4)
    put("npy", "u1_2x2x2", npy("|u1", [2, 2, 2], bytes(range(8))))
    put("npy", "i8_4", npy("<i8", [4], struct.pack("<4q", 0, 1, 2, 1)))
    put("npy", "f8_v2", npy("<f8", [3], struct.pack("<3d", 1, 2, 3), version=2))
    put("npy", "fortran", npy("<f4", [2, 2], b"\0" * 16, fortran=True))
    put("npy", "big_endian", npy(">f4", [2], b"\0" * 8))
    put("npy", "bad_header", b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4}   \n")
    put("npy", "truncated", f4[:-5])
    put("npy", "f4_2x3.gz", gzip.compress(f4))

    for i, spec in enumerate([
            "seed-cnn", "lenet5", "mlp",
            "conv:4,3,pad=1 relu maxpool:2 flatten linear:out",
            "conv:4,3x1,stride=2x1,pad=1x0,dil=1,groups=2 bn gelu gap dropout:0.3 linear:5",
            "flatten linear:8 leakyrelu:0.2 sigmoid tanh linear:out # comment",
            "conv:8,x", "linear:4", "maxpool:99", "avgpool:3,stride=2,pad=1 flatten",
            "bn:eps=1e-3,momentum=0.5 flatten linear:2,bias=0",
            "conv:4,999999999999,dil=999999999999",  # overflowed lam_conv_out once
            # graphs: names, inputs, blocks, repeats, merges, and their errors
            "resnet20",
            "def b(c) { conv:$c,3,pad=1,name=k bn relu add(., in) } conv:4,3,pad=1 "
            "b*2:4,name=s concat(s.0, .) gap linear:6,name=g sigmoid mul(g, .) linear:out",
            "linear:6,name=a tanh,name=t linear(t):6 mul(t, .) concat(., a):axis=0 "
            "add(-1, -1) flatten linear:out",
            "conv:4,3,name=a conv(a):4,3,pad=1 add(a, .) conv(in):4,3 add(a, -1)",
            "conv(b):4,3,name=a conv(a):4,3,name=b", "relu add(., nope)",
            "def b(c) { b:$c } b:4", "def b(c) { conv:$d } b:4", "def b(c) { relu",
            "linear*3:4,name=fc,index=7 relu*2 linear:out", "add(in, in, in) relu(-1)",
            "concat(in, in):axis=2 gap linear:out",
            # recurrent layers and embeddings: options, shapes and their errors
            "embedding:vocab,4,name=e lstm:3,layers=2,bidirectional=1,out=last linear:out",
            "embedding:out,5 gru:4,layers=2,dropout=0.5 rnn:3,nonlinearity=relu,out=last "
            "linear:out", "lstm:4,out=last linear:out", "gru:2,bias=0 flatten linear:out",
            "embedding:3", "lstm:0", "lstm:4,layers=99", "rnn:4,nonlinearity=sigmoid",
            "gru:4,out=first", "embedding:vocab,4 embedding:vocab,4", "char-lstm", "char-gru",
            # attention models: options, ties, shapes and their errors
            "embedding:vocab,8,name=w posembed:9,std=0.02 layernorm:eps=1e-6 "
            "attention:2,causal=1,dropout=0.1,bias=0,std=0.02,std_out=0.01 "
            "gelu:approx=tanh linear:vocab,bias=0,tie=w",
            "attention:3", "posembed:0", "posembed:2", "gelu:approx=fast",
            "linear:4,tie=in", "linear:4,tie=nope", "embedding:vocab,4,name=e relu,tie=e",
            "attention:heads=99999", "gpt-mini", "gpt-6x384"]):
        put("spec", "spec%02d" % i, spec)

    for i, argv in enumerate([
            ["--model", "seed-cnn", "--epochs", "3", "--lr", "0.01", "--json"],
            ["--epochs=2", "--lr=1e-3", "pos"], ["--bogus"], ["--epochs", "x"],
            ["--lr"], ["--json=1"], ["-h"], ["a", "b", "c"],
            ["-\n", "pochs", "x"]]):  # found by fuzzing: a newline split the error line
        put("args", "argv%02d" % i, "\0".join(argv))

    meta = {"lamina.format": "1", "lamina.spec": "linear:2", "lamina.input": "3",
            "lamina.n_out": "2"}
    tensors = [("linear#0.weight", [2, 3]), ("linear#0.bias", [2])]
    header, off, blob = {"__metadata__": meta}, 0, b""
    for name, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + 4 * n]}
        blob += struct.pack("<%df" % n, *[0.5] * n)
        off += 4 * n
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    put("checkpoint", "tiny_linear", struct.pack("<Q", len(h)) + h + blob)
    put("checkpoint", "truncated", (struct.pack("<Q", len(h)) + h + blob)[:40])
    for i, path in enumerate(sys.argv[1:]):
        with open(path, "rb") as f:
            put("checkpoint", "saved%02d" % i, f.read())


if __name__ == "__main__":
    main()
