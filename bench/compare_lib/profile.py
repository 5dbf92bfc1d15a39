"""Where each proxy's CPU time goes in the bulk and the full-handshake figures. One extra run per
proxy and figure under `perf record -e cpu-clock` (software clock: this VM has no hardware counters;
no call graphs, to keep the overhead small), samples grouped by where they land and turned into
milliseconds of proxy CPU per GiB moved or microseconds per handshake, so the proxies compare term
by term."""
import os
import re
import shutil
import signal
import subprocess

BULK = ("download", "upload")
HANDSHAKES = ("handshake-rsa", "handshake-ecdsa")
FIGURES = BULK + HANDSHAKES
CATEGORIES = [
    ("copy", "kernel: copying the bytes to and from user space"),
    ("kernel", "kernel: TCP/IP, loopback delivery, wake-ups, system calls"),
    ("crypto", "crypto library (AES-128-GCM)"),
    ("tls", "TLS library (record layer)"),
    ("libc", "libc (memcpy, malloc)"),
    ("own", "the proxy's own code and event library"),
]
# A handshake moves a few KiB: the copies are folded into the kernel's share.
HANDSHAKE_CATEGORIES = [
    ("kernel", "kernel: accept, backend connect, set-up and tear-down of both TCP connections, system calls"),
    ("crypto", "crypto library (signature, X25519, transcript hash, key schedule, tickets)"),
    ("tls", "TLS library (handshake state machine)"),
    ("libc", "libc (malloc, memcpy)"),
    ("own", "the proxy's own code and event library"),
]
CEILING_KEYS = {"handshake-rsa": "handshake_ceiling_rsa2048_per_s", "handshake-ecdsa": "handshake_ceiling_ecdsa_p256_per_s"}
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


def shares_of(report_text, handshake=False):
    """Percent of samples per category, and the heaviest symbols, from `perf report --sort dso,sym`."""
    shares = {key: 0.0 for key, _ in (HANDSHAKE_CATEGORIES if handshake else CATEGORIES)}
    symbols = []
    for line in report_text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pct, dso, symbol = float(m[1]), m[2], m[4]
        cat = category(dso, symbol)
        shares["kernel" if handshake and cat == "copy" else cat] += pct
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


def costs(fig, rec):
    """The run's cost per unit of work: ms of proxy CPU per GiB (bulk), or µs of proxy CPU and of
    load-generator CPU per handshake."""
    if fig["name"] in HANDSHAKES:
        return {"us_per_handshake": 1e4 * rec["proxy_cpu_pct"] / rec["value"],
                "client_us_per_handshake": 1e4 * rec["client_cpu_pct"] / rec["value"]}
    return {"ms_per_gib": 10.0 * rec["proxy_cpu_pct"] / (rec["value"] * 1e6 / 2**30)}


def cost_of(entry):
    return entry.get("ms_per_gib", entry.get("us_per_handshake"))


def run(cmp, figures, instances, log):
    """Profiles each bulk and full-handshake figure in `figures` on every started proxy; returns the
    results entry."""
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
            shares, top = shares_of(text, fig["name"] in HANDSHAKES)
            if not sum(shares.values()):
                per_proxy[peer] = {"error": "perf recorded no samples (perf_event_paranoid?)"}
                continue
            per_proxy[peer] = {"value": rec["value"], "proxy_cpu_pct": rec["proxy_cpu_pct"],
                               "shares": shares, "top": top, **costs(fig, rec)}
            unit = "µs per handshake" if fig["name"] in HANDSHAKES else "ms per GiB"
            log(f"profile {fig['name']:15s} {peer:9s}: {rec['value']:.0f} {fig['unit']}, "
                f"{cost_of(per_proxy[peer]):.0f} {unit} of proxy CPU; " +
                ", ".join(f"{k} {v:.0f}%" for k, v in shares.items()))
        out["figures"][fig["name"]] = per_proxy
    return out


def by_category(entry):
    """The cost (ms per GiB or µs per handshake) in each category. perf rounds away a few % in
    symbols under 0.005% each: the shares are scaled to 100% so that the categories add up to the total."""
    total = sum(entry["shares"].values()) or 100.0
    return {k: cost_of(entry) * v / total for k, v in entry["shares"].items()}


def heaviest(entry):
    return "; ".join(f"{s} {p:.1f}%" for p, s in entry["top"])


def markdown(profile, proxies, labels, crypto=None):
    """The report section; `crypto` is the `bssl-tool speed` entry, for the handshake ceilings."""
    if not profile:
        return []
    L = ["## Where the proxy's time goes\n"]
    if profile.get("skipped"):
        return L + [f"Not profiled: {profile['skipped']}.\n"]
    L.append("One more run of each bulk and full-handshake figure per proxy with `perf` sampling the proxy's "
             f"processes (`{profile['command']}`). Each cell is proxy CPU per unit of work (proxy CPU ÷ "
             "throughput of that run, split by the share of samples): milliseconds per GiB moved, or "
             "microseconds per handshake; lower is better. Kernel time in these tables is what ran in the "
             "proxy's own system calls, which on loopback includes delivering the bytes into the receiving "
             "socket (for a handshake: the other side's share of both TCP handshakes) and the wake-up of the "
             "process on the other core.\n")
    from .runner import in_run_order  # runner imports this module
    for name, per_proxy in in_run_order(profile["figures"]):
        shown = [p for p in proxies if p in per_proxy and cost_of(per_proxy[p]) is not None]
        if shown and name in HANDSHAKES:
            L += handshake_markdown(name, per_proxy, shown, labels, (crypto or {}).get(CEILING_KEYS[name]))
        elif shown:
            L += bulk_markdown(name, per_proxy, shown, labels)
    return L


def table(per_proxy, shown, labels, categories, total_title, extra_rows):
    cost = {p: by_category(per_proxy[p]) for p in shown}
    L = ["| where | " + " | ".join(labels[p] for p in shown) + " |", "|---|" + "---:|" * len(shown)]
    for key, title in categories:
        L.append(f"| {title} | " + " | ".join(f"{cost[p][key]:,.0f}" for p in shown) + " |")
    L.append(f"| **{total_title}** | " + " | ".join(f"**{cost_of(per_proxy[p]):,.0f}**" for p in shown) + " |")
    for title, key in extra_rows:
        L.append(f"| {title} | " + " | ".join(f"{per_proxy[p][key]:,.0f}" for p in shown) + " |")
    return L + [""], cost


def best_peer(per_proxy, shown):
    peers = [(cost_of(per_proxy[p]), p) for p in shown if p != "tlsfront"]
    return min(peers) if peers else (None, None)


def bulk_markdown(name, per_proxy, shown, labels):
    L, ms = table(per_proxy, shown, labels, CATEGORIES, "total (ms of proxy CPU per GiB)",
                  [("MB/s in this run (under perf)", "value")])
    L.insert(0, f"### {name}\n")
    best_ms, best = best_peer(per_proxy, shown)
    if "tlsfront" in ms and best:
        t, total = ms["tlsfront"], per_proxy["tlsfront"]["ms_per_gib"]
        fixed = t["copy"] + t["crypto"]
        L.append(f"In these profiled runs tlsfront used {total:,.0f} ms per GiB and the best peer "
                 f"({labels[best]}) {best_ms:,.0f}: {best_ms / total:.2f}× per core-second. The copies and "
                 f"AES-GCM, which every proxy pays alike, are {fixed:,.0f} ms of tlsfront's "
                 f"({100 * fixed / total:.0f}%); 2.0× would leave {best_ms / 2 - fixed:,.0f} ms for everything "
                 f"else, which takes {total - fixed:,.0f} ms now (TCP/IP and wake-ups in the kernel "
                 f"{t['kernel']:,.0f}, user space outside the crypto {t['tls'] + t['libc'] + t['own']:,.0f}). "
                 f"Heaviest symbols in tlsfront: {heaviest(per_proxy['tlsfront'])}.\n")
    return L


def handshake_markdown(name, per_proxy, shown, labels, ceiling):
    L, us = table(per_proxy, shown, labels, HANDSHAKE_CATEGORIES, "total (µs of proxy CPU per handshake)",
                  [("handshakes/s in this run (under perf)", "value"),
                   ("the load generator's CPU per handshake (µs)", "client_us_per_handshake")])
    L.insert(0, f"### {name}\n")
    if "tlsfront" not in us:
        return L
    t, total = us["tlsfront"], per_proxy["tlsfront"]["us_per_handshake"]
    best_us, best = best_peer(per_proxy, shown)
    text = f"In these profiled runs tlsfront used {total:,.0f} µs per handshake"
    if best:
        text += f" and the best peer ({labels[best]}) {best_us:,.0f}: {best_us / total:.2f}× per core-second"
    text += (f". The crypto library took {t['crypto']:,.0f} µs of it; everything else {total - t['crypto']:,.0f} "
             f"(kernel {t['kernel']:,.0f}, TLS library, libc and tlsfront's own code "
             f"{t['tls'] + t['libc'] + t['own']:,.0f}).")
    if ceiling:
        floor = 1e6 / ceiling
        text += f" BoringSSL's sign + X25519 alone is {floor:,.0f} µs on this core (`bssl-tool speed`)"
        text += (f"; 90% of that ceiling means at most {floor / 0.9:,.0f} µs per handshake in all, "
                 f"{floor / 0.9 - floor:,.0f} µs for everything outside the signature and the key exchange."
                 if name == "handshake-rsa" else ".")
    client = per_proxy["tlsfront"]["client_us_per_handshake"]
    text += (f" The load generator spent {client:,.0f} µs of its core per handshake "
             f"({client / total:.2f}× the proxy's). Heaviest symbols in tlsfront: {heaviest(per_proxy['tlsfront'])}.\n")
    return L + [text]
