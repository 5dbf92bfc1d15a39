"""Multi-core scaling of tlsfront alone: `workers = 1` against `workers = 2`, neither pinned, the load
generator with 2 threads (also for the 1-worker runs, so that only the proxy changes), repetitions
interleaved. Per figure: the value, proxy CPU, the value per proxy core-second, the throughput ratio
and the scaling per core-second (2 x per-core-s with 2 workers / per-core-s with 1: what two fully
used cores would give). How the kernel spread the connections over the 2 workers comes from
tlsfront's admin endpoint (`tlsfront_worker_connections_accepted_total{worker}`), before and after
each run."""
import statistics
import time
import urllib.request

from . import peers

FIGURES = ("handshake-ecdsa", "handshake-rsa", "download", "upload")
WORKERS = (1, 2)
THREADS = 2
TARGET = 1.8
ADMIN_PORT_OFFSET = 90  # admin endpoints at port-base + 90 + slot, clear of every proxy's ports


def scrape_worker_accepts(admin):
    """{worker index: connections accepted} from GET /metrics on `admin`, or None when unreachable."""
    try:
        with urllib.request.urlopen(f"http://{admin}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if line.startswith("tlsfront_worker_connections_accepted_total{"):
            labels, value = line.rsplit(" ", 1)
            worker = labels.split('worker="', 1)[1].split('"', 1)[0]
            out[int(worker)] = int(float(value))
    return out


def run(cmp, log):
    """The phase: its own tlsfront instances (one per worker count and certificate); the results entry."""
    from .runner import FIGURES as ALL_FIGURES, rotated
    figures = [f for f in ALL_FIGURES if f["name"] in FIGURES]
    a = cmp.a
    out = {"threads": THREADS, "workers": list(WORKERS), "target": TARGET, "runs": [], "commands": {},
           "figures": figures, "failures": []}
    instances = {}
    for w in WORKERS:
        for key in ("ecdsa", "rsa"):
            slot = 5 + 2 * (w - 1) + (key == "rsa")
            admin = f"{a.addr}:{a.port_base + ADMIN_PORT_OFFSET + slot}"
            inst = cmp.instance("tlsfront", key, slot, f"-w{w}", core=None, workers=w, admin=admin)
            if not peers.port_free(a.addr, a.port_base + ADMIN_PORT_OFFSET + slot):
                out["failures"].append(f"{admin} in use")
                continue
            try:
                cmp.start_instance(inst)
                instances[(w, key)] = inst
                log(f"tlsfront workers={w} {key} up on {inst.connect}, admin {admin} (pid {inst.pid})")
            except Exception as e:
                out["failures"].append(f"tlsfront workers={w} {key}: {e}")
                log(f"FAILED to start tlsfront workers={w} {key}: {e}")
    if (2, "ecdsa") in instances:
        out["config"] = instances[(2, "ecdsa")].config_text
    try:
        for fig in figures:
            out["commands"][fig["name"]] = cmp.bench_template(fig["scenario"], fig["connections"], a.duration,
                                                              fig["extra"], THREADS, None)
            for rep in range(a.reps):
                for w in rotated(list(WORKERS), rep):
                    inst = instances.get((w, fig["key"]))
                    if inst is None or inst.proc.poll() is not None:
                        continue
                    before = scrape_worker_accepts(inst.admin)
                    rec = cmp.run_figure(fig, inst, rep, a.duration, threads=THREADS, core=None,
                                         label=f"scale-workers{w}-{fig['name']}")
                    after = scrape_worker_accepts(inst.admin)
                    rec["workers"] = w
                    if before is not None and after is not None:
                        rec["worker_accepts"] = [after.get(i, 0) - before.get(i, 0) for i in sorted(after)]
                    out["runs"].append(rec)
                    if rec.get("value") is None:
                        log(f"scale-workers {fig['name']} workers={w} rep {rep}: {rec.get('error')}")
                    else:
                        split = f", accepted per worker {rec['worker_accepts']}" if "worker_accepts" in rec else ""
                        log(f"scale-workers {fig['name']:16s} workers={w} rep {rep}: {rec['value']:10.1f} {fig['unit']}, "
                            f"proxy {rec['proxy_cpu_pct']:5.1f}% cpu, per core-s {rec['per_core'] or 0:10.1f}{split}"
                            f"{' errors ' + str(rec['errors']) if rec.get('errors') else ''}")
                    time.sleep(0.3)
    finally:
        for inst in instances.values():
            cmp.stop_instance(inst)
    return out


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def aggregate(sw):
    """Per figure: medians per worker count, ratio, scaling, and the split over the workers."""
    out = {}
    for fig in sw.get("figures", []):
        rows = {}
        for w in sw["workers"]:
            runs = [x for x in sw["runs"] if x["figure"] == fig["name"] and x.get("workers") == w]
            ok = [x for x in runs if x.get("value") is not None]
            rows[w] = {"value": _med(x["value"] for x in ok), "cpu": _med(x["proxy_cpu_pct"] for x in ok),
                       "per_core": _med(x.get("per_core") for x in ok), "values": [x["value"] for x in ok],
                       "core0": _med(x["core0_busy_pct"] for x in ok), "core1": _med(x["core1_busy_pct"] for x in ok),
                       "errors": sum(x.get("errors") or 0 for x in ok), "runs": len(runs), "ok": len(ok)}
        one, two = rows.get(1, {}), rows.get(2, {})
        agg = {"fig": fig, "rows": rows,
               "ratio": two["value"] / one["value"] if one.get("value") and two.get("value") else None,
               "scaling": 2 * two["per_core"] / one["per_core"] if one.get("per_core") and two.get("per_core") else None}
        splits = [x["worker_accepts"] for x in sw["runs"] if x["figure"] == fig["name"] and x.get("workers") == 2
                  and x.get("worker_accepts") and sum(x["worker_accepts"]) > 0]
        if splits:
            totals = [sum(s[i] for s in splits if i < len(s)) for i in range(max(len(s) for s in splits))]
            n = len(totals)
            agg["split"] = {
                "totals": totals, "shares": [t / sum(totals) for t in totals],
                "max_over_min": max(totals) / min(totals) if min(totals) else None,
                # the worst single run: the largest distance of one worker's share from an even 1/n
                "worst_run_deviation": max(max(abs(c / sum(s) - 1 / n) for c in s) for s in splits),
                "runs": len(splits)}
        out[fig["name"]] = agg
    return out


def summary_rows(sw, fmt, verdict):
    rows = []
    for name, a in aggregate(sw).items():
        one, two = a["rows"].get(1, {}), a["rows"].get(2, {})
        rows.append({"what": f"2 workers vs 1, {a['fig']['title']} ({a['fig']['unit']}; tlsfront only, "
                             "scaling = 2 × per-core-s(2) ÷ per-core-s(1))",
                     "tlsfront": fmt(two.get("value")), "best": f"1 worker {fmt(one.get('value'))}",
                     "ratio": a["ratio"], "tlsfront_core": fmt(two.get("per_core")),
                     "best_core": f"1 worker {fmt(one.get('per_core'))}", "ratio_core": a["scaling"],
                     "target": f"≥ {sw.get('target', TARGET):.1f}× (scaling)",
                     "met": verdict(a["scaling"], sw.get("target", TARGET)), "met_raw": "–"})
    return rows


def markdown(sw, fmt, reps):
    if not sw:
        return []
    L = ["## Multi-core scaling: tlsfront, 1 worker against 2\n",
         f"tlsfront alone with `[server] workers = 1` and `workers = 2`, neither pinned (no taskset on the proxy), "
         f"the load generator with `--threads {sw['threads']}` for both (unpinned too, so that only the proxy "
         "changes), the backend on core 1 as everywhere; the two worker counts alternate, "
         f"{reps} repetitions each. The box has 2 cores, so with 2 workers the proxy shares both cores with the "
         "load generator and the backend: the throughput ratio cannot reach 2 here. *Scaling* = 2 × (per "
         "core-second with 2 workers) ÷ (per core-second with 1 worker): what 2 fully used cores would give "
         f"if the per-core efficiency measured with 2 workers held (target ≥ {sw.get('target', TARGET):.1f}×). "
         "Per-worker connection counts: `tlsfront_worker_connections_accepted_total{worker}` from the admin "
         "endpoint (`[server] admin`), read before and after each 2-worker run.\n"]
    L.append("| figure | workers | value | runs (min–max) | proxy CPU | per core-s | core 0 | core 1 | errors | "
             "ratio 2/1 | scaling per core-s | connections per worker (2 workers) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, a in aggregate(sw).items():
        fig = a["fig"]
        for w, row in a["rows"].items():
            spread = f"{fmt(min(row['values']))}–{fmt(max(row['values']))}" if row["values"] else "–"
            last = w == max(a["rows"])
            split = ""
            if last and a.get("split"):
                s = a["split"]
                split = (" / ".join(f"{100 * x:.1f}%" for x in s["shares"]) +
                         f" ({' / '.join(f'{t:,}' for t in s['totals'])} over {s['runs']} runs; max/min "
                         f"{fmt(s['max_over_min'], 3)}, worst run {100 * s['worst_run_deviation']:.1f} points "
                         "from even)")
            L.append(f"| {fig['title']} ({fig['unit']}) | {w} | {fmt(row['value'])} | {spread} | "
                     f"{fmt(row['cpu'], 0)}% | {fmt(row['per_core'])} | {fmt(row['core0'], 0)}% | "
                     f"{fmt(row['core1'], 0)}% | {row['errors']} | "
                     f"{(fmt(a['ratio'], 2) + '×') if last and a['ratio'] else ''} | "
                     f"{(fmt(a['scaling'], 2) + '×') if last and a['scaling'] else ''} | {split} |")
    L.append("")
    from .runner import in_run_order  # runner imports this module
    L.append("Commands: " + "; ".join(f"{k}: `{v}`" for k, v in in_run_order(sw.get("commands", {}))) + ".")
    if sw.get("failures"):
        L.append("Failures: " + "; ".join(sw["failures"]) + ".")
    if sw.get("config"):
        L.append(f"\n<details><summary>tlsfront configuration, 2 workers</summary>\n\n```\n{sw['config'].rstrip()}\n```\n\n</details>")
    L.append("")
    return L
