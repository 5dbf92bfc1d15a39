"""Bulk figures with a client whose TLS stack this project did not write, speaking the backend's
protocol through the proxy (`STREAM n` / `SINK n`, bench/README.md "Backend"), pinned to the client
core, the whole set timed. The client is `tlsfront-openssl-bulk` (bench/openssl_bulk.cpp: OpenSSL 3,
a thread and a blocking socket per connection, 256 KiB reads and writes) when it was built next to
tlsfront-bench, else `openssl s_client` processes (OpenSSL's own client, which copies every byte
through a pipe and reads 16 KiB at a time: it is the bottleneck here). Every byte count is checked;
any other count makes the run an error."""
import json
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


def bulk_program(cmp):
    """build/tlsfront-openssl-bulk beside the tlsfront-bench in use, or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(cmp.bench)), "tlsfront-openssl-bulk")
    return path if os.access(path, os.X_OK) else None


def bulk_argv(program, fig, connect, connections, nbytes, core):
    return ["taskset", "-c", str(core), program, fig["scenario"], "--connect", connect, "--connections",
            str(connections), "--bytes", str(nbytes), "--sni", "bench.test"]


def run_program(program, fig, connect, connections, nbytes, core, timeout):
    """(seconds, error text or None) of one tlsfront-openssl-bulk run; its JSON's counts are checked."""
    try:
        out = subprocess.run(bulk_argv(program, fig, connect, connections, nbytes, core), capture_output=True,
                             text=True, timeout=timeout)
        s = json.loads(out.stdout)
    except (subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        return None, f"tlsfront-openssl-bulk: {e}"
    if s.get("errors") or s.get("bytes_total") != connections * nbytes:
        return s.get("seconds"), (f"tlsfront-openssl-bulk: {s.get('errors')} errors, {s.get('bytes_total')} of "
                                  f"{connections * nbytes} bytes: {s.get('first_error')}")
    return s["seconds"], None


def command_template(fig, processes, nbytes, core, program=None):
    if program:
        return " ".join(bulk_argv("build/tlsfront-openssl-bulk", fig, "ADDR:PORT", processes, nbytes, core))
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

    program = bulk_program(cmp)

    def client():
        if program:
            seconds, err = run_program(program, fig, inst.connect, fig["connections"], nbytes, CLIENT_CORE, timeout)
        else:
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
