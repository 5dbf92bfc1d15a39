#!/usr/bin/env python3
"""Build a man page from its scdoc source: SCDOC INPUT.scd OUTPUT VERSION.

Runs scdoc(1) on the source (with @VERSION@ replaced), then tidies the roff it writes so that
`mandoc -Tlint` has nothing to say about it:

- scdoc 1.11 puts a paragraph macro (.P) after every heading, before every heading and at the
  end of every indented block. mandoc skips those as empty or redundant and warns about each.
  A .P right after .SH/.SS or right before .SH/.SS/.P/the end is dropped (no output changes:
  both mandoc and groff ignore it); a .P right before .RE moves after it, so the blank line
  between two indented entries stays.
- scdoc copies each source line as one roff text line, adding escapes (\\& after each period,
  \\fB...\\fR for bold), so lines pass 80 bytes (a mandoc STYLE message). Text lines in fill mode
  are wrapped at spaces, which roff treats as the same single space; no-fill (.nf) blocks and
  control lines are kept as they are.
"""
import subprocess
import sys

WIDTH = 80
HEADINGS = ('.SH', '.SS')


def is_macro(line, names):
    return any(line == n or line.startswith(n + ' ') for n in names)


def drop_redundant_paragraphs(lines):
    changed = True
    while changed:
        changed = False
        out = []
        i = 0
        while i < len(lines):
            line = lines[i]
            if line == '.P':
                before = out[-1] if out else ''
                after = lines[i + 1] if i + 1 < len(lines) else None
                if is_macro(before, HEADINGS) or after is None or is_macro(after, HEADINGS + ('.P',)):
                    changed = True
                    i += 1
                    continue
                if after == '.RE':
                    out += ['.RE', '.P']
                    changed = True
                    i += 2
                    continue
            out.append(line)
            i += 1
        lines = out
    return lines


def wrap_text_line(line):
    """Split at unescaped spaces into pieces of at most WIDTH bytes (a longer word stays whole).
    A piece must not start with '.' or "'" (a control line): such a break point is skipped."""
    pieces = []
    while len(line.encode()) > WIDTH:
        cut = None
        for pos in range(len(line) - 1, 0, -1):
            if line[pos] != ' ' or line[pos - 1] == '\\' or line[pos + 1:pos + 2] in ('.', "'", ' ', ''):
                continue
            if len(line[:pos].encode()) <= WIDTH:
                cut = pos
                break
        if cut is None:
            break
        pieces.append(line[:cut])
        line = line[cut + 1:]
    pieces.append(line)
    return pieces


def wrap_fill_mode_text(lines):
    out = []
    fill = True
    for line in lines:
        if is_macro(line, ('.nf',)):
            fill = False
        elif is_macro(line, ('.fi',)):
            fill = True
        if fill and not line.startswith(('.', "'")):
            out += wrap_text_line(line)
        else:
            out.append(line)
    return out


def main():
    scdoc, source, output, version = sys.argv[1:5]
    with open(source, encoding='utf-8') as f:
        text = f.read().replace('@VERSION@', version)
    roff = subprocess.run([scdoc], input=text.encode(), capture_output=True, check=False)
    if roff.returncode != 0:
        sys.stderr.write(f'{source}: scdoc failed:\n{roff.stderr.decode(errors="replace")}')
        return 1
    lines = roff.stdout.decode().split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    lines = wrap_fill_mode_text(drop_redundant_paragraphs(lines))
    with open(output, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
