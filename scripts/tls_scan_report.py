#!/usr/bin/env python3
"""Read the results of scripts/tls-scan.sh (testssl.sh flat JSON, sslscan XML and text), check
them against tlsfront's TLS policy and write the Markdown summary (docs/tls-scan.md).

  scripts/tls_scan_report.py --results DIR [--summary FILE|-] [--binary PATH] [--tool-testssl PATH]

Exit status 0 when every policy check passes, 1 otherwise (the failures are printed on stderr and
listed in the summary). tests/integration/test_tls_scan.py imports the parsers and checks.

Policy (issue 10):
- testssl.sh: no finding with severity HIGH or CRITICAL, none whose text says "NOT ok" or
  "VULNERABLE"; no rating cap (`grade_cap_reason_*`) and no capped overall grade. (The Debian
  3.0.8 package has no rating section at all: the summary says so.)
- sslscan: SSLv2, SSLv3, TLS 1.0 and TLS 1.1 not enabled; every suite an AEAD (GCM,
  CHACHA20-POLY1305, CCM: no CBC, no SHA-1 MAC); no static RSA key exchange (every TLS 1.2 suite
  ECDHE or DHE); no compression; renegotiation not supported or secure only; not Heartbleed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

LABELS = {  # listener label in tls-scan.sh -> what it is
    'default': 'default settings (min_version 1.2)',
    'tls13': 'min_version = "1.3"',
}
BAD_SEVERITIES = ('HIGH', 'CRITICAL')
SEVERITY_ORDER = ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'WARN', 'OK', 'INFO', 'DEBUG', 'FATAL')
OLD_PROTOCOLS = (('ssl', '2'), ('ssl', '3'), ('tls', '1.0'), ('tls', '1.1'))
AEAD_MARKERS = ('GCM', 'CHACHA20-POLY1305', 'CHACHA20_POLY1305', 'CCM')


# ---------------------------------------------------------------------------------------------
# testssl.sh

def load_testssl(path):
    """The flat JSON (--jsonfile): a list of {id, ip, port, severity, cve, cwe, finding}."""
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict):  # --jsonfile-pretty shape, just in case
        found = []
        for scan in data.get('scanResult', []):
            for section in scan.values():
                if isinstance(section, list):
                    found.extend(x for x in section if isinstance(x, dict))
        data = found
    return [x for x in data if isinstance(x, dict) and 'id' in x]


def testssl_bad_findings(findings):
    """Findings the policy forbids: severity HIGH/CRITICAL, or a text saying NOT ok / VULNERABLE."""
    bad = []
    for x in findings:
        text = str(x.get('finding', ''))
        if (x.get('severity') in BAD_SEVERITIES or 'NOT ok' in text
                or re.search(r'(?<!not )\bVULNERABLE\b', text)):
            bad.append(x)
    return bad


def testssl_rating(findings):
    """(rating entries, cap reasons): the `overall_grade`, `final_score`, `*_score`, `grade_cap_*`
    ids of testssl.sh 3.1+ (3.0.8 writes none)."""
    rating = [x for x in findings if x['id'] in ('overall_grade', 'final_score', 'protocol_support_score',
                                                  'key_exchange_score', 'cipher_strength_score')
              or x['id'].startswith('grade_cap')]
    caps = [x for x in rating if x['id'].startswith('grade_cap_reason')]
    return rating, caps


def testssl_scan_problems(findings):
    """Findings that mean the scan itself did not work (scanProblem, FATAL)."""
    return [x for x in findings if x.get('severity') == 'FATAL' or x['id'] in ('scanProblem', 'scanTime_problem')]


REQUIRED_OK = ('CRIME_TLS', 'secure_client_renego', 'heartbleed', 'CCS', 'SSLv2', 'SSLv3')


NOTES = {  # what the usual LOW/WARN findings mean here
    'engine_problem': '`engine_problem` (WARN): the local OpenSSL has no GOST engine; about the scanner, '
                      'not the server.',
    'sessionresumption_ticket': '`sessionresumption_ticket` (WARN, "connect problem"): testssl.sh 3.0.8 '
                                'runs `s_client -sess_out` with stdin at EOF, which exits before reading '
                                'the TLS 1.3 NewSessionTicket, so its second `-sess_in` connection fails; '
                                'TLS 1.3 resumption works (test_tickets.py, the soak\'s resume chunks).',
    'OCSP_stapling': '`OCSP_stapling` (LOW): no `ocsp_response` is configured in this scan (tlsfront '
                     'staples one when configured: test_ocsp.py).',
    'TLS_session_ticket': '`TLS_session_ticket` (LOW, lifetime hint 172800 s): BoringSSL\'s default TLS 1.3 '
                          'ticket lifetime (2 days), which tlsfront does not set; its own ticket keys '
                          'decrypt for 12 to 24 hours, so an older ticket gets a full handshake.',
}


def testssl_required_missing(findings):
    """Checks that must be there and OK: compression (CRIME_TLS), client renegotiation,
    Heartbleed, CCS, SSLv2 and SSLv3 not offered."""
    out = []
    for ident in REQUIRED_OK:
        rows = by_id(findings, ident)
        if not rows or rows[0].get('severity') != 'OK':
            out.append(f'{ident}: {rows[0].get("severity") + " " + rows[0].get("finding") if rows else "missing"}')
    return out


def client_simulations(findings):
    """{client: result} of testssl.sh's client simulation ('No connection' or 'TLSv1.x CIPHER')."""
    return {x['id'][len('clientsimulation-'):]: x.get('finding', '') for x in findings
            if x['id'].startswith('clientsimulation-')}


def severity_counts(findings):
    counts = {}
    for x in findings:
        counts[x.get('severity', '?')] = counts.get(x.get('severity', '?'), 0) + 1
    return counts


def by_id(findings, ident):
    return [x for x in findings if x['id'] == ident]


# ---------------------------------------------------------------------------------------------
# sslscan

class SslscanResult:
    def __init__(self, xml_path, text_path=None):
        root = ET.parse(xml_path).getroot()
        test = root.find('ssltest')
        if test is None:
            raise ValueError(f'{xml_path}: no <ssltest> (sslscan could not connect?)')
        self.protocols = {(p.get('type'), p.get('version')): p.get('enabled') == '1'
                          for p in test.findall('protocol')}
        self.ciphers = [dict(c.attrib) for c in test.findall('cipher')]
        self.groups = [dict(g.attrib) for g in test.findall('group')]
        self.renegotiation = dict(test.find('renegotiation').attrib) if test.find('renegotiation') is not None else None
        self.compression = dict(test.find('compression').attrib) if test.find('compression') is not None else None
        self.fallback = dict(test.find('fallback').attrib) if test.find('fallback') is not None else None
        self.heartbleed = [dict(h.attrib) for h in test.findall('heartbleed')]
        self.text = ''
        if text_path and os.path.exists(text_path):
            with open(text_path, errors='replace') as f:
                self.text = re.sub(r'\x1b\[[0-9;]*m', '', f.read())

    def compression_untestable(self):
        """Debian's sslscan is built against an OpenSSL without zlib: it says so and writes no
        <compression> element. testssl.sh's CRIME_TLS check (its own ClientHello offering DEFLATE)
        stands in for it then."""
        return self.compression is None and 'does not support compression' in self.text

    def enabled_protocols(self):
        return [f'{t.upper() if t == "ssl" else "TLS"}v{v}' for (t, v), on in self.protocols.items() if on]

    def problems(self):
        out = []
        for key in OLD_PROTOCOLS:
            if self.protocols.get(key):
                out.append(f'{key[0].upper()}v{key[1]} enabled')
        if not self.ciphers:
            out.append('no cipher suite found (sslscan did not get through?)')
        for c in self.ciphers:
            name, version = c.get('cipher', ''), c.get('sslversion', '')
            if not any(m in name for m in AEAD_MARKERS):
                out.append(f'{version} {name}: not an AEAD suite (CBC / SHA-1 MAC)')
            if version in ('TLSv1.2', 'TLSv1.1', 'TLSv1.0') and not re.match(r'(ECDHE|DHE|EDH)-', name):
                out.append(f'{version} {name}: static RSA (or non-ephemeral) key exchange')
        if self.compression is None:
            if not self.compression_untestable():
                out.append('no compression result')
        elif self.compression.get('supported') != '0':
            out.append(f'TLS compression supported: {self.compression}')
        if self.renegotiation is None:
            out.append('no renegotiation result')
        elif self.renegotiation.get('supported') == '1' and self.renegotiation.get('secure') != '1':
            out.append(f'insecure renegotiation supported: {self.renegotiation}')
        for h in self.heartbleed:
            if h.get('vulnerable') != '0':
                out.append(f'Heartbleed: {h}')
        return out

    def text_lines(self, *headings):
        """The text output's lines under the given headings (up to the next blank line)."""
        out = []
        lines = self.text.splitlines()
        for i, line in enumerate(lines):
            if any(line.strip().startswith(h) for h in headings):
                out.append(line.rstrip())
                for nxt in lines[i + 1:]:
                    if not nxt.strip():
                        break
                    out.append(nxt.rstrip())
                out.append('')
        return out


# ---------------------------------------------------------------------------------------------
# the whole result directory

def read_status(path):
    """tls-scan.sh's "EXIT SECONDS" files -> (exit code, seconds)."""
    try:
        with open(path) as f:
            rc, secs = f.read().split()
        return int(rc), int(secs)
    except (OSError, ValueError):
        return None, None


def check_results(results):
    """{label: [problem, ...]} for every listener label scanned, plus 'tlsfront'."""
    problems = {}
    for label in LABELS:
        p = []
        rc, _ = read_status(os.path.join(results, f'testssl-{label}.status'))
        json_path = os.path.join(results, f'testssl-{label}.json')
        if rc is None or rc >= 240:  # 242-255: testssl.sh's ERR_* (bad options, no connection, ...)
            p.append(f'testssl.sh failed: exit {rc} (see testssl-{label}.stderr)')
        if not os.path.exists(json_path):
            p.append(f'testssl.sh wrote no JSON (exit {rc})')
        else:
            findings = load_testssl(json_path)
            for x in testssl_scan_problems(findings):
                p.append(f'testssl.sh scan problem: {x["id"]} {x.get("severity")}: {x.get("finding")}')
            for x in testssl_bad_findings(findings):
                p.append(f'testssl.sh {x["id"]} [{x.get("severity")}]: {x.get("finding")}')
            for m in testssl_required_missing(findings):
                p.append(f'testssl.sh required check not OK: {m}')
            _, caps = testssl_rating(findings)
            for x in caps:
                p.append(f'testssl.sh rating cap {x["id"]}: {x.get("finding")}')
        xml_path = os.path.join(results, f'sslscan-{label}.xml')
        src, _ = read_status(os.path.join(results, f'sslscan-{label}.status'))
        if src != 0:
            p.append(f'sslscan failed: exit {src} (see sslscan-{label}.txt)')
        if not os.path.exists(xml_path):
            p.append('sslscan wrote no XML')
        else:
            try:
                scan = SslscanResult(xml_path, os.path.join(results, f'sslscan-{label}.txt'))
                p.extend('sslscan: ' + s for s in scan.problems())
            except (ValueError, ET.ParseError) as e:
                p.append(f'sslscan: {e}')
        problems[label] = p
    tf = []
    try:
        with open(os.path.join(results, 'tlsfront.exit')) as f:
            exit_text = f.read().strip()
    except OSError:
        exit_text = 'unknown'
    if exit_text != '0':
        tf.append(f'tlsfront exited with {exit_text} after SIGTERM (expected 0)')
    log = _read(os.path.join(results, 'tlsfront.log'))
    for marker in ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'):
        if marker in log:
            tf.append(f'sanitizer report in the tlsfront log: {marker}')
    problems['tlsfront'] = tf
    return problems


def _read(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def close_reasons(log_text):
    counts = {}
    for line in log_text.splitlines():
        if 'event=close' in line:
            m = re.search(r'\breason=(\S+)', line)
            key = m.group(1) if m else '?'
            counts[key] = counts.get(key, 0) + 1
    return counts


def close_errors(log_text, reason='handshake_failed'):
    counts = {}
    for line in log_text.splitlines():
        if 'event=close' in line and f'reason={reason}' in line:
            m = re.search(r'\berror=("[^"]*"|\S+)', line)
            key = m.group(1).strip('"') if m else '-'
            counts[key] = counts.get(key, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------
# Markdown

def _finding_table(findings, ids):
    rows = []
    for ident in ids:
        for x in by_id(findings, ident):
            rows.append(f'| `{ident}` | {x.get("severity", "")} | {str(x.get("finding", "")).replace("|", "/")} |')
    return rows


def write_summary(results, out, binary='', testssl_path=''):
    problems = check_results(results)
    lines = ['# TLS scan of tlsfront', '',
             'Written by `scripts/tls-scan.sh` (do not edit: run it again). tlsfront with an RSA-2048',
             'certificate and an ECDSA P-256 `alt_cert`, two IMAP listeners: the default TLS settings',
             'and `min_version = "1.3"`, in front of a greeting + echo backend; `testssl.sh` (the',
             'default run: protocols, cipher categories, forward secrecy, server preference and',
             'defaults, every vulnerability check, client simulation; offline: `--nodns none`, no',
             '`--phone-out`, the test CA given with `--add-ca`) and `sslscan` against each.',
             'The policy checks are those of `scripts/tls_scan_report.py` (and',
             '`tests/integration/test_tls_scan.py`).', '']
    versions = []
    if binary:
        versions.append(f'tlsfront: `{_version([binary, "--version"])}`')
    m = re.search(r'^## version testssl: (\S+)', _read(os.path.join(results, 'testssl-default.log')), re.M)
    versions.append(f'testssl.sh: `{m.group(1) if m else "unknown"}`' + (f' ({testssl_path})' if testssl_path else ''))
    sslscan_version = _version(['sslscan', '--version'], pattern=r'([0-9]+\.[0-9]+\.[0-9]+)')
    versions.append(f'sslscan: `{sslscan_version}`')
    versions.append(f'OpenSSL (testssl.sh, sslscan): `{_version(["openssl", "version"])}`')
    lines += ['- ' + v for v in versions] + ['']
    all_ok = all(not p for p in problems.values())
    lines += [f'**Result: {"every policy check passes" if all_ok else "POLICY CHECKS FAILED"}.**', '']
    for label, what in LABELS.items():
        lines += [f'## Listener `{label}`: {what}', '']
        rc, secs = read_status(os.path.join(results, f'testssl-{label}.status'))
        src, ssecs = read_status(os.path.join(results, f'sslscan-{label}.status'))
        lines += [f'testssl.sh exit {rc} in {secs} s (below 240 its exit status is the sum of its checks\' '
                  f'return codes, not an error); sslscan exit {src} in {ssecs} s.', '']
        if problems[label]:
            lines += ['Policy failures:', ''] + [f'- {p}' for p in problems[label]] + ['']
        else:
            lines += ['Policy: no failure.', '']
        json_path = os.path.join(results, f'testssl-{label}.json')
        if os.path.exists(json_path):
            findings = load_testssl(json_path)
            counts = severity_counts(findings)
            lines += ['### testssl.sh', '',
                      'Findings by severity: ' + ', '.join(f'{s} {counts[s]}' for s in SEVERITY_ORDER if s in counts)
                      + f' ({len(findings)} in all).', '']
            lines += ['| id | severity | finding |', '|---|---|---|']
            lines += _finding_table(findings, ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1', 'TLS1_2', 'TLS1_3', 'ALPN'])
            lines += _finding_table(findings, sorted({x['id'] for x in findings if x['id'].startswith('cipherlist_')}))
            lines += _finding_table(findings, sorted({x['id'] for x in findings if x['id'].startswith('cipherorder_')}))
            lines += _finding_table(findings, ['cipher_order', 'FS', 'FS_ciphers', 'FS_ECDHE_curves',
                                               'secure_renego', 'secure_client_renego', 'CRIME_TLS',
                                               'fallback_SCSV', 'heartbleed', 'CCS', 'ROBOT', 'TLS_session_ticket',
                                               'sessionresumption_ticket', 'sessionresumption_ID'])
            not_ok = [x for x in findings if x.get('severity') not in ('OK', 'INFO', 'DEBUG')]
            lines += ['', 'Every finding not OK/INFO (LOW and up, WARN):', '']
            if not_ok:
                lines += ['| id | severity | finding |', '|---|---|---|']
                lines += [f'| `{x["id"]}` | {x.get("severity")} | {str(x.get("finding", "")).replace("|", "/")} |'
                          for x in not_ok]
            else:
                lines.append('none.')
            notes = [NOTES[ident.split(' ')[0]] for ident in dict.fromkeys(x['id'] for x in not_ok)
                     if ident.split(' ')[0] in NOTES]
            if notes:
                lines += ['', 'About those:', ''] + [f'- {n}' for n in dict.fromkeys(notes)]
            sims = client_simulations(findings)
            connected = {k: v for k, v in sims.items() if v.startswith('TLS')}
            lines += ['', f'Client simulation: {len(connected)} of {len(sims)} simulated clients connect: '
                      + ', '.join(f'{k} ({v})' for k, v in connected.items()) + '. "No connection" for '
                      + ', '.join(k for k in sims if k not in connected) + ': browsers and HTTP '
                      'clients offer ALPN `h2`/`http/1.1` without `imap`, which the listener refuses with '
                      'no_application_protocol (the ALPACA defence), the others only protocol versions '
                      'below the listener\'s minimum (the close lines\' causes are counted below).']
            rating, caps = testssl_rating(findings)
            lines += ['', '#### Rating', '']
            if rating:
                lines += [f'- `{x["id"]}`: {x.get("finding")}' for x in rating]
                lines.append(f'- grade caps: {len(caps)}')
            else:
                lines.append('testssl.sh 3.0.8 (Debian 12) has no rating section: it came with 3.1/3.2. '
                             'No `overall_grade` and no `grade_cap_reason_*` entry, so there is nothing '
                             'capped to report; the severity checks above are the policy.')
            lines.append('')
        xml_path = os.path.join(results, f'sslscan-{label}.xml')
        if os.path.exists(xml_path):
            try:
                s = SslscanResult(xml_path, os.path.join(results, f'sslscan-{label}.txt'))
            except (ValueError, ET.ParseError) as e:
                lines += ['### sslscan', '', f'unreadable: {e}', '']
            else:
                lines += ['### sslscan', '', '```']
                lines += s.text_lines('SSL/TLS Protocols:', 'TLS Fallback SCSV:', 'TLS renegotiation:',
                                      'TLS Compression:', 'Heartbleed:', 'Supported Server Cipher(s):',
                                      'Server Key Exchange Group(s):')
                while lines and lines[-1] == '':
                    lines.pop()
                lines += ['```', '']
    log = _read(os.path.join(results, 'tlsfront.log'))
    reasons = close_reasons(log)
    errors = close_errors(log)
    lines += ['## tlsfront', '',
              f'Connections the scans made: {sum(reasons.values())} close lines; reasons: '
              + ', '.join(f'{k} {v}' for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])) + '.', '',
              'Refused handshakes by cause (`error=` of the close lines): '
              + ', '.join(f'{k} {v}' for k, v in sorted(errors.items(), key=lambda kv: -kv[1])) + '.', '']
    if problems['tlsfront']:
        lines += [f'- {p}' for p in problems['tlsfront']] + ['']
    else:
        lines += ['Exit status 0 after SIGTERM, no sanitizer report.', '']
    text = '\n'.join(lines)
    if out == '-':
        sys.stdout.write(text)
    else:
        with open(out, 'w') as f:
            f.write(text)
    return problems


def _version(cmd, pattern=None):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        text = re.sub(r'\x1b\[[0-9;]*m', '', out.stdout + out.stderr)
    except (OSError, subprocess.TimeoutExpired):
        return 'unknown'
    if pattern:
        m = re.search(pattern, text)
        return m.group(1) if m else 'unknown'
    return text.strip().splitlines()[0] if text.strip() else 'unknown'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--results', required=True)
    ap.add_argument('--summary', default='-')
    ap.add_argument('--binary', default='')
    ap.add_argument('--tool-testssl', default='')
    args = ap.parse_args()
    problems = write_summary(args.results, args.summary, args.binary, args.tool_testssl)
    failed = [(k, p) for k, ps in problems.items() for p in ps]
    for label, p in failed:
        print(f'[tls-scan] POLICY {label}: {p}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
