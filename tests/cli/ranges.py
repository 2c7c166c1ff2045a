#!/usr/bin/env python3
"""cli: every numeric flag of every command rejects every value outside its documented range.

Driven by the flag tables themselves, so that a flag or a command added later is covered
without anyone remembering it: the commands are those `lamina --help` lists, the flags
those each `lamina CMD --help` (and `lamina-bench --help`) prints, and cli_print_help
writes every numeric flag's line from its table entry as

    --batch N                  batch size (64); N in 1..65536
    --lr X                     learning rate (...); X in (0, 1e+09]

For each such flag it tries the value just below the range, 0, -1, the value just above,
a huge number, nan, inf and -inf. A value outside the range must exit 2 with one line
"lamina: error: ..." naming the flag, the value and the range; a value inside (0, where
it is in range) must pass the parser, and then the help must say what 0 means.

Usage: ranges.py LAMINA [LAMINA_BENCH]   (standard library only)
"""
import math
import os
import re
import subprocess
import sys
import tempfile

FLAG_LINE = re.compile(r'^  (--[a-z0-9-]+) (\S+) +(.*); \2 in (\S.*)$')
INT_RANGE = re.compile(r'^(-?\d+)\.\.(-?\d+)$')
REAL_RANGE = re.compile(r'^([\[(])(\S+), (\S+)([\])])$')
COMMAND_LINE = re.compile(r'^  ([a-z]+)  +\S')

n_pass = n_fail = 0


def ok(msg):
    global n_pass
    n_pass += 1
    print('ok   - ' + msg)


def bad(msg):
    global n_fail
    n_fail += 1
    print('FAIL - ' + msg)


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def numeric_flags(help_text):
    """(flag, meta, help, kind, lo, hi, lo_open, hi_open, range_text) per numeric flag."""
    flags = []
    for line in help_text.splitlines():
        m = FLAG_LINE.match(line)
        if m is None:
            continue
        flag, meta, text, rng = m.groups()
        mi, mr = INT_RANGE.match(rng), REAL_RANGE.match(rng)
        if mi:
            flags.append((flag, meta, text, 'int', int(mi.group(1)), int(mi.group(2)), False,
                          False, rng))
        elif mr:
            flags.append((flag, meta, text, 'real', float(mr.group(2)), float(mr.group(3)),
                          mr.group(1) == '(', mr.group(4) == ')', rng))
        else:
            bad('%s: range %r is neither N..M nor an interval' % (flag, rng))
    return flags


def tries(kind, lo, hi, lo_open, hi_open):
    """The values to try, as text, each with whether it is in range."""
    if kind == 'int':
        vals = [str(lo - 1), '0', '-1', str(hi + 1), '9223372036854775807',
                '99999999999999999999', 'nan', 'inf', '-inf']
    else:
        below = lo if lo_open else math.nextafter(lo, -math.inf)
        above = hi if hi_open else math.nextafter(hi, math.inf)
        vals = [repr(below), '0', '-1', repr(above), '1e300', '1e999', 'nan', 'inf', '-inf']
    out = []
    for v in dict.fromkeys(vals):  # in order, without repeats
        try:
            x = int(v) if kind == 'int' else float(v)
        except ValueError:
            x = math.nan  # not an integer: never in range
        inside = (x > lo if lo_open else x >= lo) and (x < hi if hi_open else x <= hi)
        out.append((v, inside))
    return out


def check_flag(prog, cmd, base, f):
    flag, meta, text, kind, lo, hi, lo_open, hi_open, rng = f
    name = ' '.join(filter(None, [os.path.basename(prog), cmd, flag]))
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        bad('%s: range %s is not a finite interval' % (name, rng))
        return
    prefix = '%s: error: ' % ('lamina-bench' if cmd is None else 'lamina')
    zero_in = False
    for value, inside in tries(kind, lo, hi, lo_open, hi_open):
        rc, out, err = run([prog] + ([cmd] if cmd else []) + base + [flag, value])
        lines = err.splitlines()
        if value == '0':
            zero_in = inside
        if inside:
            if rc != 2 and 'out of range' not in err and 'finite number' not in err:
                ok('%s %s: accepted (exit %d)' % (name, value, rc))
            else:
                bad('%s %s: in range %s but refused: exit %d, %s' % (name, value, rng, rc,
                                                                     err.strip()[:160]))
            continue
        one_line = len(lines) == 1 and lines[0].startswith(prefix)
        names = one_line and flag in lines[0] and value in lines[0]
        if rc == 2 and one_line and names and rng in lines[0]:
            ok('%s %s: exit 2, %s' % (name, value, lines[0][len(prefix):][:90]))
        else:
            bad('%s %s: outside %s, want exit 2 and one line naming %s, %s and %s; got exit '
                '%d, %r' % (name, value, rng, flag, value, rng, rc, err[:200]))
    if zero_in:
        if re.search(r'\b0 (=|is) ', text):
            ok('%s: 0 is in range and the help says what it means' % name)
        else:
            bad('%s: 0 is in range %s but the help (%r) does not say what 0 means' %
                (name, rng, text))


def main(argv):
    lamina = os.path.abspath(argv[1])
    bench = os.path.abspath(argv[2]) if len(argv) > 2 and argv[2] else None
    tmp = tempfile.mkdtemp(prefix='lamina-ranges.')
    nowhere = os.path.join(tmp, 'does-not-exist')
    # Arguments that make a run with an accepted value stop right after its options are
    # checked (exit 1: the data or file does not exist; info: a tiny model, exit 0).
    base = {
        'train': ['--data', nowhere],
        'eval': ['--load', nowhere],
        'predict': ['--load', nowhere],
        'info': ['--model', 'mlp', '--input', '4'],
        'import': ['--weights', nowhere, '--model', 'mlp', '--input', '4',
                   '--out', os.path.join(tmp, 'out.st')],
        'generate': ['--load', nowhere],
    }
    rc, out, _ = run([lamina, '--help'])
    commands = []
    in_list = False
    for line in out.splitlines():
        in_list = in_list or line == 'commands:'
        m = COMMAND_LINE.match(line) if in_list else None
        if m:
            commands.append(m.group(1))
    if rc == 0 and len(commands) >= 5:
        ok('lamina --help lists %d commands: %s' % (len(commands), ' '.join(commands)))
    else:
        bad('lamina --help: exit %d, commands %r' % (rc, commands))
    programs = [(lamina, c) for c in commands]
    if bench is not None and os.access(bench, os.X_OK):
        programs.append((bench, None))
        base[None] = ['--model', 'no-such-layer']
    else:
        # -Dbench=false, or `meson test` of this test alone before lamina-bench was built
        print('# lamina-bench not built (%s): its flags are not tried' % (bench or '-Dbench=false'))
    total = 0
    for prog, cmd in programs:
        rc, out, _ = run([prog] + ([cmd] if cmd else []) + ['--help'])
        flags = numeric_flags(out)
        label = cmd or 'lamina-bench'
        if rc != 0:
            bad('%s --help: exit %d' % (label, rc))
            continue
        print('# %s: %d numeric flags: %s' % (label, len(flags), ' '.join(f[0] for f in flags)))
        if flags and cmd not in base:
            bad('%s has numeric flags but ranges.py has no base arguments for it: add them'
                % label)
            continue
        for f in flags:
            check_flag(prog, cmd, base[cmd], f)
        total += len(flags)
    # the help format is what finds the flags: if it changes, this test must not pass empty
    if total >= 25:
        ok('%d numeric flags tried' % total)
    else:
        bad('only %d numeric flags found in the --help texts: has their format changed?' % total)
    print('%d passed, %d failed' % (n_pass, n_fail))
    return 1 if n_fail else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
