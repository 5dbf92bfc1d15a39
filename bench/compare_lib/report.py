"""RESULTS.md and results.svg from the raw results (results.json)."""
import os
import statistics
from xml.sax.saxutils import escape

from . import crypto as crypto_lib, latency, profile, scaling

PEER_LABEL = {"tlsfront": "tlsfront", "haproxy": "HAProxy", "nginx": "nginx", "hitch": "hitch",
              "stunnel": "stunnel4"}
COLORS = {"tlsfront": "#e8590c", "haproxy": "#4c6ef5", "nginx": "#2f9e44", "hitch": "#ae3ec9",
          "stunnel": "#868e96"}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits=None):
    if v is None:
        return "–"
    if digits is None:
        digits = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
    return f"{v:,.{digits}f}"


def ratio(a, b):
    return a / b if a is not None and b else None


def classify(run, meta):
    """proxy: the proxy's processes were on their core ~all the time; client: the client core was
    busy ~all the time while the proxy was not (client-bound); neither: each side waited on the other."""
    if run["proxy_cpu_pct"] >= meta.get("bound_threshold", 90.0):
        return "proxy"
    if run["core1_busy_pct"] >= meta.get("client_threshold", 85.0):
        return "client"
    return "neither"


def aggregate(r):
    """Medians per figure and proxy, the best peer and tlsfront's ratios."""
    proxies = r["meta"]["proxies"]
    for x in r["runs"]:
        if x.get("value") is not None:
            x["bound"] = classify(x, r["meta"])
    out = {}
    for fig in r["meta"]["figures"]:
        runs = [x for x in r["runs"] if x["figure"] == fig["name"]]
        if not runs:
            continue
        rows = {}
        for p in proxies:
            pr = [x for x in runs if x["proxy"] == p]
            ok = [x for x in pr if x.get("value") is not None]
            if not pr:
                continue
            bounds = [x["bound"] for x in ok]
            rows[p] = {
                "runs": len(pr), "ok": len(ok),
                "value": med(x["value"] for x in ok), "per_core": med(x.get("per_core") for x in ok),
                "cpu": med(x.get("proxy_cpu_pct") for x in ok), "core1": med(x.get("core1_busy_pct") for x in ok),
                "core0": med(x.get("core0_busy_pct") for x in ok), "client_cpu": med(x.get("client_cpu_pct") for x in ok),
                "other": med(x.get("other_cpu_pct") for x in ok),
                # 0 = no latency samples (the connections were never all open at once): no figure
                "p99": med(x.get("p99_us") or None for x in ok), "p50": med(x.get("p50_us") or None for x in ok),
                "p999": med(x.get("p999_us") or None for x in ok),
                "resumed": med(x.get("resumed_share") for x in ok),
                "errors": sum(x.get("errors") or 0 for x in ok),
                "failed": [x.get("error") for x in pr if x.get("value") is None],
                "bounds": {b: bounds.count(b) for b in sorted(set(bounds))},
                "client_bound": bounds.count("client"), "values": [x["value"] for x in ok],
            }
        peers_only = {p: v for p, v in rows.items() if p != "tlsfront"}
        agg = {"fig": fig, "rows": rows}
        t = rows.get("tlsfront")
        for key, better in (("value", max), ("per_core", max), ("p99", min), ("p999", min)):
            cands = [(v[key], p) for p, v in peers_only.items() if v.get(key) is not None]
            if cands:
                best = better(cands)
                agg[f"best_{key}"] = {"proxy": best[1], "value": best[0]}
                agg[f"ratio_{key}"] = ratio(t.get(key) if t else None, best[0])
        out[fig["name"]] = agg
    idle = {}
    for p in proxies:
        recs = [x for x in r.get("idle", []) if x["proxy"] == p]
        if recs:
            ok = [x for x in recs if x.get("per_conn") is not None]
            idle[p] = {"per_conn": med(x["per_conn"] for x in ok), "rss_before": med(x["rss_before"] for x in ok),
                       "rss_peak": med(x["rss_peak"] for x in ok), "held": med(x.get("held") for x in ok),
                       "rss_hold": med(x.get("rss_hold", x["rss_peak"]) for x in ok),
                       "per_conn_peak": med(x.get("per_conn_peak") for x in ok),
                       "processes": med(x.get("processes") for x in ok), "runs": len(recs), "ok": len(ok),
                       "bench": med(x.get("bench_rss_growth_per_conn") for x in ok),
                       "errors": sum(x.get("errors") or 0 for x in ok),
                       "samples": [x["per_conn"] for x in ok],
                       "failed": [x.get("error") for x in recs if x.get("per_conn") is None]}
    cands = [(v["per_conn"], p) for p, v in idle.items() if p != "tlsfront" and v["per_conn"] is not None]
    if idle:
        out["idle"] = {"rows": idle}
        if cands:
            best = min(cands)
            out["idle"]["best"] = {"proxy": best[1], "value": best[0]}
            t = idle.get("tlsfront", {}).get("per_conn")
            out["idle"]["ratio"] = ratio(t, best[0])
    return out


def verdict(ratio_value, target, lower_better=False):
    if ratio_value is None or target is None:
        return "–"
    ok = ratio_value <= target if lower_better else ratio_value >= target
    return "yes" if ok else "**no**"


# ---- Markdown ---------------------------------------------------------------------------------------

def write(r, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    agg = aggregate(r)
    with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
        f.write(markdown(r, agg))
    with open(os.path.join(out_dir, "results.svg"), "w") as f:
        f.write(svg(r, agg))


def summary_rows(r, agg):
    """(target, tlsfront, best peer, ratio measured, ratio per core-second, target, met) rows."""
    rows = []
    crypto = r.get("crypto", {}).get("bssl", {})
    for name, a in agg.items():
        if name == "idle":
            continue
        fig, t = a["fig"], a["rows"].get("tlsfront", {})
        if fig.get("latency_reps"):
            rows.append(latency.summary_row(r, a, PEER_LABEL, fmt))
            continue
        bv, bc = a.get("best_value"), a.get("best_per_core")
        target = fig.get("target")
        rows.append({
            "what": f"{fig['title']} ({fig['unit']})", "tlsfront": fmt(t.get("value")),
            "tlsfront_core": fmt(t.get("per_core")),
            "best": f"{PEER_LABEL[bv['proxy']]} {fmt(bv['value'])}" if bv else "–",
            "best_core": f"{PEER_LABEL[bc['proxy']]} {fmt(bc['value'])}" if bc else "–",
            "ratio": a.get("ratio_value"), "ratio_core": a.get("ratio_per_core"),
            "target": f"≥ {target:.1f}×" if target else "(no target)",
            "met": verdict(a.get("ratio_per_core"), target), "met_raw": verdict(a.get("ratio_value"), target)})
        ceiling = crypto.get("handshake_ceiling_rsa2048_per_s")
        if fig["name"] == "handshake-rsa" and ceiling and t.get("per_core"):
            share = t["per_core"] / ceiling
            rows.append({"what": "RSA-2048 handshakes per core-second against BoringSSL's RSA-2048 sign + X25519 "
                                 "ceiling (`bssl-tool speed`, same core)", "tlsfront": "", "best": "",
                         "ratio": None, "tlsfront_core": fmt(t["per_core"]), "best_core": f"ceiling {fmt(ceiling)}",
                         "ratio_core": share, "target": "≥ 0.90× (90% of the ceiling)", "met": verdict(share, 0.9),
                         "met_raw": "–"})
        if fig["name"] == "pingpong" and a.get("best_p99"):
            bp = a["best_p99"]
            rows.append({"what": "Ping-pong p99 latency (µs, lower is better)", "tlsfront": fmt(t.get("p99")),
                         "tlsfront_core": "", "best": f"{PEER_LABEL[bp['proxy']]} {fmt(bp['value'])}",
                         "best_core": "", "ratio": a.get("ratio_p99"), "ratio_core": None,
                         "target": "≤ 1.0× (no worse)", "met": verdict(a.get("ratio_p99"), 1.0, True),
                         "met_raw": verdict(a.get("ratio_p99"), 1.0, True)})
    if r.get("scale_workers"):
        rows += scaling.summary_rows(r["scale_workers"], fmt, verdict)
    if "idle" in agg:
        a = agg["idle"]
        t = a["rows"].get("tlsfront", {}).get("per_conn")
        b = a.get("best")
        ok_abs = t is not None and t <= 4096
        rows.append({"what": "Idle memory per established TLS connection (bytes, lower is better)",
                     "tlsfront": fmt(t), "tlsfront_core": "",
                     "best": f"{PEER_LABEL[b['proxy']]} {fmt(b['value'])}" if b else "–", "best_core": "",
                     "ratio": a.get("ratio"), "ratio_core": None, "target": "≤ 0.25× and ≤ 4 KiB",
                     "met": ("yes" if (a.get("ratio") is not None and a["ratio"] <= 0.25 and ok_abs) else "**no**")
                     if t is not None else "–", "met_raw": ""})
    return rows


def markdown(r, agg):
    m, mach, v = r["meta"], r["machine"], r["versions"]
    proxies = m["proxies"]
    L = []
    w = L.append
    w("# tlsfront compared with stunnel4, hitch, HAProxy and nginx\n")
    w(f"Generated by `bench/compare` on {m['date']} (tree `{m['git']}`), {m['elapsed_s'] / 60:.1f} minutes: "
      f"`{m['argv']}`{' — QUICK run, for checking the script only' if m['quick'] else ''}. "
      "Raw data: `results.json`; chart: `results.svg`.\n")
    w("![tlsfront and its peers, normalized to the best peer](results.svg)\n")
    w("## Summary\n")
    w("Ratios are tlsfront ÷ the best peer for that figure. *Per core-second* divides each figure by "
      "the CPU the proxy's own processes used (value × 100 / proxy CPU%), which compares fairly even "
      "when the client core, not the proxy, limited the run; targets are judged both ways. For latency "
      "and memory lower is better, so a ratio below 1.0 is tlsfront ahead.\n")
    w("| figure | tlsfront | best peer | ratio | tlsfront per core-s | best peer per core-s | ratio per core-s | target | met (per core-s) | met (as measured) |")
    w("|---|---:|---:|---:|---:|---:|---:|---|---|---|")
    for row in summary_rows(r, agg):
        w(f"| {row['what']} | {row['tlsfront']} | {row['best']} | {fmt(row['ratio'], 2)}{'×' if row['ratio'] else ''} | "
          f"{row['tlsfront_core']} | {row['best_core']} | "
          f"{fmt(row['ratio_core'], 2) + '×' if row['ratio_core'] is not None else ''} | {row['target']} | "
          f"{row['met'] if row['ratio_core'] is not None else ''} | {row['met_raw'] or row['met']} |")
    w("")
    crypto = r.get("crypto", {})
    b, o = crypto.get("bssl", {}), crypto.get("openssl", {})
    hs = agg.get("handshake-rsa", {}).get("rows", {}).get("tlsfront")
    if hs and b.get("rsa2048_sign_per_s"):
        w(f"RSA-2048 handshakes against the signing ceiling: tlsfront did {fmt(hs['per_core'])} full "
          f"handshakes per core-second; BoringSSL signs {fmt(b['rsa2048_sign_per_s'])} RSA-2048/s on this core "
          f"(`bssl-tool speed`), so tlsfront runs at **{100 * hs['per_core'] / b['rsa2048_sign_per_s']:.0f}%** of the "
          f"bare signing ceiling" + (f" and {100 * hs['per_core'] / b['handshake_ceiling_rsa2048_per_s']:.0f}% of "
                                     f"sign + X25519 ({fmt(b['handshake_ceiling_rsa2048_per_s'])}/s)"
                                     if b.get("handshake_ceiling_rsa2048_per_s") else "") +
          (f". The peers use OpenSSL, which signs {fmt(o['rsa2048_sign_per_s'])} RSA-2048/s on the same core "
           f"({o['rsa2048_sign_per_s'] / b['rsa2048_sign_per_s']:.2f}× BoringSSL)" if o.get("rsa2048_sign_per_s") else "")
          + ".\n")
    w("## Per figure\n")
    w(f"Medians over {m['reps']} runs of {m['duration']} s each (proxies interleaved, rotating order). "
      f"*proxy CPU* = utime+stime of all the proxy's processes over the run; *client core* = core "
      f"{1} busy (user+system+irq+softirq from /proc/stat: load generator, backend and their share of "
      f"loopback networking). *bound*: `proxy` = proxy CPU ≥ {m['bound_threshold']:.0f}%; `client` = "
      f"client core ≥ {m.get('client_threshold', 85.0):.0f}% busy while the proxy was below "
      f"{m['bound_threshold']:.0f}% (a **client-bound** run); "
      "`neither` = neither core saturated (the two sides waiting on each other: io_uring waits count as "
      "iowait, not busy). Counts are runs. Kernel work done in softirq on the proxy core (loopback "
      "delivery) is not in *proxy CPU*, for every proxy alike. *other load* = process time on the two "
      "cores that was neither the proxy's, the load generator's nor the backend's (other work on this "
      "shared machine, kernel threads), in % of one core.\n")
    for name, a in agg.items():
        if name == "idle":
            continue
        fig = a["fig"]
        w(f"### {fig['title']}\n")
        if fig.get("client") == "openssl" and m.get("openssl_client") == "tlsfront-openssl-bulk":
            nb = m.get("openssl_bytes", 0)
            w(f"`tlsfront-openssl-bulk` (bench/openssl_bulk.cpp: OpenSSL 3 as the client's TLS library, "
              f"TLS 1.3 {m.get('openssl_suite')}, a thread and a blocking socket per connection, 256 KiB "
              f"reads and writes) on core 1, {fig['connections']} connections at once, each "
              + ("sending `SINK n` and n" if fig["scenario"] == "upload" else "sending `STREAM n` and receiving n")
              + f" = {nb / 2**20:.0f} MiB, timed from the first connect to the last close; MB/s = all bytes ÷ "
              "that time. Counts are checked (" + ("the backend's `OK n` after exactly n bytes"
                                                    if fig["scenario"] == "upload" else "exactly n bytes before close_notify") +
              "); a run with a wrong count is a failed run. ECDSA certificate. Command: "
              f"`{r['commands'].get(fig['name'], '')}`.\n")
        elif fig.get("client") == "openssl":
            nb = m.get("openssl_bytes", 0)
            w(f"{fig['connections']} `openssl s_client -quiet -tls1_3 -ciphersuites {m.get('openssl_suite')}` processes "
              f"(OpenSSL's own client, not this project's) started at once on core 1, each "
              + ("sending `SINK n` and n" if fig["scenario"] == "upload" else "sending `STREAM n` and receiving n")
              + f" = {nb / 2**20:.0f} MiB, timed from the first start to the last "
              + ("`OK n`" if fig["scenario"] == "upload" else "byte") + "; MB/s = all bytes ÷ that time. Counts "
              "are checked (" + ("the backend's `OK n` after exactly n bytes" if fig["scenario"] == "upload"
                                 else "`wc -c` of what s_client wrote out") +
              "); a run with a wrong count is a failed run. ECDSA certificate. The proxies are mostly idle in "
              "these short runs and their CPU comes in 1/100 s ticks, so per core-second moves by a percent or "
              "two per tick. Command: "
              f"`{r['commands'].get(fig['name'], '')}`.\n")
        else:
            w(f"`tlsfront-bench {fig['scenario']}`, {fig['connections']} connections, 1 client thread, "
              f"{fig['key'].upper()} certificate" + (f", `{' '.join(fig['extra'])}`" if fig["extra"] else "") + ".\n")
        if fig.get("open_loop"):
            w("Open loop: the requests arrive at fixed intervals whatever the proxy does, and each one's latency "
              "runs from its scheduled time, so a stall is measured in full (no coordinated omission). The "
              "schedule starts once the connections are open. The rate is well below every peer's "
              "closed-loop rate at this concurrency, so this is what the proxy adds to a request, not a queue.\n")
        elif fig.get("latency_reps"):
            w("Latency is measured for the requests sent once every connection was open (tlsfront-bench's "
              "`latency_from_s`), for every proxy alike: the opening handshakes are not in it.\n")
        extra_col = {"resume": "resumed", "pingpong": "p50 / p99 / p99.9 µs"}.get(fig["name"].split("-")[0], "")
        w(f"| proxy | {fig['unit']} | runs (min–max) | proxy CPU | per core-s | client core | other load | bound | errors |"
          + (f" {extra_col} |" if extra_col else ""))
        w("|---|---:|---:|---:|---:|---:|---:|---|---:|" + ("---:|" if extra_col else ""))
        for p in proxies:
            row = a["rows"].get(p)
            if not row:
                continue
            bounds = ", ".join(f"{k} {n}" for k, n in row["bounds"].items()) or "–"
            if row["failed"]:
                bounds += f" ({len(row['failed'])} failed)"
            name_cell = f"**{PEER_LABEL[p]}**" if p == "tlsfront" else PEER_LABEL[p]
            spread = f"{fmt(min(row['values']))}–{fmt(max(row['values']))}" if row["values"] else "–"
            cells = [name_cell, fmt(row["value"]), spread, f"{fmt(row['cpu'], 0)}%", fmt(row["per_core"]),
                     f"{fmt(row['core1'], 0)}%", f"{fmt(row['other'], 0)}%" if row["other"] is not None else "–",
                     bounds, str(row["errors"])]
            if extra_col == "resumed":
                cells.append(f"{100 * row['resumed']:.1f}%" if row["resumed"] is not None else "–")
            elif extra_col:
                cells.append(f"{fmt(row['p50'])} / {fmt(row['p99'])} / {fmt(row['p999'])}")
            w("| " + " | ".join(cells) + " |")
        cb = ", ".join(f"{PEER_LABEL[p]} {row['client_bound']} of {row['ok']}"
                       for p, row in a["rows"].items() if row["client_bound"])
        w("")
        w(f"Client-bound runs: {cb or 'none'}.\n")
        t = a["rows"].get("tlsfront")
        if fig.get("client") == "openssl" and t and t["ok"] and t["client_bound"] * 2 > t["ok"]:
            w(f"**The OpenSSL client was the bottleneck for tlsfront**: in {t['client_bound']} of {t['ok']} runs the client "
              f"core was saturated ({fmt(t['core1'], 0)}% busy, median) while tlsfront used {fmt(t['cpu'], 0)}% of "
              "its core. The MB/s column is then the client's limit, not tlsfront's; the per core-second figure "
              "is the one that compares the proxies.\n")
        if fig.get("latency_reps"):
            L.extend(latency.markdown(r, a, PEER_LABEL, fmt))
    L += profile.markdown(r.get("profile"), proxies, PEER_LABEL, r.get("crypto", {}).get("bssl"))
    L += scaling.markdown(r.get("scale_workers"), fmt, m["reps"])
    if "idle" in agg:
        a = agg["idle"]
        w("## Idle memory per established connection\n")
        w(f"{m['idle_connections']} TLS 1.3 connections (ECDSA, one PING/PONG each) opened through a freshly "
          f"started proxy and held {m['idle_hold']} s; RSS = VmRSS summed over all the proxy's processes "
          f"(nginx: master + worker; hitch: manager + worker; stunnel: one process with a thread per "
          f"connection), sampled every 0.2 s: before the connections, then the median of the samples while all "
          f"of them are open and idle (the hold, from the load generator's `open_s` and `hold_s`). The peak, "
          f"which can include handshake state of the opening phase not yet freed, is shown too. "
          f"Median of {m['idle_reps']} fresh starts per proxy. Lower is better. Kernel socket buffers are not "
          f"in these figures.\n")
        w("| proxy | bytes per connection | runs | RSS before | RSS during the hold | peak (per connection) | processes | held | `--pid` figure (main process only, end of hold) |")
        w("|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for p in proxies:
            row = a["rows"].get(p)
            if not row:
                continue
            name_cell = f"**{PEER_LABEL[p]}**" if p == "tlsfront" else PEER_LABEL[p]
            mib = lambda x: f"{x / 2**20:.1f} MiB" if x is not None else "–"
            w(f"| {name_cell} | {fmt(row['per_conn'])} ({row['per_conn'] / 1024:.2f} KiB) | "
              f"{', '.join(fmt(s) for s in row['samples'])} | {mib(row['rss_before'])} | {mib(row['rss_hold'])} | "
              f"{mib(row['rss_peak'])} ({fmt(row['per_conn_peak'], 0)}) | "
              f"{fmt(row['processes'], 0)} | {fmt(row['held'], 0)} | {fmt(row['bench'], 0)} |"
              if row["per_conn"] is not None else f"| {name_cell} | failed: {row['failed']} | | | | | | | |")
        if a.get("ratio") is not None:
            t = a["rows"]["tlsfront"]["per_conn"]
            w(f"\ntlsfront ÷ best peer ({PEER_LABEL[a['best']['proxy']]}): **{a['ratio']:.2f}×** "
              f"(target ≤ 0.25×); tlsfront's own figure {t / 1024:.2f} KiB (target ≤ 4 KiB).\n")
    sc = r.get("scale")
    if sc:
        w("## Memory at scale: tlsfront, one worker\n")
        if sc.get("per_conn") is not None:
            per = sc["per_conn"]
            base = sc["rss_before"]
            per_peak = sc.get("per_conn_peak")
            tcp = (sc["tcp_mem_peak"] - sc["tcp_mem_before"]) if sc.get("tcp_mem_peak") else None
            w(f"{sc['held']} idle TLS 1.3 connections held through one tlsfront worker "
              f"(`{r['commands'].get('scale', '')}`, fd soft limit raised to the hard limit "
              f"{mach['fd_limit'][1]}; the proxy holds two descriptors per connection), "
              f"errors {sc.get('errors', 0)}, all open after {fmt(sc.get('open_s'), 2)} s:\n")
            w("| | value |")
            w("|---|---:|")
            w(f"| RSS before | {base / 2**20:.1f} MiB |")
            w(f"| RSS with {sc['held']} connections (median during the hold) | "
              f"{sc.get('rss_hold', sc['rss_peak']) / 2**20:.1f} MiB (peak {sc['rss_peak'] / 2**20:.1f} MiB) |")
            w(f"| growth per connection | {fmt(per)} bytes ({per / 1024:.2f} KiB) |")
            w(f"| the load generator's own `--pid` reading | {fmt(sc.get('bench_rss_growth_per_conn'))} bytes |")
            if tcp is not None:
                w(f"| kernel TCP memory (`/proc/net/sockstat` `mem` pages, growth at peak; the 4 sockets "
                  f"of each proxied connection: client, proxy's two, backend) | "
                  f"{tcp / 2**20:.1f} MiB, {fmt(tcp / sc['held'])} bytes per connection |")
            proj = base + 100000 * per
            w(f"\n**Projection to 100,000 connections** (linear: RSS before + 100,000 × growth per connection): "
              f"{proj / 2**20:.0f} MiB of tlsfront RSS ({proj / 2**30:.2f} GiB)"
              + (f", plus about {100000 * tcp / sc['held'] / 2**20:.0f} MiB of kernel TCP memory at the same "
                 "rate for the four sockets of each idle proxied connection (two of them the proxy's; it grows "
                 "with queued data)" if tcp else "")
              + ". It needs 200,000+ descriptors in the proxy (`LimitNOFILE=` / `ulimit -n` well above the "
                "20,000 hard limit of these machines), so it cannot be run here.")
            small = agg.get("idle", {}).get("rows", {}).get("tlsfront", {}).get("per_conn")
            if small:
                w(f"The per-connection figure at {sc['held']} connections is {fmt(per)} bytes against "
                  f"{fmt(small)} at {m['idle_connections']} (idle table above): the fixed first-touch costs "
                  "(receive ring, pools) are spread over more connections, so the projection from the larger "
                  "run is the one to use, and it is an upper bound for the marginal cost.")
            w("")
        else:
            w(f"failed: {sc.get('error')}\n")
    if crypto:
        w("## Crypto ceilings of the proxy core\n")
        w(f"Pinned to core 0, median of {crypto.get('reps')} runs. BoringSSL is what tlsfront (and the load "
          "generator) use; OpenSSL 3 is what haproxy, nginx, hitch and stunnel4 use.\n")
        w("| operation | BoringSSL (`bssl-tool speed`) | OpenSSL (`openssl speed`) |")
        w("|---|---:|---:|")
        rows = [("RSA-2048 sign /s", "rsa2048_sign_per_s", 1), ("ECDSA P-256 sign /s", "ecdsa_p256_sign_per_s", 1),
                ("X25519 key generation /s", "x25519_keygen_per_s", 1),
                ("X25519 shared secret /s", "x25519_derive_per_s", 1),
                ("X25519 exchange (both) /s", "x25519_exchange_per_s", 1),
                ("AES-128-GCM seal, 16 KiB, GB/s", "aes128gcm_16k_bytes_per_s", 1e-9),
                ("ceiling: RSA-2048 sign + X25519 /s", "handshake_ceiling_rsa2048_per_s", 1),
                ("ceiling: ECDSA P-256 sign + X25519 /s", "handshake_ceiling_ecdsa_p256_per_s", 1)]
        for label, key, scale in rows:
            bv, ov = b.get(key), o.get(key)
            w(f"| {label} | {fmt(bv * scale if bv else None)} | {fmt(ov * scale if ov else None)} |")
        if not b.get("available", True):
            w(f"\n`bssl-tool` not found: {b.get('note')}.")
        w("\nOpenSSL's X25519 figure is a whole `ecdhx25519` operation (key generation + shared secret). "
          f"Commands: `{b.get('command', '–')}`; `{o.get('command', '–')}`. Individual runs are in "
          "`results.json` (the machine is shared and noisy: the spread between runs is large).\n")
        L += crypto_lib.build_markdown(crypto, fmt)
    w("## Machine and versions\n")
    w(f"- Machine: {mach['nproc']} cores ({mach['cpu_model']}), {mach['memory']}, kernel {mach['kernel']}, "
      f"Debian {mach['debian']}, open files hard limit {mach['fd_limit'][1]}, "
      f"net.ipv4.tcp_tw_reuse = {mach['tcp_tw_reuse']}. Shared with other work: figures move by several "
      "percent between runs" + other_load_note(r) + ".")
    for p in proxies:
        w(f"- {PEER_LABEL[p]}: {v['peers'].get(p, '?')} — TLS library: {v['links'].get(p) or '?'}")
    w(f"- OpenSSL CLI: {v.get('openssl')}")
    w("- Debian packages: " + "; ".join(f"`{x}`" for x in v.get("packages", [])))
    w("")
    w("## Method and exact commands\n")
    w(f"- Everything on loopback (`{r['commands'].get('backend', '').split('--listen ')[-1].split(' ')[0]}` "
      "backend). Certificates: " + r.get("certs", "") + ".")
    w("- Each proxy pinned to core 0 (`taskset -c 0`) with one worker; load generator and backend pinned "
      "to core 1 (`taskset -c 1`), one client thread. One worker per proxy:")
    for p in proxies:
        w(f"  - {PEER_LABEL[p]}: {m['worker_knob'][p]}")
    w("- Every proxy instance was checked before measuring: `openssl s_client -tls1_3 -brief` must report "
      "TLS 1.3 and the expected signature type, then a PING through the proxy must come back PONG from the "
      "backend. Checks: " + "; ".join(f"{k}: {c.get('cipher')}, {c.get('signature')}"
                                     for k, c in sorted(r.get("checks", {}).items()) if "idle" not in k) + ".")
    w("- All peers: TLS 1.2 and 1.3 allowed, session tickets on (their default, explicit where there is a "
      "knob), plain TCP to the backend. Each instance is stopped by PID (SIGTERM, then its process group) "
      f"afterwards; processes left behind at the end: {len(m.get('leftovers', []))}.")
    w(f"- Backend: `{r['commands'].get('backend', '')}`")
    for name in [f["name"] for f in m["figures"]] + ["idle", "scale"]:
        if name in r["commands"]:
            w(f"- {name}: `{r['commands'][name]}`")
    w("- Proxies:")
    for p in proxies:
        if p in r["commands"]:
            w(f"  - `{r['commands'][p]}`")
    if r.get("failures"):
        w("- Failures: " + "; ".join(r["failures"]))
    w("")
    w("<details><summary>Proxy configurations (written by bench/compare from its templates)</summary>\n")
    for p in proxies:
        if p in r["configs"]:
            w(f"{PEER_LABEL[p]}:\n\n```\n{r['configs'][p].rstrip()}\n```\n")
    w("</details>\n")
    w("<details><summary>Every run</summary>\n")
    w("| figure | proxy | rep | value | proxy CPU | client core | core 0 | other load | bound | errors |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for x in r["runs"]:
        if x.get("value") is None:
            w(f"| {x['figure']} | {x['proxy']} | {x['rep']} | failed: {x.get('error', '')[:80]} | | | | | | |")
            continue
        other = f"{x['other_cpu_pct']:.0f}%" if x.get("other_cpu_pct") is not None else "–"
        w(f"| {x['figure']} | {x['proxy']} | {x['rep']} | {fmt(x['value'])} | {x['proxy_cpu_pct']:.0f}% | "
          f"{x['core1_busy_pct']:.0f}% | {x['core0_busy_pct']:.0f}% | {other} | {x['bound']} | {x['errors']} |")
    w("\n</details>\n")
    return "\n".join(L)


def other_load_note(r):
    xs = sorted(x["other_cpu_pct"] for x in r["runs"] if x.get("other_cpu_pct") is not None)
    if not xs:
        return ""
    busy = sum(1 for x in xs if x >= 10)
    m = r["meta"]
    waited = (f"; before each run the script waited while other work used more than "
              f"{m['quiet_threshold']:.0f}% of a core ({m.get('quiet_waited_s', 0):.0f} s of waiting in all, "
              f"budget {m['quiet_wait']} s)" if m.get("quiet_wait") else "")
    return (f"; other load during the runs: median {xs[len(xs) // 2]:.0f}%, max {xs[-1]:.0f}% of a core, "
            f"{busy} of {len(xs)} runs at 10% or more" + waited)


def summary_text(r):
    agg = aggregate(r)
    lines = ["figure | tlsfront | best peer | ratio | ratio per core-s | target | met"]
    for row in summary_rows(r, agg):
        lines.append(f"{row['what']} | {row['tlsfront']} | {row['best']} | {fmt(row['ratio'], 2)} | "
                     f"{fmt(row['ratio_core'], 2)} | {row['target']} | {row['met']}")
    return "\n".join(lines)


# ---- SVG --------------------------------------------------------------------------------------------

def svg(r, agg):
    proxies = r["meta"]["proxies"]
    panels = []
    thr = [(n, a) for n, a in agg.items() if n != "idle" and not a["fig"].get("latency_reps")]

    def norm(a, key, lower=False):
        peers_vals = [row[key] for p, row in a["rows"].items() if p != "tlsfront" and row.get(key)]
        if not peers_vals:
            return {}
        best = min(peers_vals) if lower else max(peers_vals)
        return {p: row[key] / best for p, row in a["rows"].items() if row.get(key)}

    short = {"handshake-rsa": "handshakes RSA-2048", "handshake-ecdsa": "handshakes ECDSA P-256",
             "resume": "resumed handshakes", "download": "download MB/s", "upload": "upload MB/s",
             "pingpong": "ping-pong req/s", "openssl-download": "OpenSSL-client download",
             "openssl-upload": "OpenSSL-client upload"}
    panels.append(("Per proxy core-second (figure × 100 / proxy CPU%), best peer = 1.0 — higher is better",
                   [(short.get(n, n), norm(a, "per_core"), a["fig"].get("target")) for n, a in thr]))
    panels.append(("As measured on the whole 2-core box, best peer = 1.0 — higher is better",
                   [(short.get(n, n), norm(a, "value"), None) for n, a in thr]))
    low = []
    if "pingpong" in agg:
        low.append(("ping-pong p99 latency", norm(agg["pingpong"], "p99", lower=True), 1.0))
    for a in (a for a in agg.values() if a.get("fig", {}).get("latency_reps")):
        conns = f"{a['fig']['connections']} conns" + (", open loop" if a["fig"].get("open_loop") else "")
        low.append((f"p99, {conns}", norm(a, "p99", lower=True), 1.0))
        low.append((f"p99.9, {conns}", norm(a, "p999", lower=True), 1.0))
    if "idle" in agg:
        low.append(("idle memory per connection", norm(agg["idle"], "per_conn", lower=True), 0.25))
    if low:
        panels.append(("Latency and memory, best peer = 1.0 — LOWER is better", low))
    panels = [(t, g) for t, g in panels if any(g_ for _, g_, _ in g)]

    W, ph, top, left = 980, 250, 70, 50
    H = top + len(panels) * (ph + 70) - 30
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="#ffffff"/>',
         f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="17" font-weight="bold">tlsfront vs peers, '
         f'one worker each on one core ({escape(r["meta"]["date"])}{", QUICK" if r["meta"]["quick"] else ""})</text>']
    lx = left
    for p in proxies:
        o.append(f'<rect x="{lx}" y="38" width="14" height="14" fill="{COLORS[p]}"'
                 + (' stroke="#000" stroke-width="1.5"' if p == "tlsfront" else "") + "/>")
        o.append(f'<text x="{lx + 19}" y="50"' + (' font-weight="bold"' if p == "tlsfront" else "") +
                 f'>{PEER_LABEL[p]}</text>')
        lx += 110
    o.append(f'<line x1="{lx + 10}" x2="{lx + 40}" y1="45" y2="45" stroke="#c92a2a" stroke-width="2.5"/>')
    o.append(f'<text x="{lx + 46}" y="50" fill="#c92a2a">tlsfront\'s target ratio</text>')
    y0 = top
    for title, groups in panels:
        vals = [v for _, g, _ in groups for v in g.values()] + [t for _, _, t in groups if t]
        ymax = max(1.2, min(4.0, max(vals) * 1.15)) if vals else 1.2
        ytop, ybot = y0 + 28, y0 + ph
        plot_w = W - left - 20
        o.append(f'<text x="{left}" y="{y0 + 14}" font-size="13" font-weight="bold">{escape(title)}</text>')
        y = lambda v: ybot - (ybot - ytop) * min(v, ymax) / ymax
        step = 0.5 if ymax <= 3 else 1.0
        t = 0.0
        while t <= ymax + 1e-9:
            o.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e9ecef"/>')
            o.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" fill="#495057">{t:.1f}</text>')
            t += step
        o.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(1):.1f}" y2="{y(1):.1f}" stroke="#212529" '
                 'stroke-dasharray="5,4"/>')
        gw = plot_w / max(1, len(groups))
        bw = min(30, (gw - 24) / max(1, len(proxies)))
        for gi, (label, g, target) in enumerate(groups):
            gx = left + gi * gw + (gw - bw * len(proxies)) / 2
            for pi, p in enumerate(proxies):
                v = g.get(p)
                x = gx + pi * bw
                if v is None:
                    o.append(f'<text x="{x + bw / 2:.1f}" y="{ybot - 4}" text-anchor="middle" font-size="9" '
                             'fill="#adb5bd">n/a</text>')
                    continue
                h = ybot - y(v)
                extra = ' stroke="#000" stroke-width="1.5"' if p == "tlsfront" else ""
                o.append(f'<rect x="{x + 1:.1f}" y="{y(v):.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                         f'fill="{COLORS[p]}"{extra}><title>{PEER_LABEL[p]}: {v:.2f}</title></rect>')
                lab = f"{v:.2f}" + ("+" if v > ymax else "")
                o.append(f'<text x="{x + bw / 2:.1f}" y="{y(v) - 4:.1f}" text-anchor="middle" font-size="9"'
                         + (' font-weight="bold"' if p == "tlsfront" else "") + f'>{lab}</text>')
            if target is not None and "tlsfront" in proxies:
                tx = gx + proxies.index("tlsfront") * bw
                o.append(f'<line x1="{tx - 3:.1f}" x2="{tx + bw + 3:.1f}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
                         'stroke="#c92a2a" stroke-width="2.5"/>')
            o.append(f'<text x="{left + gi * gw + gw / 2:.1f}" y="{ybot + 16}" text-anchor="middle"'
                     + (' font-size="10"' if len(groups) > 6 else "") + f'>{escape(label)}</text>')
        o.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{ybot}" y2="{ybot}" stroke="#495057"/>')
        y0 += ph + 70
    o.append("</svg>")
    return "\n".join(o) + "\n"
