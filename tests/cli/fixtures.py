#!/usr/bin/env python3
"""Fixtures for the cli suite: small IDX, CSV and NPY files, good and broken.

Standard library only (CI has python3 without numpy). Deterministic for a given Python.

  fixtures.py idxdir DIR N_TRAIN N_TEST H W     MNIST-layout directory, 10 classes; the t10k
                                                split is gzip-compressed (both paths are read)
  fixtures.py idx-truncated FILE                images header promises more than the file holds
  fixtures.py idx-magic FILE                    wrong magic number
  fixtures.py idx-overflow FILE                 dims whose product overflows int64
  fixtures.py idx-labels FILE N                 a labels file of N samples (to pair with images)
  fixtures.py csv-reg FILE N                    regression: 4 features, 1 target, header row
  fixtures.py csv-cls FILE N                    classification: 4 features, label 0..2
  fixtures.py csv-cell FILE                     a cell that is not a number (line 4, byte 5)
  fixtures.py csv-neglabel FILE                 integer labels, one of them -1
  fixtures.py npy X Y N YKIND                   X float32 (N, 6); y int64 of kind ok|neg|huge
  fixtures.py st-variant IN OUT KIND            a broken or renamed copy of a safetensors
                                                state_dict: KIND shape (fc.weight cut to 10x32),
                                                missing (no layer1.0.bn1.running_var), extra
                                                (an added head.weight), truncated (cut inside
                                                the JSON header), prefix (every name with
                                                "module."), f64 (every F32 tensor as F64)
  fixtures.py golden-npy GOLDEN X Y             the golden batch ("x", "labels") as X.npy, y.npy;
                                                prints the batch size
  fixtures.py npy-images X Y N C H W            N random float32 images, labels 0..9 in turn
"""
import gzip
import json
import random
import struct
import sys


def idx_bytes(type_code, dims, payload):
    head = struct.pack('>BBBB', 0, 0, type_code, len(dims))
    head += b''.join(struct.pack('>I', d) for d in dims)
    return head + payload


def images_labels(n, h, w, rng):
    """Class c lights a 3x3 block whose place depends on c, on top of noise: learnable."""
    labels = [rng.randrange(10) for _ in range(n)]
    pix = bytearray(n * h * w)
    for i, c in enumerate(labels):
        base = i * h * w
        for k in range(h * w):
            pix[base + k] = rng.randrange(60)
        r0 = (c // 4) * (h // 3)
        c0 = (c % 4) * (w // 4)
        for r in range(r0, min(r0 + 3, h)):
            for q in range(c0, min(c0 + 3, w)):
                pix[base + r * w + q] = 200 + rng.randrange(56)
    return bytes(pix), bytes(labels)


def write(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def idxdir(d, n_train, n_test, h, w):
    rng = random.Random(1234)
    for split, n, gz in (('train', n_train, False), ('t10k', n_test, True)):
        pix, lab = images_labels(n, h, w, rng)
        img = idx_bytes(0x08, [n, h, w], pix)
        lbl = idx_bytes(0x08, [n], lab)
        if gz:
            write('%s/%s-images-idx3-ubyte.gz' % (d, split), gzip.compress(img, mtime=0))
            write('%s/%s-labels-idx1-ubyte.gz' % (d, split), gzip.compress(lbl, mtime=0))
        else:
            write('%s/%s-images-idx3-ubyte' % (d, split), img)
            write('%s/%s-labels-idx1-ubyte' % (d, split), lbl)


def csv_reg(path, n):
    rng = random.Random(7)
    rows = ['a,b,c,d,y']
    for _ in range(n):
        f = [rng.uniform(-1, 1) for _ in range(4)]
        y = 2 * f[0] - f[1] + 0.5 * f[2] * f[3] + 0.05 * rng.gauss(0, 1)
        rows.append(','.join('%.6f' % v for v in f + [y]))
    write(path, ('\n'.join(rows) + '\n').encode())


def csv_cls(path, n):
    rng = random.Random(8)
    rows = ['a,b,c,d,label']
    for _ in range(n):
        c = rng.randrange(3)
        f = [rng.gauss(c if k == c else 0, 0.3) for k in range(4)]
        rows.append(','.join('%.5f' % v for v in f) + ',%d' % c)
    write(path, ('\n'.join(rows) + '\n').encode())


def npy_bytes(descr, shape, payload):
    shp = '(%d,)' % shape[0] if len(shape) == 1 else '(' + ', '.join(map(str, shape)) + ')'
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shp)
    pad = 64 - (10 + len(hdr) + 1) % 64
    hdr = hdr + ' ' * (pad % 64) + '\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode('latin1') + payload


def npy(xp, yp, n, kind):
    rng = random.Random(9)
    ys = [rng.randrange(3) for _ in range(n)]
    xs = []
    for c in ys:
        xs += [rng.gauss(1.0 if k == c else 0.0, 0.3) for k in range(6)]
    if kind == 'neg':
        ys[n // 2] = -3
    elif kind == 'huge':
        ys[n // 2] = 1 << 40
    write(xp, npy_bytes('<f4', [n, 6], struct.pack('<%df' % len(xs), *xs)))
    write(yp, npy_bytes('<i8', [n], struct.pack('<%dq' % n, *ys)))


def st_read(path):
    """(header dict in file order, data bytes) of a safetensors file."""
    with open(path, 'rb') as f:
        b = f.read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n].decode('utf-8')), b[8 + n:]


def st_write(path, tensors, meta):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    head, off = {'__metadata__': meta} if meta else {}, 0
    for name, dtype, shape, raw in tensors:
        head[name] = {'dtype': dtype, 'shape': list(shape), 'data_offsets': [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(head).encode('utf-8')
    h += b' ' * (-len(h) % 8)
    write(path, struct.pack('<Q', len(h)) + h + b''.join(t[3] for t in tensors))


def st_variant(src, dst, kind):
    head, data = st_read(src)
    meta = head.pop('__metadata__', {})
    ts = [(k, v['dtype'], v['shape'], data[v['data_offsets'][0]:v['data_offsets'][1]])
          for k, v in head.items()]
    if kind == 'truncated':
        with open(src, 'rb') as f:
            write(dst, f.read(8 + 100))
        return
    if kind == 'shape':
        ts = [(k, d, [10, 32], r[:10 * 32 * 4]) if k == 'fc.weight' else (k, d, s, r)
              for k, d, s, r in ts]
    elif kind == 'missing':
        ts = [t for t in ts if t[0] != 'layer1.0.bn1.running_var']
    elif kind == 'extra':
        ts.append(('head.weight', 'F32', [2, 2], struct.pack('<4f', 1, 2, 3, 4)))
    elif kind == 'prefix':
        ts = [('module.' + k, d, s, r) for k, d, s, r in ts]
    elif kind == 'untied':
        # a GPT's state_dict without the tied head (its embedding holds the matrix)
        ts = [t for t in ts if t[0] != 'lm_head.weight']
    elif kind == 'mistied':
        # the tied head's matrix differs from the embedding's in one element
        ts = [(k, d, s, struct.pack('<f', 0.5) + r[4:]) if k == 'lm_head.weight' else
              (k, d, s, r) for k, d, s, r in ts]
    elif kind == 'f64':
        def f64(r):
            n = len(r) // 4
            return struct.pack('<%dd' % n, *struct.unpack('<%df' % n, r))
        ts = [(k, 'F64', s, f64(r)) if d == 'F32' else (k, d, s, r) for k, d, s, r in ts]
    else:
        sys.exit('fixtures.py: unknown st-variant ' + kind)
    st_write(dst, ts, meta)


def golden_npy(src, xp, yp):
    head, data = st_read(src)
    x, lab = head['x'], head['labels']
    xr = data[x['data_offsets'][0]:x['data_offsets'][1]]
    yr = data[lab['data_offsets'][0]:lab['data_offsets'][1]]
    write(xp, npy_bytes('<f4', x['shape'], xr))
    write(yp, npy_bytes('<i8', lab['shape'], yr))
    print(x['shape'][0])


def npy_images(xp, yp, n, c, h, w):
    """n random (c, h, w) float32 images, labels cycling through 0..9."""
    rng = random.Random(11)
    xs = [rng.uniform(-1, 1) for _ in range(n * c * h * w)]
    write(xp, npy_bytes('<f4', [n, c, h, w], struct.pack('<%df' % len(xs), *xs)))
    write(yp, npy_bytes('<i8', [n], struct.pack('<%dq' % n, *[i % 10 for i in range(n)])))


def main(a):
    k = a[0]
    if k == 'idxdir':
        idxdir(a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5]))
    elif k == 'idx-truncated':
        # 100 images of 28x28 promised, 10 delivered (plus a partial one)
        write(a[1], idx_bytes(0x08, [100, 28, 28], bytes(28 * 28 * 10 + 17)))
    elif k == 'idx-magic':
        data = bytearray(idx_bytes(0x08, [4, 28, 28], bytes(4 * 28 * 28)))
        data[0:2] = b'\x1f\x9d'  # neither 0x0000 nor gzip
        write(a[1], bytes(data))
    elif k == 'idx-overflow':
        # 4-D: 2^32-1 each, the product overflows int64 (and any byte limit)
        write(a[1], idx_bytes(0x08, [0xFFFFFFFF] * 4, bytes(64)))
    elif k == 'idx-labels':
        n = int(a[2])
        write(a[1], idx_bytes(0x08, [n], bytes(i % 10 for i in range(n))))
    elif k == 'csv-reg':
        csv_reg(a[1], int(a[2]))
    elif k == 'csv-cls':
        csv_cls(a[1], int(a[2]))
    elif k == 'csv-cell':
        write(a[1], b'a,b,c,y\n1,2,3,0\n4,5,6,1\n7,8,abc,0\n1,1,1,1\n')
    elif k == 'csv-neglabel':
        write(a[1], b'a,b,y\n1,2,0\n3,4,1\n5,6,-1\n7,8,1\n')
    elif k == 'npy':
        npy(a[1], a[2], int(a[3]), a[4])
    elif k == 'st-variant':
        st_variant(a[1], a[2], a[3])
    elif k == 'golden-npy':
        golden_npy(a[1], a[2], a[3])
    elif k == 'npy-images':
        npy_images(a[1], a[2], *map(int, a[3:7]))
    else:
        sys.exit('fixtures.py: unknown kind ' + k)


if __name__ == '__main__':
    main(sys.argv[1:])
