"""Where each proxy's CPU time goes in the bulk figures. One extra run per proxy and figure under
`perf record -e cpu-clock` (software clock: this VM has no hardware counters; no call graphs, to keep
the overhead small), samples grouped by where they land and turned into milliseconds of proxy CPU
per GiB moved, so the proxies compare term by term."""
import os
import re
import shutil
import signal
import subprocess

FIGURES = ("download", "upload")
CATEGORIES = [
    ("copy", "kernel: copying the bytes to and from user space"),
    ("kernel", "kernel: TCP/IP, loopback delivery, wake-ups, system calls"),
    ("crypto", "crypto library (AES-128-GCM)"),
    ("tls", "TLS library (record layer)"),
    ("libc", "libc (memcpy, malloc)"),
    ("own", "the proxy's own code and event library"),
]
KERNEL_COPY = {"_copy_to_iter", "_copy_from_iter", "copy_user_generic_string", "copy_user_enhanced_fast_string",
               "rep_movs_alternative", "__check_object_size", "check_heap_object", "simple_copy_to_iter",
               "__virt_addr_valid"}
LINE = re.compile(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)")


def category(dso, symbol):
    if dso.startswith("[kernel"):
        return "copy" if symbol in KERNEL_COPY else "kernel"
    base = os.path.basename(dso)
    for prefix, cat in (("libcrypto", "crypto"), ("libssl", "tls"), ("libc.", "libc"), ("libc-", "libc"),
                        ("ld-linux", "libc")):
        if base.startswith(prefix):
            return cat
    return "own"


def shares_of(report_text):
    """Percent of samples per category, and the heaviest symbols, from `perf report --sort dso,sym`."""
    shares = {key: 0.0 for key, _ in CATEGORIES}
    symbols = []
    for line in report_text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pct, dso, symbol = float(m[1]), m[2], m[4]
        shares[category(dso, symbol)] += pct
        symbols.append((pct, f"{os.path.basename(dso)} {symbol}"))
    return shares, sorted(symbols, reverse=True)[:6]


def profiled_run(cmp, fig, inst, perf_data):
    """cmp.run_figure with perf recording the proxy's processes; returns (run record, report text)."""
    pids = ",".join(str(p) for p in inst.pids())
    perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-p", pids, "-o", perf_data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        rec = cmp.run_figure(fig, inst, "profile", cmp.a.duration)
    finally:
        perf.send_signal(signal.SIGINT)
        try:
            perf.wait(timeout=60)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait()
    r = subprocess.run(["perf", "report", "-i", perf_data, "-q", "--no-children", "--sort", "dso,sym",
                        "--stdio"], capture_output=True, text=True, timeout=300)
    return rec, r.stdout


def run(cmp, figures, instances, log):
    """Profiles each bulk figure in `figures` on every started proxy; returns the results entry."""
    if shutil.which("perf") is None:
        return {"skipped": "perf is not installed (Debian package linux-perf)"}
    out = {"command": "perf record -q -e cpu-clock -p PIDS (for the length of one run); "
                      "perf report -q --no-children --sort dso,sym --stdio", "figures": {}}
    for fig in (f for f in figures if f["name"] in FIGURES):
        per_proxy = {}
        for (peer, key), inst in instances.items():
            if key != fig["key"] or inst.proc.poll() is not None:
                continue
            perf_data = os.path.join(cmp.workdir, "runs", f"perf-{fig['name']}-{peer}.data")
            rec, text = profiled_run(cmp, fig, inst, perf_data)
            if not rec.get("value") or not rec.get("proxy_cpu_pct"):
                per_proxy[peer] = {"error": rec.get("error", "no result")}
                continue
            shares, top = shares_of(text)
            if not sum(shares.values()):
                per_proxy[peer] = {"error": "perf recorded no samples (perf_event_paranoid?)"}
                continue
            gib_per_s = rec["value"] * 1e6 / 2**30
            ms_per_gib = 10.0 * rec["proxy_cpu_pct"] / gib_per_s
            per_proxy[peer] = {"value": rec["value"], "proxy_cpu_pct": rec["proxy_cpu_pct"],
                               "ms_per_gib": ms_per_gib, "shares": shares, "top": top}
            log(f"profile {fig['name']:8s} {peer:9s}: {rec['value']:.0f} MB/s, {ms_per_gib:.0f} ms of proxy CPU "
                f"per GiB; " + ", ".join(f"{k} {v:.0f}%" for k, v in shares.items()))
        out["figures"][fig["name"]] = per_proxy
    return out


def ms_by_category(entry):
    """Milliseconds per GiB in each category. perf rounds away a few % in symbols under 0.005% each:
    the shares are scaled to 100% so that the categories add up to the total."""
    total = sum(entry["shares"].values()) or 100.0
    return {k: entry["ms_per_gib"] * v / total for k, v in entry["shares"].items()}


def markdown(profile, proxies, labels):
    """The report section."""
    if not profile:
        return []
    L = ["## Where the proxy's time goes (bulk figures)\n"]
    if profile.get("skipped"):
        return L + [f"Not profiled: {profile['skipped']}.\n"]
    L.append("One more run of each bulk figure per proxy with `perf` sampling the proxy's processes "
             f"(`{profile['command']}`). Each cell is milliseconds of proxy CPU per GiB moved (proxy CPU ÷ "
             "throughput of that run, split by the share of samples); lower is better. Kernel time in this "
             "table is what ran in the proxy's own system calls, which on loopback includes delivering the "
             "bytes into the receiving socket and the wake-up of the process on the other core.\n")
    for name, per_proxy in profile["figures"].items():
        shown = [p for p in proxies if p in per_proxy and "ms_per_gib" in per_proxy[p]]
        if not shown:
            continue
        ms = {p: ms_by_category(per_proxy[p]) for p in shown}
        L.append(f"### {name}\n")
        L.append("| where | " + " | ".join(labels[p] for p in shown) + " |")
        L.append("|---|" + "---:|" * len(shown))
        for key, title in CATEGORIES:
            L.append(f"| {title} | " + " | ".join(f"{ms[p][key]:,.0f}" for p in shown) + " |")
        L.append("| **total (ms of proxy CPU per GiB)** | " +
                 " | ".join(f"**{per_proxy[p]['ms_per_gib']:,.0f}**" for p in shown) + " |")
        L.append("| MB/s in this run (under perf) | " + " | ".join(f"{per_proxy[p]['value']:,.0f}" for p in shown) + " |")
        L.append("")
        peers = [(per_proxy[p]["ms_per_gib"], p) for p in shown if p != "tlsfront"]
        if "tlsfront" in ms and peers:
            best_ms, best = min(peers)
            t, total = ms["tlsfront"], per_proxy["tlsfront"]["ms_per_gib"]
            fixed = t["copy"] + t["crypto"]
            L.append(f"In these profiled runs tlsfront used {total:,.0f} ms per GiB and the best peer "
                     f"({labels[best]}) {best_ms:,.0f}: {best_ms / total:.2f}× per core-second. The copies and "
                     f"AES-GCM, which every proxy pays alike, are {fixed:,.0f} ms of tlsfront's "
                     f"({100 * fixed / total:.0f}%); 2.0× would leave {best_ms / 2 - fixed:,.0f} ms for everything "
                     f"else, which takes {total - fixed:,.0f} ms now (TCP/IP and wake-ups in the kernel "
                     f"{t['kernel']:,.0f}, user space outside the crypto {t['tls'] + t['libc'] + t['own']:,.0f}). "
                     "Heaviest symbols in tlsfront: " +
                     "; ".join(f"{s} {p:.1f}%" for p, s in per_proxy["tlsfront"]["top"]) + ".\n")
    return L
