"""Bulk figures with a client this project did not write: `openssl s_client` processes speaking the
backend's protocol through the proxy (`STREAM n` / `SINK n`, bench/README.md "Backend"), all pinned to
the client core, the whole set timed. Every byte count is checked: `wc -c` counts what a download
delivered, the backend's `OK n` says an upload arrived whole; any other count makes the run an error."""
import os
import signal
import subprocess
import threading
import time

SUITE = "TLS_AES_128_GCM_SHA256"  # the suite every other figure uses (s_client's own default is AES-256)


def s_client_argv(connect):
    return ["openssl", "s_client", "-quiet", "-tls1_3", "-ciphersuites", SUITE, "-servername", "bench.test",
            "-connect", connect]


def shell_command(fig, connect, nbytes, errlog):
    """The pipeline of one process: download counts what arrives with wc -c; upload feeds the SINK
    line and the bytes from head -c (stdin is never at EOF before the bytes are sent; with -quiet,
    which implies -ign_eof, s_client then waits for the proxy)."""
    sc = " ".join(s_client_argv(connect)) + f" 2>>{errlog}"
    if fig["scenario"] == "download":
        return f"printf 'STREAM {nbytes}\\r\\n' | {sc} | wc -c"
    return f"{{ printf 'SINK {nbytes}\\r\\n'; head -c {nbytes} /dev/zero; }} | {sc}"


def command_template(fig, processes, nbytes, core):
    return (f"{processes} x taskset -c {core} sh -c \"" +
            shell_command(fig, "ADDR:PORT", nbytes, "LOG").replace(" 2>>LOG", "") + "\" (all started at once)")


def _children_named(root, name):
    """PIDs under `root` whose command name is `name` (s_client runs as "openssl")."""
    from . import procfs
    out = []
    for pid in procfs.process_tree(root):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == name:
                    out.append(pid)
        except OSError:
            pass
    return out


def _watch(proc, fig, nbytes, slot, deadline):
    """Reads one pipeline's stdout until its answer is complete; fills `slot` with the finishing time
    and what arrived. An upload's s_client never exits on its own (-ign_eof, the backend keeps the
    connection), so once `OK n` is in, that s_client alone is stopped: its shell collects it, and its
    CPU time stays in our children's rusage."""
    got = b""
    want = f"OK {nbytes}\r\n".encode()
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        got += chunk
        if fig["scenario"] == "upload" and (got.endswith(b"\n") or len(got) > 64):
            break
    slot["t"] = time.monotonic()
    slot["out"] = got
    if fig["scenario"] == "upload":
        slot["ok"] = got == want
        for pid in _children_named(proc.pid, "openssl"):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    else:
        text = got.decode(errors="replace").strip()
        slot["count"] = int(text) if text.isdigit() else None
        slot["ok"] = slot["count"] == nbytes


def run_set(fig, connect, processes, nbytes, core, errlog, timeout):
    """Starts `processes` pipelines at once on `core`, waits for all; (seconds from the first start to
    the last answer, per-process results, error text or None)."""
    procs, slots, threads = [], [], []
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    try:
        for _ in range(processes):
            # the shell's own stderr too: it reports the s_client an upload stops ("Terminated")
            with open(errlog, "ab") as err:
                p = subprocess.Popen(["taskset", "-c", str(core), "sh", "-c", shell_command(fig, connect, nbytes, errlog)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                     start_new_session=True)
            slot = {}
            th = threading.Thread(target=_watch, args=(p, fig, nbytes, slot, deadline), daemon=True)
            th.start()
            procs.append(p)
            slots.append(slot)
            threads.append(th)
        for th in threads:
            th.join(max(0.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            p.stdout.close()
    if any("t" not in s for s in slots):
        return None, slots, f"overran {timeout:.0f} s"
    seconds = max(s["t"] for s in slots) - t0
    bad = [i for i, s in enumerate(slots) if not s.get("ok")]
    if bad:
        what = [f"#{i}: {slots[i].get('count', slots[i].get('out'))!r}" for i in bad[:4]]
        return seconds, slots, (f"wrong byte counts in {len(bad)} of {processes} processes "
                                f"(want {nbytes}): " + ", ".join(what))
    return seconds, slots, None


def run_figure(cmp, fig, inst, rep):
    """One measured run of an openssl figure against `inst`: the run record (value None on failure)."""
    from .runner import CLIENT_CORE
    a = cmp.a
    nbytes = a.openssl_bytes
    errlog = os.path.join(cmp.workdir, "runs", f"{fig['name']}-{inst.peer}-{rep}.stderr")
    os.makedirs(os.path.dirname(errlog), exist_ok=True)
    timeout = 60 + fig["connections"] * nbytes / 20e6  # 20 MB/s would be far below any proxy here

    def client():
        seconds, slots, err = run_set(fig, inst.connect, fig["connections"], nbytes, CLIENT_CORE, errlog, timeout)
        return (seconds, err), seconds

    (seconds, err), rec = cmp.measured(inst, client)
    rec.update(figure=fig["name"], rep=rep, exit=0 if err is None else 1, bytes=fig["connections"] * nbytes)
    if err is not None or not seconds:
        rec.update(value=None, error=err or "no time measured")
        return rec
    value = fig["connections"] * nbytes / seconds / 1e6
    rec.update(value=value, completed=fig["connections"], errors=0,
               per_core=(value * 100.0 / rec["proxy_cpu_pct"]) if rec["proxy_cpu_pct"] > 0 else None)
    return rec
