#!/usr/bin/env python3
"""Write the handcrafted bad inputs of the 'trust' suite and their manifest.

Run from anywhere: python3 tests/badfiles/make_badfiles.py
Python 3 standard library only (no numpy). Output is deterministic (gzip mtime 0) and is
committed, so the suite never runs this script; rerun it after changing it.

Layout: tests/badfiles/<format>/<name> for idx, csv, npy, ckpt (safetensors
checkpoints) and text (byte-level text for language models); tests/badfiles/good/ holds
valid companions (a labels file for an image file under test, a checkpoint to load into a
different model) and controls that must load.

manifest.txt has one line per case, fields separated by ' | ':
  path | loader | status | fragment
path     the file under test, relative to tests/badfiles/
loader   idx-images                  lam_dataset_load_idx(path, NULL)
         idx-pair:<labels>           lam_dataset_load_idx(path, labels)
         csv / csv-classify          lam_dataset_load_csv (default options / task CLASSIFY)
         npy / npy-pair:<y>          lam_dataset_load_npy(path, NULL / y)
         checkpoint                  lam_checkpoint_open + lam_checkpoint_model
         checkpoint-into:<spec>      lam_checkpoint_open, then lam_checkpoint_load_weights
                                     into a model built from <spec> (input and n_out taken
                                     from the file's metadata)
         checkpoint-optim:<kind>     lam_checkpoint_model, then lam_checkpoint_load_optim
                                     into a fresh optimizer of <kind> (sgd-momentum, adam)
         import:<input>:<spec>       lam_model_import(path) into a model built from <spec>
                                     for samples <input> ("3", "2x4x4") and 3 outputs
         text                        lam_text_load(path)
         fortunes                    lam_text_load_fortunes(path), path a directory
status   the exact lam_status name (LAM_OK only for the controls under good/)
fragment text the error message must contain; it always includes the name of the file
         that is at fault (for a pair that may be the companion); '-' for the controls
"""
import gzip
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []  # (path, loader, status, fragment)


def put(rel, data):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def case(rel, data, loader, status, fragment):
    """Write a file under test and record its manifest line."""
    if data is not None:
        put(rel, data)
    CASES.append((rel, loader, status, fragment))


def gz(data):
    return gzip.compress(data, mtime=0)


# ----------------------------------------------------------------------------- IDX

def idx(type_code, dims, payload, ndim=None):
    head = struct.pack(">BBBB", 0, 0, type_code, len(dims) if ndim is None else ndim)
    return head + b"".join(struct.pack(">I", d) for d in dims) + payload


def make_idx():
    img = idx(0x08, [4, 3, 3], bytes(range(36)))
    put("good/labels4.idx", idx(0x08, [4], bytes([0, 1, 2, 1])))
    put("good/images4.idx", img)
    case("good/images4.idx", None, "idx-pair:good/labels4.idx", "LAM_OK", "")
    L = "idx-pair:good/labels4.idx"
    case("idx/empty.idx", b"", L, "LAM_ERR_FORMAT",
         "empty.idx: truncated in the IDX magic")
    case("idx/trunc_magic.idx", img[:3], L, "LAM_ERR_FORMAT",
         "trunc_magic.idx: truncated in the IDX magic")
    case("idx/trunc_dims.idx", img[:10], L, "LAM_ERR_FORMAT",
         "trunc_dims.idx: truncated in the IDX header dimensions")
    case("idx/trunc_payload.idx", img[:-5], L, "LAM_ERR_FORMAT",
         "trunc_payload.idx: header promises 4x3x3 uint8 = 36 bytes but file holds 31")
    case("idx/promises_more.idx", idx(0x08, [60000, 28, 28], bytes(36)), "idx-images",
         "LAM_ERR_FORMAT", "promises_more.idx: header promises 60000x28x28")
    case("idx/trailing_bytes.idx", img + b"\0" * 7, L, "LAM_ERR_FORMAT",
         "trailing_bytes.idx: header promises 4x3x3 uint8 = 36 bytes but file holds 43")
    case("idx/wrong_magic.idx", b"\x01\x02" + img[2:], L, "LAM_ERR_FORMAT",
         "wrong_magic.idx: not an IDX file")
    case("idx/png_magic.idx", b"\x89PNG\r\n\x1a\n" + bytes(40), "idx-images",
         "LAM_ERR_FORMAT", "png_magic.idx: not an IDX file")
    case("idx/unknown_dtype.idx", idx(0x0A, [4, 3, 3], bytes(36)), L, "LAM_ERR_FORMAT",
         "unknown_dtype.idx: unknown IDX element type 0x0a")
    case("idx/ndim0.idx", idx(0x08, [], b""), "idx-images", "LAM_ERR_FORMAT",
         "ndim0.idx: IDX header has 0 dimensions")
    case("idx/ndim5.idx", idx(0x08, [1, 1, 1, 1, 1], b"\0"), "idx-images", "LAM_ERR_FORMAT",
         "ndim5.idx: IDX header has 5 dimensions")
    case("idx/zero_dim.idx", idx(0x08, [4, 0, 3], b""), L, "LAM_ERR_FORMAT",
         "zero_dim.idx: IDX dimension 1 is 0")
    case("idx/zero_count.idx", idx(0x08, [0, 3, 3], b""), "idx-images", "LAM_ERR_FORMAT",
         "zero_count.idx: IDX dimension 0 is 0")
    case("idx/overflow_dims.idx", idx(0x08, [0xFFFFFFFF] * 4, bytes(16)), "idx-images",
         "LAM_ERR_RANGE", "overflow_dims.idx: IDX dimensions")
    case("idx/overflow_f64.idx", idx(0x0E, [0xFFFFFFFF, 0xFFFFFFFF, 0x7FFFFFFF], bytes(8)),
         "idx-images", "LAM_ERR_RANGE", "overflow_f64.idx: IDX dimensions")
    case("idx/over_limit.idx", idx(0x0D, [65536, 256, 256], bytes(64)), "idx-images",
         "LAM_ERR_RANGE", "over_limit.idx: header promises 65536x256x256 float32")
    case("idx/nan_f32.idx",
         idx(0x0D, [2, 2], struct.pack(">4f", 1.0, 2.0, float("nan"), 4.0)), "idx-images",
         "LAM_ERR_FORMAT", "nan_f32.idx: images sample 1 element 0 is NaN")
    case("idx/inf_f64.idx",
         idx(0x0E, [2, 2], struct.pack(">4d", 1.0, float("-inf"), 3.0, 4.0)), "idx-images",
         "LAM_ERR_FORMAT", "inf_f64.idx: images sample 0 element 1 is infinite")
    case("idx/f64_beyond_f32.idx", idx(0x0E, [1, 2], struct.pack(">2d", 1e300, 0.0)),
         "idx-images", "LAM_ERR_FORMAT", "f64_beyond_f32.idx: images sample 0 element 0 is "
         "beyond float32 range")
    # labels: the images file is good, the labels file is at fault
    def pair(name, labels, status, text):
        put("idx/" + name, labels)
        case("good/images4.idx", None, "idx-pair:idx/" + name, status, name + ": " + text)
    pair("labels_negative.idx", idx(0x09, [4], struct.pack(">4b", 0, 1, -1, 2)),
         "LAM_ERR_RANGE", "")
    pair("labels_too_large.idx", idx(0x0C, [4], struct.pack(">4i", 0, 1, 70000, 2)),
         "LAM_ERR_RANGE", "")
    pair("labels_float.idx", idx(0x0D, [4], struct.pack(">4f", 0, 1, 2, 1)),
         "LAM_ERR_FORMAT", "labels must be integers")
    pair("labels_2d.idx", idx(0x08, [4, 1], bytes(4)), "LAM_ERR_SHAPE",
         "labels file is 4x1 uint8, expected 1-D")
    pair("labels_count.idx", idx(0x08, [5], bytes(5)), "LAM_ERR_SHAPE", "holds 5 labels")
    pair("labels_trunc.idx", idx(0x08, [4], bytes(2)), "LAM_ERR_FORMAT",
         "header promises 4 uint8 = 4 bytes but file holds 2")
    pair("labels_magic.idx", b"\xff\xff" + idx(0x08, [4], bytes(4))[2:], "LAM_ERR_FORMAT",
         "not an IDX file")
    # gzip
    case("idx/trunc.idx.gz", gz(img)[:-12], L, "LAM_ERR_FORMAT", "trunc.idx.gz: ")
    bad_crc = bytearray(gz(img))
    bad_crc[-6] ^= 0xFF  # a CRC byte: the data inflates, the check fails at the end
    case("idx/bad_crc.idx.gz", bytes(bad_crc), L, "LAM_ERR_FORMAT",
         "bad_crc.idx.gz: corrupt gzip data")
    case("idx/promises_more.idx.gz", gz(idx(0x08, [1000, 3, 3], bytes(36))), "idx-images",
         "LAM_ERR_FORMAT", "promises_more.idx.gz: header promises 1000x3x3 uint8 = 9000 "
         "bytes but file holds 36")
    case("idx/bomb_promise.idx.gz", gz(idx(0x08, [60000, 280, 280], bytes(36))),
         "idx-images", "LAM_ERR_FORMAT", "bomb_promise.idx.gz: header promises "
         "60000x280x280 uint8 = 4704000000 bytes but a gzip file of")
    case("idx/trailing.idx.gz", gz(img + bytes(9)), L, "LAM_ERR_FORMAT",
         "trailing.idx.gz: header promises 4x3x3 uint8 = 36 bytes but file holds more")
    case("idx/gz_header_only.idx.gz", gz(img)[:10], L, "LAM_ERR_FORMAT",
         "gz_header_only.idx.gz: ")


# ----------------------------------------------------------------------------- CSV

def make_csv():
    good = "a,b,c,label\n0.5,1,2,0\n1.5,-2,3e-1,1\n2,3,4,2\n"
    put("good/ok.csv", good)
    case("good/ok.csv", None, "csv", "LAM_OK", "")
    case("csv/empty.csv", "", "csv", "LAM_ERR_FORMAT", "empty.csv: empty file")
    case("csv/blank_lines.csv", "\n  \n\t\n", "csv", "LAM_ERR_FORMAT",
         "blank_lines.csv: empty file")
    case("csv/header_only.csv", "a,b,label\n", "csv", "LAM_ERR_FORMAT",
         "header_only.csv: no data rows")
    case("csv/trunc_header.csv", 'a,b,"lab', "csv", "LAM_ERR_FORMAT",
         "trunc_header.csv:1:5: ")
    case("csv/trunc_row.csv", good[:-5], "csv", "LAM_ERR_FORMAT",
         "trunc_row.csv:4:4: row has 2 cells, expected 4")
    case("csv/ragged_long.csv", "1,2,0\n3,4,5,1\n", "csv", "LAM_ERR_FORMAT",
         "ragged_long.csv:2:7: row has more than the 3 cells of the first row")
    case("csv/ragged_short.csv", "a,b,c\n1,2,0\n3,4,1\n5,1\n", "csv", "LAM_ERR_FORMAT",
         "ragged_short.csv:4:4: row has 2 cells, expected 3")
    case("csv/not_a_number.csv", "a,b,label\n1,2,0\n3,abc,1\n", "csv", "LAM_ERR_FORMAT",
         "not_a_number.csv:3:3: cell \"abc\" is not a number")
    case("csv/empty_cell.csv", "a,b,label\n1,,0\n", "csv", "LAM_ERR_FORMAT",
         "empty_cell.csv:2:3: ")
    case("csv/hex_float.csv", "a,label\n0x1p3,0\n", "csv", "LAM_ERR_FORMAT",
         "hex_float.csv:2:1: cell \"0x1p3\"")
    case("csv/comma_decimal.csv", "a;b;label\n1,5;2;0\n", "csv", "LAM_ERR_FORMAT",
         "comma_decimal.csv:2:1: cell \"1,5\"")
    case("csv/nan.csv", "a,label\n1,0\nnan,1\n", "csv", "LAM_ERR_FORMAT",
         "nan.csv:3:1: cell \"nan\"")
    case("csv/inf.csv", "a,label\n1,0\n-inf,1\n", "csv", "LAM_ERR_FORMAT",
         "inf.csv:3:1: cell \"-inf\"")
    case("csv/beyond_float.csv", "a,label\n1e39,0\n", "csv", "LAM_ERR_FORMAT",
         "beyond_float.csv:2:1: ")
    case("csv/unterminated_quote.csv", 'a,label\n"1.5,0\n', "csv", "LAM_ERR_FORMAT",
         "unterminated_quote.csv:2:1: ")
    case("csv/text_after_quote.csv", 'a,label\n"1.5"x,0\n', "csv", "LAM_ERR_FORMAT",
         "text_after_quote.csv:2:6: ")
    case("csv/binary.csv", bytes(range(256)) * 4, "csv", "LAM_ERR_FORMAT", "binary.csv:")
    case("csv/label_negative.csv", "a,label\n1,0\n2,-1\n", "csv-classify", "LAM_ERR_RANGE",
         "label_negative.csv:3:3: ")
    case("csv/label_too_large.csv", "a,label\n1,0\n2,70000\n", "csv-classify",
         "LAM_ERR_RANGE", "label_too_large.csv:3:3: ")
    case("csv/label_fraction.csv", "a,label\n1,0\n2,1.5\n", "csv-classify",
         "LAM_ERR_FORMAT", "label_fraction.csv:3:3: ")
    case("csv/trunc.csv.gz", gz((good * 40).encode())[:-30], "csv", "LAM_ERR_FORMAT",
         "trunc.csv.gz: ")
    bad = bytearray(gz(good.encode()))
    bad[-7] ^= 0x55
    case("csv/bad_crc.csv.gz", bytes(bad), "csv", "LAM_ERR_FORMAT",
         "bad_crc.csv.gz: corrupt gzip data")


# ---------------------------------------------------------------------------- text

def make_text():
    """Byte-level text: every byte sequence is valid, only the length can be wrong."""
    put("good/text.txt", "To be, or not to be, that is the question:\n")
    case("good/text.txt", None, "text", "LAM_OK", "")
    case("text/empty.txt", b"", "text", "LAM_ERR_FORMAT",
         "empty.txt: empty; a language model needs at least 2 bytes")
    case("text/one_byte.txt", b"x", "text", "LAM_ERR_FORMAT",
         "one_byte.txt: 1 byte; a language model needs at least 2")
    # a fortunes directory holding only a strfile index: no text to read
    put("text/fortunes_dat_only/cookie.dat", struct.pack(">6I", 2, 3, 40, 10, 0, 0x25000000))
    case("text/fortunes_dat_only", None, "fortunes", "LAM_ERR_IO",
         "fortunes_dat_only: no text files")


# ----------------------------------------------------------------------------- NPY

def npy_raw(header_text, payload, version=1, hlen=None):
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(header_text) + 1) % 64) % 64
    text = (header_text + " " * pad + "\n").encode()
    n = len(text) if hlen is None else hlen
    ln = struct.pack("<H", n) if version == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([version, 0]) + ln + text + payload


def npy(descr, shape, payload, fortran=False, version=1, shape_text=None):
    st = shape_text if shape_text is not None else repr(tuple(shape))
    return npy_raw("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", st), payload, version)


def make_npy():
    x = npy("<f4", [4, 3], struct.pack("<12f", *range(12)))
    y = npy("<i8", [4], struct.pack("<4q", 0, 1, 2, 1))
    put("good/x43.npy", x)
    put("good/y4.npy", y)
    case("good/x43.npy", None, "npy-pair:good/y4.npy", "LAM_OK", "")
    Y = "npy-pair:good/y4.npy"
    case("npy/empty.npy", b"", Y, "LAM_ERR_FORMAT",
         "empty.npy: truncated in the NPY magic and version")
    case("npy/trunc_magic.npy", x[:5], Y, "LAM_ERR_FORMAT",
         "trunc_magic.npy: truncated in the NPY magic")
    case("npy/trunc_len.npy", x[:9], Y, "LAM_ERR_FORMAT",
         "trunc_len.npy: truncated in the NPY header length")
    case("npy/trunc_header.npy", x[:40], Y, "LAM_ERR_FORMAT",
         "trunc_header.npy: truncated in the NPY header")
    case("npy/trunc_payload.npy", x[:-3], Y, "LAM_ERR_FORMAT",
         "trunc_payload.npy: header promises 4x3 float32 = 48 bytes but file holds 45")
    case("npy/promises_more.npy", npy("<f4", [100000, 3], bytes(48)), "npy",
         "LAM_ERR_FORMAT", "promises_more.npy: header promises 100000x3 float32")
    case("npy/trailing.npy", x + b"\0" * 4, Y, "LAM_ERR_FORMAT",
         "trailing.npy: header promises 4x3 float32 = 48 bytes but file holds 52")
    case("npy/wrong_magic.npy", b"\x93NUMPZ" + x[6:], Y, "LAM_ERR_FORMAT",
         "wrong_magic.npy: not an NPY file")
    case("npy/zip_magic.npy", b"PK\x03\x04" + bytes(60), "npy", "LAM_ERR_FORMAT",
         "zip_magic.npy: not an NPY file")
    case("npy/bad_version.npy", x[:6] + b"\x09\x00" + x[8:], Y, "LAM_ERR_FORMAT",
         "bad_version.npy: unsupported NPY version 9.0")
    case("npy/header_too_long.npy",
         b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 30) + b"{" * 64, "npy",
         "LAM_ERR_FORMAT", "header_too_long.npy: NPY header of 1073741824 bytes")
    case("npy/unknown_dtype.npy", npy("<c8", [4, 3], bytes(96)), Y, "LAM_ERR_FORMAT",
         "unknown_dtype.npy: unsupported NPY dtype '<c8'")
    case("npy/float16.npy", npy("<f2", [4, 3], bytes(24)), Y, "LAM_ERR_FORMAT",
         "float16.npy: unsupported NPY dtype '<f2'")
    case("npy/big_endian.npy", npy(">f4", [4, 3], bytes(48)), Y, "LAM_ERR_FORMAT",
         "big_endian.npy: unsupported NPY dtype '>f4'")
    case("npy/structured.npy",
         npy_raw("{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, "
                 "'shape': (4,), }", bytes(32)), "npy", "LAM_ERR_FORMAT",
         "structured.npy: unsupported NPY dtype (structured")
    case("npy/object.npy", npy("|O", [4], bytes(32)), "npy", "LAM_ERR_FORMAT",
         "object.npy: unsupported NPY dtype '|O'")
    case("npy/fortran.npy", npy("<f4", [4, 3], bytes(48), fortran=True), Y,
         "LAM_ERR_FORMAT", "fortran.npy: Fortran-ordered NPY arrays are not supported")
    case("npy/zero_dim.npy", npy("<f4", [4, 0], b""), Y, "LAM_ERR_FORMAT",
         "zero_dim.npy: NPY dimension 1 is 0")
    case("npy/zero_count.npy", npy("<f4", [0, 3], b""), "npy", "LAM_ERR_FORMAT",
         "zero_count.npy: NPY dimension 0 is 0")
    case("npy/negative_dim.npy", npy("<f4", None, bytes(48), shape_text="(-1,)"), "npy",
         "LAM_ERR_FORMAT", "negative_dim.npy: bad NPY header: a 'shape' entry is not a "
         "non-negative integer")
    case("npy/negative_inner.npy", npy("<f4", None, bytes(48), shape_text="(4, -3)"), Y,
         "LAM_ERR_FORMAT", "negative_inner.npy: bad NPY header: a 'shape' entry")
    case("npy/overflow_entry.npy",
         npy("<f4", None, bytes(48), shape_text="(99999999999999999999, 3)"), Y,
         "LAM_ERR_RANGE", "overflow_entry.npy: NPY shape entry overflows 64 bits")
    case("npy/overflow_product.npy", npy("<f8", [1 << 31, 1 << 31, 1 << 31], bytes(8)),
         "npy", "LAM_ERR_RANGE", "overflow_product.npy: NPY shape")
    case("npy/over_limit.npy", npy("<f4", [1 << 20, 1 << 20], bytes(8)), "npy",
         "LAM_ERR_RANGE", "over_limit.npy: header promises 1048576x1048576 float32")
    case("npy/scalar.npy", npy("<f4", [], bytes(4), shape_text="()"), "npy",
         "LAM_ERR_FORMAT", "scalar.npy: NPY array is 0-dimensional")
    case("npy/five_dims.npy", npy("<f4", [4, 1, 1, 1, 3], bytes(48)), Y, "LAM_ERR_FORMAT",
         "five_dims.npy: X is 4x1x1x1x3 float32, supported are 1 to 4 dimensions")
    case("npy/not_dict.npy", npy_raw("[1, 2, 3]", bytes(48)), "npy", "LAM_ERR_FORMAT",
         "not_dict.npy: bad NPY header: not a Python dict")
    case("npy/missing_key.npy",
         npy_raw("{'descr': '<f4', 'shape': (4, 3), }", bytes(48)), Y, "LAM_ERR_FORMAT",
         "missing_key.npy: bad NPY header: missing")
    case("npy/extra_key.npy",
         npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), 'x': 1, }",
                 bytes(48)), Y, "LAM_ERR_FORMAT",
         "extra_key.npy: bad NPY header: unexpected or repeated key 'x'")
    case("npy/nan.npy", npy("<f4", [4, 3], struct.pack("<12f", *([0.0] * 7 + [float("nan")]
                                                                 + [0.0] * 4))),
         Y, "LAM_ERR_FORMAT", "nan.npy: X sample 2 element 1 is NaN")
    case("npy/inf_f8.npy", npy("<f8", [4, 3], struct.pack("<12d", *([1.0] * 11 +
                                                                    [float("inf")]))),
         Y, "LAM_ERR_FORMAT", "inf_f8.npy: X sample 3 element 2 is infinite")
    case("npy/trunc.npy.gz", gz(x)[:-10], Y, "LAM_ERR_FORMAT", "trunc.npy.gz: ")

    def ycase(name, data, status, text):
        put("npy/" + name, data)
        case("good/x43.npy", None, "npy-pair:npy/" + name, status, name + ": " + text)
    ycase("y_negative.npy", npy("<i8", [4], struct.pack("<4q", 0, -1, 2, 1)),
          "LAM_ERR_RANGE", "")
    ycase("y_too_large.npy", npy("<i4", [4], struct.pack("<4i", 0, 1, 1 << 20, 1)),
          "LAM_ERR_RANGE", "")
    ycase("y_rows.npy", npy("<i8", [3], struct.pack("<3q", 0, 1, 2)), "LAM_ERR_SHAPE",
          "holds 3 rows but")
    ycase("y_3d.npy", npy("<i8", [4, 1, 1], struct.pack("<4q", 0, 1, 2, 1)),
          "LAM_ERR_SHAPE", "y is 4x1x1 int64, expected (N) or (N, T)")
    ycase("y_nan.npy", npy("<f4", [4], struct.pack("<4f", 0.5, float("nan"), 1, 2)),
          "LAM_ERR_FORMAT", "y sample 1 element 0 is NaN")
    ycase("y_trunc.npy", npy("<i8", [4], struct.pack("<3q", 0, 1, 2)), "LAM_ERR_FORMAT",
          "header promises 4 int64 = 32 bytes but file holds 24")


# ------------------------------------------------------------------ safetensors checkpoints

def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def safetensors(tensors, meta, header=None, pad=True):
    """tensors: (name, dtype, shape, data bytes); offsets assigned in order."""
    head, off, blob = {}, 0, b""
    if meta is not None:
        head["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        head[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blob += data
        off += len(data)
    h = json.dumps(head) if header is None else header
    h = h if isinstance(h, bytes) else h.encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def meta(spec, inp, n_out, **extra):
    m = {"lamina.format": "1", "lamina.spec": spec, "lamina.input": inp,
         "lamina.n_out": str(n_out)}
    m.update(extra)
    return m


def linear_tensors(w=None, b=None):
    """linear:2 on 3 inputs: weight (2, 3), bias (2), model.step."""
    w = w if w is not None else f32(0.1, -0.2, 0.3, -0.4, 0.5, -0.6)
    b = b if b is not None else f32(0.01, -0.02)
    return [("model.step", "I64", [], struct.pack("<q", 7)),
            ("linear#0.weight", "F32", [2, 3], w), ("linear#0.bias", "F32", [2], b)]


CNN_SPEC = "conv:2,3,pad=1 bn relu flatten linear:out"


def cnn_tensors():
    """CNN_SPEC on 1x4x4 with 3 outputs."""
    return [("model.step", "I64", [], struct.pack("<q", 3)),
            ("conv2d#0.weight", "F32", [2, 1, 3, 3], f32(*[0.05 * i for i in range(18)])),
            ("conv2d#0.bias", "F32", [2], f32(0.1, 0.2)),
            ("batchnorm#1.weight", "F32", [2], f32(1.0, 1.0)),
            ("batchnorm#1.bias", "F32", [2], f32(0.0, 0.0)),
            ("batchnorm#1.running_mean", "F32", [2], f32(0.5, -0.5)),
            ("batchnorm#1.running_var", "F32", [2], f32(2.0, 3.0)),
            ("linear#4.weight", "F32", [3, 32], f32(*[0.01 * i for i in range(96)])),
            ("linear#4.bias", "F32", [3], f32(0.0, 0.1, 0.2))]


def make_ckpt():
    lin_meta = meta("linear:2", "3", 2)
    good = safetensors(linear_tensors(), lin_meta)
    put("good/linear.safetensors", good)
    case("good/linear.safetensors", None, "checkpoint", "LAM_OK", "")
    cnn = safetensors(cnn_tensors(), meta(CNN_SPEC, "1x4x4", 3))
    put("good/cnn.safetensors", cnn)
    case("good/cnn.safetensors", None, "checkpoint", "LAM_OK", "")
    adam = [("optim.t", "I64", [], struct.pack("<q", 5)),
            ("optim.adam.m.linear#0.weight", "F32", [6], f32(*[0.1] * 6)),
            ("optim.adam.v.linear#0.weight", "F32", [6], f32(*[0.2] * 6)),
            ("optim.adam.m.linear#0.bias", "F32", [2], f32(0.1, 0.1)),
            ("optim.adam.v.linear#0.bias", "F32", [2], f32(0.2, 0.2))]
    put("good/linear_adam.safetensors", safetensors(linear_tensors() + adam, lin_meta))
    case("good/linear_adam.safetensors", None, "checkpoint-optim:adam", "LAM_OK", "")

    C = "checkpoint"
    # truncation and lengths
    case("ckpt/empty.safetensors", b"", C, "LAM_ERR_FORMAT",
         "empty.safetensors: file is 0 bytes, too short")
    case("ckpt/trunc_len.safetensors", good[:5], C, "LAM_ERR_FORMAT",
         "trunc_len.safetensors: file is 5 bytes, too short")
    case("ckpt/trunc_header.safetensors", good[:60], C, "LAM_ERR_FORMAT",
         "trunc_header.safetensors: header length")
    case("ckpt/trunc_payload.safetensors", good[:-6], C, "LAM_ERR_FORMAT",
         "trunc_payload.safetensors: tensor '")
    case("ckpt/header_len_huge.safetensors", struct.pack("<Q", 1 << 62) + good[8:], C,
         "LAM_ERR_FORMAT", "header_len_huge.safetensors: header length 4611686018427387904 "
         "is above")
    case("ckpt/header_len_past_eof.safetensors", struct.pack("<Q", 5000) + good[8:], C,
         "LAM_ERR_FORMAT", "header_len_past_eof.safetensors: header length 5000 exceeds")
    case("ckpt/header_len_zero.safetensors", struct.pack("<Q", 0) + good[8:], C,
         "LAM_ERR_FORMAT", "header_len_zero.safetensors: header is not a JSON object")
    # not a safetensors file at all ("wrong magic": the format has none, so these fail on
    # the header length or the JSON)
    case("ckpt/pytorch_zip.safetensors", b"PK\x03\x04\x14\x00\x00\x00" + bytes(120), C,
         "LAM_ERR_FORMAT", "pytorch_zip.safetensors: header length")
    case("ckpt/npy_file.safetensors", npy("<f4", [2], f32(1, 2)), C, "LAM_ERR_FORMAT",
         "npy_file.safetensors: header length")
    case("ckpt/gzipped.safetensors", gz(good), C, "LAM_ERR_FORMAT",
         "gzipped.safetensors: header length")
    # JSON
    body = json.dumps({"__metadata__": lin_meta})

    def hdr_case(name, text, frag, status="LAM_ERR_FORMAT"):
        case("ckpt/" + name, safetensors([], None, header=text), C, status,
             name + ": " + frag)
    hdr_case("json_syntax.safetensors", body[:-1] + ",}", "invalid JSON header")
    hdr_case("json_unclosed.safetensors", body[:-1], "invalid JSON header")
    hdr_case("json_array.safetensors", "[" + body + "]", "header is not a JSON object")
    hdr_case("json_string.safetensors", '"hello"', "header is not a JSON object")
    hdr_case("json_duplicate_key.safetensors",
             '{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, '
             '"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}',
             "invalid JSON header")
    hdr_case("json_bad_utf8.safetensors",
             b'{"__metadata__": {"lamina.spec": "linear:2 \xff"}}', "invalid JSON header")
    hdr_case("json_overlong_utf8.safetensors",
             b'{"__metadata__": {"lamina.spec": "linear:2 \xc0\xaf"}}', "invalid JSON header")
    hdr_case("json_nul.safetensors", body[:10] + "\0" + body[11:], "invalid JSON header")
    hdr_case("json_trailing.safetensors", body + " {}", "invalid JSON header")
    hdr_case("json_deep.safetensors", "{\"a\":" + "[" * 5000 + "]" * 5000 + "}",
             "invalid JSON header")
    hdr_case("metadata_not_object.safetensors", '{"__metadata__": ["x"]}',
             "__metadata__ is not an object")
    hdr_case("metadata_not_string.safetensors",
             '{"__metadata__": {"lamina.spec": "linear:2", "lamina.n_out": 2}}',
             "__metadata__ value of 'lamina.n_out' is not a string")

    # tensor entries
    def ent_case(name, entry, data, frag):
        h = json.dumps({"__metadata__": lin_meta, "t": entry})
        case("ckpt/" + name, safetensors([], None, header=h) + data, C, "LAM_ERR_FORMAT",
             name + ": " + frag)
    ent_case("entry_not_object.safetensors", [1, 2], b"", "tensor 't': entry is not an object")
    ent_case("entry_extra_key.safetensors",
             {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}, bytes(4),
             "tensor 't': unexpected key 'x'")
    ent_case("entry_no_offsets.safetensors", {"dtype": "F32", "shape": [1]}, bytes(4),
             "tensor 't': missing \"data_offsets\"")
    ent_case("dtype_unknown.safetensors",
             {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}, bytes(16),
             "tensor 't': unknown dtype 'F128'")
    ent_case("dtype_lowercase.safetensors",
             {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}, bytes(4),
             "tensor 't': unknown dtype 'f32'")
    ent_case("dtype_not_string.safetensors",
             {"dtype": 11, "shape": [1], "data_offsets": [0, 4]}, bytes(4),
             "tensor 't': unknown dtype '(not a string)'")
    ent_case("shape_negative.safetensors",
             {"dtype": "F32", "shape": [-2, 3], "data_offsets": [0, 24]}, bytes(24),
             "tensor 't': shape[0] is not a non-negative integer")
    ent_case("shape_float.safetensors",
             {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}, bytes(8),
             "tensor 't': shape[0] is not a non-negative integer")
    ent_case("shape_not_array.safetensors",
             {"dtype": "F32", "shape": 6, "data_offsets": [0, 24]}, bytes(24),
             "tensor 't': shape is not an array")
    ent_case("shape_overflow.safetensors",
             {"dtype": "F32", "shape": [1 << 62, 1 << 62], "data_offsets": [0, 0]}, b"",
             "tensor 't': shape [4611686018427387904, 4611686018427387904] overflows")
    ent_case("shape_9dims.safetensors",
             {"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}, bytes(4),
             "tensor 't': shape is not an array of at most 8 sizes")
    ent_case("offsets_out_of_bounds.safetensors",
             {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, bytes(8),
             "tensor 't': data_offsets [0, 16] end past the 8-byte data region")
    ent_case("offsets_huge.safetensors",
             {"dtype": "F32", "shape": [1], "data_offsets": [1 << 62, (1 << 62) + 4]},
             bytes(4), "tensor 't': data_offsets [4611686018427387904")
    ent_case("offsets_reversed.safetensors",
             {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}, bytes(4),
             "tensor 't': data_offsets [4, 0] are reversed")
    ent_case("offsets_negative.safetensors",
             {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}, bytes(4),
             "tensor 't': data_offsets is not two non-negative integers")
    ent_case("offsets_size_mismatch.safetensors",
             {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}, bytes(12),
             "tensor 't': data_offsets [0, 12] hold 12 bytes, F32 shape [2] needs 8")

    def tiling_case(name, ents, data, frag):
        head = {"__metadata__": lin_meta}
        head.update(ents)
        case("ckpt/" + name, safetensors([], None, header=json.dumps(head)) + data, C,
             "LAM_ERR_FORMAT", name + ": " + frag)
    E = lambda b, e: {"dtype": "F32", "shape": [(e - b) // 4], "data_offsets": [b, e]}
    tiling_case("offsets_overlap.safetensors", {"a": E(0, 8), "b": E(4, 12)}, bytes(12),
                "tensor 'a' data_offsets [0, 8] overlap 'b' [4, 12]")
    tiling_case("offsets_alias.safetensors", {"a": E(0, 8), "b": E(0, 8)}, bytes(8),
                "tensor 'a' data_offsets [0, 8] overlap 'b' [0, 8]")
    tiling_case("offsets_hole.safetensors", {"a": E(0, 4), "b": E(8, 12)}, bytes(12),
                "data bytes [4, 8) belong to no tensor")
    tiling_case("offsets_trailing.safetensors", {"a": E(0, 4)}, bytes(12),
                "data region has 12 bytes, but tensors cover only 4")

    # lamina layer: metadata and tensors against the model
    def ck(name, tensors, m, frag, status="LAM_ERR_FORMAT", loader=C):
        case("ckpt/" + name, safetensors(tensors, m), loader, status, name + ": " + frag)
    ck("no_spec.safetensors", linear_tensors(), {"format": "pt"},
       "not a lamina checkpoint (no lamina.spec)")
    ck("no_metadata.safetensors", linear_tensors(), None,
       "not a lamina checkpoint (no lamina.spec)")
    ck("bad_input.safetensors", linear_tensors(), meta("linear:2", "0x28", 2),
       "bad lamina.input or lamina.n_out")
    ck("bad_n_out.safetensors", linear_tensors(), meta("linear:2", "3", -2),
       "bad lamina.input or lamina.n_out")
    ck("input_overflow.safetensors", linear_tensors(),
       meta("linear:2", "99999999999999999999", 2), "bad lamina.input or lamina.n_out")
    ck("missing_tensor.safetensors", linear_tensors()[:2], lin_meta,
       "no tensor 'linear#0.bias'")
    ck("wrong_shape.safetensors",
       [("linear#0.weight", "F32", [3, 2], f32(*[0.0] * 6)),
        ("linear#0.bias", "F32", [2], f32(0, 0))], lin_meta,
       "tensor 'linear#0.weight' has shape [3, 2], expected [2, 3]", "LAM_ERR_SHAPE")
    ck("wrong_dtype.safetensors",
       [("linear#0.weight", "F64", [2, 3], bytes(48)),
        ("linear#0.bias", "F32", [2], f32(0, 0))], lin_meta,
       "tensor 'linear#0.weight' is F64, expected F32")
    ck("nan_weight.safetensors",
       linear_tensors(w=f32(0.1, 0.2, float("nan"), 0.4, 0.5, 0.6)), lin_meta,
       "tensor 'linear#0.weight' element 2 is NaN")
    ck("inf_bias.safetensors", linear_tensors(b=f32(0.0, float("-inf"))), lin_meta,
       "tensor 'linear#0.bias' element 1 is infinite")
    t = cnn_tensors()
    t[6] = ("batchnorm#1.running_var", "F32", [2], f32(1.0, float("inf")))
    ck("inf_running_var.safetensors", t, meta(CNN_SPEC, "1x4x4", 3),
       "tensor 'batchnorm#1.running_var' element 1 is infinite")
    # a spec whose parameters the file cannot hold: rejected before the weights are
    # allocated (12 GB for linear:1000000000 on 3 inputs)
    ck("huge_spec.safetensors", linear_tensors(), meta("linear:1000000000", "3", 2),
       "lamina.spec needs")
    ck("huge_input.safetensors", linear_tensors(), meta("linear:2", "4000000000", 2),
       "lamina.spec needs")
    ck("bad_spec.safetensors", linear_tensors(), meta("linear:x", "3", 2),
       "model spec")
    # window arithmetic that overflows int64 (dil * (k - 1)) must be caught, not wrap
    ck("conv_overflow.safetensors", linear_tensors(),
       meta("conv:1,999999999999,dil=999999999999 flatten linear:out", "1x4x4", 2),
       "layer 0 (conv2d): kernel 999999999999x999999999999", "LAM_ERR_SHAPE")

    # a valid checkpoint loaded into a different model
    def into(name, data, spec, status, frag):
        put("ckpt/" + name, data)
        case("ckpt/" + name, None, "checkpoint-into:" + spec, status, name + ": " + frag)
    into("linear_into_wider.safetensors", good, "linear:4", "LAM_ERR_SHAPE",
         "tensor 'linear#0.weight' has shape [2, 3], expected [4, 3]")
    into("linear_into_mlp.safetensors", good, "linear:8 relu linear:out", "LAM_ERR_SHAPE",
         "tensor 'linear#0.weight' has shape [2, 3], expected [8, 3]")
    into("linear_into_deeper.safetensors", good, "relu linear:out", "LAM_ERR_FORMAT",
         "no tensor 'linear#1.weight'")
    into("cnn_into_no_bn.safetensors", cnn, "conv:2,3,pad=1 relu flatten linear:out",
         "LAM_ERR_FORMAT", "no tensor 'linear#3.weight'")
    into("cnn_into_wider.safetensors", cnn, "conv:4,3,pad=1 bn relu flatten linear:out",
         "LAM_ERR_SHAPE", "tensor 'conv2d#0.weight' has shape [2, 1, 3, 3], expected "
         "[4, 1, 3, 3]")
    into("cnn_into_pool.safetensors", cnn, "conv:2,3,pad=1 bn relu maxpool:2 flatten "
         "linear:out", "LAM_ERR_FORMAT", "no tensor 'linear#5.weight'")
    into("cnn_into_mlp.safetensors", cnn, "flatten linear:out", "LAM_ERR_FORMAT",
         "no tensor 'linear#1.weight'")

    # optimizer state
    def opt(name, tensors, kind, status, frag):
        ck(name, linear_tensors() + tensors, lin_meta, frag, status,
           "checkpoint-optim:" + kind)
    opt("optim_missing_t.safetensors", adam[1:], "adam", "LAM_ERR_FORMAT",
        "no tensor 'optim.t'")
    opt("optim_other_kind.safetensors", adam, "sgd-momentum", "LAM_ERR_FORMAT",
        "no tensor 'optim.sgd.momentum.linear#0.weight'")
    bad = list(adam)
    bad[4] = ("optim.adam.v.linear#0.bias", "F32", [3], f32(0.2, 0.2, 0.2))
    opt("optim_wrong_shape.safetensors", bad, "adam", "LAM_ERR_SHAPE",
        "tensor 'optim.adam.v.linear#0.bias' has shape [3], expected [2]")
    bad = list(adam)
    bad[2] = ("optim.adam.v.linear#0.weight", "F32", [6],
              f32(0.2, 0.2, 0.2, float("nan"), 0.2, 0.2))
    opt("optim_nan.safetensors", bad, "adam", "LAM_ERR_FORMAT",
        "tensor 'optim.adam.v.linear#0.weight' element 3 is NaN")


# ----------------------------------------------------------- imported weights

def make_weights():
    """PyTorch-style state_dicts (tools/export_torch.py's layout) for lam_model_import."""
    spec = "linear:2,name=fc bn:name=bn linear:out,name=head"
    imp = "import:3:" + spec

    def sd(drop=(), extra=(), change=None):
        t = [("fc.weight", "F32", [2, 3], f32(0.1, -0.2, 0.3, -0.4, 0.5, -0.6)),
             ("fc.bias", "F32", [2], f32(0.01, -0.02)),
             ("bn.weight", "F32", [2], f32(1.5, 0.5)), ("bn.bias", "F32", [2], f32(0.1, 0.2)),
             ("bn.running_mean", "F32", [2], f32(0.3, -0.3)),
             ("bn.running_var", "F32", [2], f32(2.0, 0.5)),
             ("bn.num_batches_tracked", "I64", [], struct.pack("<q", 12)),
             ("head.weight", "F32", [3, 2], f32(1, 2, 3, 4, 5, 6)),
             ("head.bias", "F32", [3], f32(0.5, 0.25, 0.125))]
        t = [x for x in t if x[0] not in drop] + list(extra)
        if change is not None:
            t = [change(x) for x in t]
        return safetensors(t, {"format": "pt"})

    case("good/weights_ok.safetensors", sd(), imp, "LAM_OK", "")
    # F64 and F16 are converted; num_batches_tracked is ignored either way
    case("good/weights_f64_f16.safetensors", sd(change=lambda x: (
        (x[0], "F64", x[2], struct.pack("<%dd" % numel(x[2]), *struct.unpack(
            "<%df" % numel(x[2]), x[3]))) if x[0] == "fc.weight" else
        (x[0], "F16", x[2], struct.pack("<%de" % numel(x[2]), *struct.unpack(
            "<%df" % numel(x[2]), x[3]))) if x[0] == "head.bias" else x)), imp, "LAM_OK", "")

    def bad(name, data, status, frag):
        case("weights/" + name, data, imp, status, name + ": " + frag)
    bad("wrong_shape.safetensors",
        sd(change=lambda x: (x[0], "F32", [3, 2], x[3]) if x[0] == "fc.weight" else x),
        "LAM_ERR_SHAPE", "tensor 'fc.weight' is 3x2 in the file, the model's is 2x3")
    bad("missing_tensor.safetensors", sd(drop=("bn.running_var",)), "LAM_ERR_FORMAT",
        "the model's 'bn.running_var' (2) is missing")
    bad("extra_tensor.safetensors", sd(extra=[("fc2.weight", "F32", [1], f32(1.0))]),
        "LAM_ERR_FORMAT", "tensor 'fc2.weight' matches nothing in the model")
    bad("int_weights.safetensors",
        sd(change=lambda x: (x[0], "I32", x[2], x[3]) if x[0] == "head.bias" else x),
        "LAM_ERR_FORMAT", "tensor 'head.bias' is I32, not a float type")
    bad("nan_weight.safetensors",
        sd(change=lambda x: (x[0], "F32", x[2], f32(0.5, float("nan"), 0.125))
           if x[0] == "head.bias" else x), "LAM_ERR_FORMAT", "tensor 'head.bias' element 1 is NaN")
    whole = sd()
    bad("truncated_header.safetensors", whole[:40], "LAM_ERR_FORMAT", "header")
    bad("truncated_data.safetensors", whole[:-6], "LAM_ERR_FORMAT",
        "tensor 'head.bias': data_offsets [96, 108] end past the 102-byte data region")


def main():
    for d in ("idx", "csv", "npy", "ckpt", "good", "weights", "text"):
        shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
    make_idx()
    make_csv()
    make_npy()
    make_text()
    make_ckpt()
    make_weights()
    lines = ["# Generated by make_badfiles.py: path | loader | status | fragment"]
    for c in CASES:
        assert " | " not in c[3] and "\n" not in c[3], c
        lines.append(" | ".join(c[:3] + (c[3] or "-",)))
    with open(os.path.join(HERE, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    bad = sorted({c[0] for c in CASES if not c[0].startswith("good/")} |
                 {c[1].split(":", 1)[1] for c in CASES if c[0].startswith("good/") and
                  ":" in c[1] and not c[1].split(":", 1)[1].startswith("good/") and
                  c[1].startswith(("idx-pair", "npy-pair"))})
    print("%d cases, %d bad files" % (len(CASES), len(bad)))


if __name__ == "__main__":
    main()
