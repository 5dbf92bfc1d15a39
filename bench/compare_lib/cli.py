"""Command line of bench/compare."""
import argparse
import json
import os
import sys

from . import peers, profile, report, runner

USAGE = """\
bench/compare [--quick] [--only tlsfront,haproxy,...] [--scenarios handshake,resume,...] [options]
bench/compare --report-only RESULTS_JSON [--output DIR]

Runs tlsfront and its peers (haproxy, nginx stream, hitch, stunnel4; installed from Debian when
missing) with the same certificates, the same `tlsfront-bench backend` and the same client, each
proxy pinned to core 0 with one worker, client and backend on core 1; repeated runs, medians, each
figure also per proxy core-second. Writes RESULTS.md, results.svg and results.json to --output
(default: bench/ for a full run, the work directory for --quick).
"""


def size(text):
    """Bytes, with K, M or G for KiB, MiB, GiB (as tlsfront-bench --bytes)."""
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    return int(text[:-1] if mult > 1 else text) * mult


def parse(argv):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(prog="bench/compare", usage=USAGE,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="1 repetition, 2 s per figure, 500 idle connections, 2000 at scale: checks the script")
    ap.add_argument("--only", default=",".join(peers.PEER_NAMES),
                    help="proxies to run, comma-separated (default: %(default)s)")
    ap.add_argument("--scenarios", default="handshake,resume,download,upload,pingpong,latency,openssl,profile,"
                                           "idle,scale,scale-workers,crypto",
                    help="comma-separated: handshake (= handshake-rsa,handshake-ecdsa), resume, download, "
                         "upload, pingpong, latency (= pingpong-50,pingpong-1000,pingpong-rate-50,pingpong-rate-1000), openssl (= openssl-download,"
                         "openssl-upload: s_client as the client), profile (perf on download, upload and the full handshakes), idle, "
                         "scale, scale-workers (tlsfront, 1 worker against 2), crypto (default: all)")
    ap.add_argument("--reps", type=int, help="repetitions of each figure (default 5; --quick 1)")
    ap.add_argument("--duration", type=int, help="seconds per throughput run (default 5; --quick 2)")
    ap.add_argument("--idle-connections", type=int, help="idle connections per proxy (default 5000; --quick 500)")
    ap.add_argument("--idle-hold", type=int, help="seconds the idle connections are held (default 3)")
    ap.add_argument("--idle-reps", type=int, help="fresh-process idle runs per proxy (default 2; --quick 1)")
    ap.add_argument("--scale-connections", type=int,
                    help="idle connections through tlsfront at scale (default 9000; --quick 2000)")
    ap.add_argument("--scale-hold", type=int, help="seconds held at scale (default 10; --quick 2)")
    ap.add_argument("--openssl-bytes", type=size,
                    help="bytes per OpenSSL-client connection in openssl-download/-upload (K, M, G suffixes; "
                         "default 64M; --quick 32M)")
    ap.add_argument("--quiet-wait", type=int,
                    help="seconds in all (default 600; --quick 0) the script may wait before runs while other "
                         "work on this shared machine keeps a core busy")
    ap.add_argument("--quiet-threshold", type=float, default=15.0,
                    help="%% of a core of other work above which a run waits (default %(default)s)")
    ap.add_argument("--addr", default="127.0.0.77", help="loopback address for everything (default %(default)s)")
    ap.add_argument("--port-base", type=int, default=21100,
                    help="backend port; proxies use port-base+10*i+1..4 (default %(default)s)")
    ap.add_argument("--workdir", default="/tmp/tlsfront-compare", help="configs, certificates, logs, raw JSON")
    ap.add_argument("--output", help="where RESULTS.md, results.svg, results.json go")
    ap.add_argument("--tlsfront", default=os.path.join(repo, "build", "tlsfront"))
    ap.add_argument("--bench", default=os.path.join(repo, "build", "tlsfront-bench"))
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install missing peers")
    ap.add_argument("--report-only", metavar="RESULTS_JSON", help="only rewrite RESULTS.md and results.svg")
    a = ap.parse_args(argv)
    q = a.quick
    for name, full, quick in (("reps", 5, 1), ("duration", 5, 2), ("idle_connections", 5000, 500),
                              ("idle_hold", 3, 1), ("idle_reps", 2, 1), ("scale_connections", 9000, 2000),
                              ("scale_hold", 10, 2), ("quiet_wait", 600, 0),
                              ("openssl_bytes", 64 << 20, 32 << 20)):
        if getattr(a, name) is None:
            setattr(a, name, quick if q else full)
    if a.output is None:
        a.output = a.workdir if q else here
    return a, repo


def main(argv):
    a, repo = parse(argv)
    if a.report_only:
        with open(a.report_only) as f:
            results = json.load(f)
        report.write(results, a.output)
        print(f"wrote {a.output}/RESULTS.md and {a.output}/results.svg", file=sys.stderr)
        return 0
    proxies = [p.strip() for p in a.only.split(",") if p.strip()]
    bad = [p for p in proxies if p not in peers.PEER_NAMES]
    scenarios = []
    for s in (x.strip() for x in a.scenarios.split(",") if x.strip()):
        scenarios += runner.SCENARIO_GROUPS.get(s, [s])
    bad += [s for s in scenarios if s not in runner.ALL_SCENARIOS]
    if bad:
        print(f"bench/compare: unknown: {', '.join(bad)} (proxies: {', '.join(peers.PEER_NAMES)}; "
              f"scenarios: {', '.join(list(runner.SCENARIO_GROUPS) + runner.ALL_SCENARIOS)})", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench/compare: run as root (apt-get, hitch's user switch, nginx)", file=sys.stderr)
        return 2
    for binary in (a.tlsfront, a.bench):
        if not os.access(binary, os.X_OK):
            print(f"bench/compare: {binary} missing: meson compile -C build", file=sys.stderr)
            return 2
    figures = [f for f in runner.FIGURE_NAMES if f in scenarios]
    bench_figures = [f for f in runner.FIGURES if f["name"] in figures and f.get("client") != "openssl"]
    est = len(bench_figures) * a.reps * len(proxies) * (a.duration + 1.5)
    # s_client: 8 processes x --openssl-bytes at ~200 MB/s (s_client-bound), plus start-up and the quiet check
    est += (len(figures) - len(bench_figures)) * a.reps * len(proxies) * (8 * a.openssl_bytes / 200e6 + 1.5)
    est += ("scale-workers" in scenarios and "tlsfront" in proxies) * 4 * 2 * a.reps * (a.duration + 1.5)
    est += ("idle" in scenarios) * a.idle_reps * len(proxies) * (a.idle_hold + 4 + a.idle_connections / 700)
    est += ("scale" in scenarios) * (a.scale_hold + 5 + a.scale_connections / 700)
    est += ("crypto" in scenarios) * (1 if a.quick else 3) * 12
    est += ("profile" in scenarios) * len([f for f in figures if f in profile.FIGURES]) * len(proxies) * \
        (a.duration + 15)
    a.backend_lifetime = int(est * 3 + 900 + a.quiet_wait)
    runner.log(f"proxies {','.join(proxies)}; scenarios {','.join(scenarios)}; {a.reps} rep(s) x {a.duration} s; "
               f"estimated {est / 60:.1f} min")
    cmp = runner.Comparison(a, repo)
    try:
        results = cmp.run(scenarios, proxies)
    except KeyboardInterrupt:
        runner.log("interrupted: everything started here has been stopped")
        return 130
    os.makedirs(a.output, exist_ok=True)
    with open(os.path.join(a.output, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    report.write(results, a.output)
    runner.log(f"done in {results['meta']['elapsed_s'] / 60:.1f} min: {a.output}/RESULTS.md, "
               f"{a.output}/results.svg, {a.output}/results.json")
    print(report.summary_text(results))
    return 0
