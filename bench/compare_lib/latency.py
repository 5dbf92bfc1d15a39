"""Latency judged per repetition (the pingpong figures with `latency_reps`): in each repetition (one
rotation over the proxies, so the runs compared are minutes apart at most), is tlsfront's p99 no
worse than the best peer's p99 of that repetition, and its p99.9 no worse than the best peer's p99.9?
The target is every repetition."""


def per_rep(r, figname):
    """[{rep, tlsfront: run, p99: (best peer, value), p999: (best peer, value), ok}] for each repetition
    with a tlsfront result and at least one peer result. A tlsfront run with errors is not ok."""
    runs = [x for x in r["runs"] if x["figure"] == figname and x.get("value") is not None]
    out = []
    for rep in sorted({x["rep"] for x in runs}, key=str):
        mine = [x for x in runs if x["rep"] == rep]
        t = next((x for x in mine if x["proxy"] == "tlsfront"), None)
        # a run without latency samples (its connections were never all open at once) is no comparison
        peers = [x for x in mine if x["proxy"] != "tlsfront" and x.get("p99_us") and x.get("p999_us")]
        if t is None or t.get("p99_us") is None or t.get("p999_us") is None or not peers:
            continue
        b99 = min(peers, key=lambda x: x["p99_us"])
        b999 = min(peers, key=lambda x: x["p999_us"])
        ok = t["p99_us"] <= b99["p99_us"] and t["p999_us"] <= b999["p999_us"] and not t.get("errors")
        out.append({"rep": rep, "tlsfront": t, "p99": (b99["proxy"], b99["p99_us"]),
                    "p999": (b999["proxy"], b999["p999_us"]), "ok": ok})
    return out


def verdict(reps, planned):
    """(count met, repetitions compared, met?) : met only when every planned repetition was compared."""
    n = sum(1 for x in reps if x["ok"])
    return n, len(reps), n == planned and len(reps) == planned


def summary_row(r, a, labels, fmt):
    """One Summary row for a latency_reps figure `a` (an aggregate() entry)."""
    fig, t = a["fig"], a["rows"].get("tlsfront", {})
    reps = per_rep(r, fig["name"])
    planned = r["meta"]["reps"]
    n, compared, met = verdict(reps, planned)
    b99, b999 = a.get("best_p99"), a.get("best_p999")
    best = "–"
    if b99 and b999:
        best = f"{labels[b99['proxy']]} {fmt(b99['value'])} / {labels[b999['proxy']]} {fmt(b999['value'])}"
    return {"what": f"{fig['title']}: p99 / p99.9 (µs, medians; lower is better)",
            "tlsfront": f"{fmt(t.get('p99'))} / {fmt(t.get('p999'))}", "tlsfront_core": "", "best": best,
            "best_core": "", "ratio": a.get("ratio_p99"), "ratio_core": None,
            "target": f"p99 and p99.9 no worse than the best peer in {planned} of {planned} runs",
            "met": f"{'yes' if met else '**no**'} ({n}/{compared})" if reps else "–", "met_raw": ""}


def markdown(r, a, labels, fmt):
    """The per-repetition table under the figure's own table."""
    reps = per_rep(r, a["fig"]["name"])
    if not reps:
        return []
    n, compared, _ = verdict(reps, r["meta"]["reps"])
    L = ["Per repetition (the best peer for each percentile in that same repetition; the histogram "
         "resolves about 1.6%, so a tie counts as no worse):\n",
         "| rep | tlsfront p99 / p99.9 µs | best peer p99 | best peer p99.9 | tlsfront no worse |",
         "|---:|---:|---:|---:|---|"]
    for x in reps:
        t = x["tlsfront"]
        L.append(f"| {x['rep']} | {fmt(t['p99_us'])} / {fmt(t['p999_us'])} | {labels[x['p99'][0]]} {fmt(x['p99'][1])} | "
                 f"{labels[x['p999'][0]]} {fmt(x['p999'][1])} | {'yes' if x['ok'] else '**no**'}"
                 f"{' (errors)' if t.get('errors') else ''} |")
    L.append(f"\nNo worse in {n} of {compared} repetitions.\n")
    return L
