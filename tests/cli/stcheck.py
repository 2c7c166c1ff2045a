#!/usr/bin/env python3
"""Read lamina checkpoints (safetensors) with the standard library only. Exit status: 0 yes,
1 no (tensors differ, a value is not finite), 3 the file could not be read or lacks the entry.

  stcheck.py same A B      exit 0 when every tensor of A and B is bit for bit equal (same
                           names, dtypes, shapes, bytes), except the timing entries
                           train.seconds_bits and history.seconds; lists what differs
  stcheck.py close A B RTOL  exit 0 when A and B hold the same tensors (names, dtypes, shapes)
                           and every F32 value of A is within 1e-6 + RTOL * |b| of B's (the
                           same training with another order of float summation); the
                           others (I64 counters) must be equal; timing entries skipped
  stcheck.py ints A NAME...  print I64 scalar tensors, comma-separated
  stcheck.py meta A KEY    print a metadata value
  stcheck.py finite A      exit 0 when every F32 weight and optimizer tensor is finite
                           (everything but norm.* and history.*, which may hold NaN by design)
"""
import json
import math
import struct
import sys

TIMING = {'train.seconds_bits', 'history.seconds'}


def load(path):
    with open(path, 'rb') as f:
        b = f.read()
    n = struct.unpack('<Q', b[:8])[0]
    head = json.loads(b[8:8 + n].decode('utf-8'))
    meta = head.pop('__metadata__', {})
    data = b[8 + n:]
    tensors = {}
    for name, t in head.items():
        lo, hi = t['data_offsets']
        tensors[name] = (t['dtype'], tuple(t['shape']), data[lo:hi])
    return meta, tensors


def main(a):
    cmd = a[0]
    if cmd == 'same':
        _, ta = load(a[1])
        _, tb = load(a[2])
        diff = []
        for name in sorted(set(ta) | set(tb)):
            if name in TIMING:
                continue
            if name not in ta or name not in tb:
                diff.append(name + ' (missing in one file)')
            elif ta[name] != tb[name]:
                diff.append(name)
        compared = len(set(ta) - TIMING)
        if diff:
            print('differ: ' + ', '.join(diff[:12]) + (' ...' if len(diff) > 12 else ''))
            return 1
        print('%d tensors bit for bit equal' % compared)
        return 0
    if cmd == 'close':
        _, ta = load(a[1])
        _, tb = load(a[2])
        rtol = float(a[3])
        bad, worst, worst_name = [], 0.0, ''
        for name in sorted(set(ta) | set(tb)):
            if name in TIMING:
                continue
            if name not in ta or name not in tb or ta[name][:2] != tb[name][:2]:
                bad.append(name + ' (missing, or another dtype or shape)')
                continue
            dtype, _, raw = ta[name]
            if dtype != 'F32':
                if raw != tb[name][2]:
                    bad.append(name)
                continue
            va = struct.unpack('<%df' % (len(raw) // 4), raw)
            vb = struct.unpack('<%df' % (len(raw) // 4), tb[name][2])
            for x, y in zip(va, vb):
                if math.isnan(x) and math.isnan(y):
                    continue
                err = abs(x - y) / (1e-6 + rtol * abs(y))
                if not err <= 1.0:
                    bad.append('%s (%r vs %r)' % (name, x, y))
                    break
                if err > worst:
                    worst, worst_name = err, name
        if bad:
            print('not close: ' + ', '.join(bad[:8]) + (' ...' if len(bad) > 8 else ''))
            return 1
        print('every tensor within tolerance (worst %.3g of it, in %s)' % (worst, worst_name))
        return 0
    if cmd == 'ints':
        _, t = load(a[1])
        vals = []
        for name in a[2:]:
            dtype, shape, raw = t[name]
            assert dtype == 'I64' and shape == (), (name, dtype, shape)
            vals.append(str(struct.unpack('<q', raw)[0]))
        print(','.join(vals))
        return 0
    if cmd == 'meta':
        meta, _ = load(a[1])
        print(meta[a[2]])
        return 0
    if cmd == 'finite':
        _, t = load(a[1])
        n_checked = 0
        for name, (dtype, shape, raw) in t.items():
            if dtype != 'F32' or name.startswith(('history.', 'norm.')):
                continue
            vals = struct.unpack('<%df' % (len(raw) // 4), raw)
            bad = sum(1 for v in vals if not math.isfinite(v))
            if bad:
                print('%s: %d non-finite values' % (name, bad))
                return 1
            n_checked += len(vals)
        print('%d weight and optimizer values, all finite' % n_checked)
        return 0 if n_checked > 0 else 1
    sys.exit('stcheck.py: unknown command ' + cmd)


if __name__ == '__main__':
    # exit 1 means "not equal" / "not finite"; a file that cannot be read is 3, so that a
    # check expecting a difference cannot pass on a missing file
    try:
        rc = main(sys.argv[1:])
    except Exception as e:  # noqa: BLE001
        print('stcheck.py: %s: %s' % (type(e).__name__, e), file=sys.stderr)
        rc = 3
    sys.exit(rc)
