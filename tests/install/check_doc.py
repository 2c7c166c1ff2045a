#!/usr/bin/env python3
"""Check that the code blocks a document copies from the repository are verbatim copies.

A line `<!-- verbatim: PATH -->` (PATH relative to the source root) must be followed by a
fenced code block whose text is exactly the file's. With --write the blocks are rewritten
from the files instead (run it after changing one of them).

Usage: check_doc.py SOURCE_ROOT DOC [--write]
"""
import os
import re
import sys

MARK = re.compile(r'^<!-- verbatim: (\S+) -->$')


def blocks(lines):
    """Yield (path, first, last): the block's body is lines[first:last]."""
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if m is None:
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith('```'):
            raise SystemExit(f'line {i + 1}: a verbatim mark must precede a fenced block')
        end = i + 2
        while end < len(lines) and lines[end] != '```':
            end += 1
        if end == len(lines):
            raise SystemExit(f'line {i + 2}: fenced block not closed')
        yield m.group(1), i + 2, end
        i = end + 1


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    root, doc = sys.argv[1], sys.argv[2]
    write = len(sys.argv) == 4 and sys.argv[3] == '--write'
    with open(doc, encoding='utf-8') as f:
        lines = f.read().split('\n')
    found, bad = 0, []
    # Walk backwards so rewriting a block does not move the ones not yet visited.
    for path, first, last in reversed(list(blocks(lines))):
        found += 1
        with open(os.path.join(root, path), encoding='utf-8') as f:
            want = f.read().rstrip('\n').split('\n')
        if lines[first:last] != want:
            bad.append(path)
            lines[first:last] = want
    if found == 0:
        print(f'FAIL {doc}: no verbatim blocks')
        return 1
    if write:
        with open(doc, 'w', encoding='utf-8') as f:
            f.write('\n'.join(lines))
        print(f'{doc}: rewrote {len(bad)} of {found} blocks')
        return 0
    if bad:
        print(f'FAIL {doc}: blocks differ from ' + ', '.join(reversed(bad)) +
              f' (run {sys.argv[0]} {root} {doc} --write)')
        return 1
    print(f'{doc}: {found} verbatim blocks match their files')
    return 0


if __name__ == '__main__':
    sys.exit(main())
