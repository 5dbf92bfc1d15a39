"""What /proc says about a proxy's processes and the two cores: CPU time, RSS, core busy time."""
import os
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (field 3 onwards), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2:].split()


def process_tree(root):
    """root and every descendant process of it (threads are counted inside their process)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat_fields(pid) is None:
            continue
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(tree)


def cpu_seconds(pids):
    """utime + stime of these processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    return ticks / CLK_TCK


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def rss_sum(pids):
    return sum(rss_bytes(pid) for pid in pids)


def cpuinfo_field(name):
    """The first value of `name` in /proc/cpuinfo ("model name", "flags"); "" when absent."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def core_times():
    """{cpu index: (busy ticks, total ticks, task ticks)} from /proc/stat. Busy =
    user+nice+system+irq+softirq; iowait (io_uring waits show there), idle and steal are not busy.
    Task = user+nice+system: time charged to processes (and kernel threads), not to interrupts."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            parts = line.split()
            v = [int(x) for x in parts[1:9]]
            user, nice, system, idle, iowait, irq, softirq, steal = v
            busy = user + nice + system + irq + softirq
            out[int(parts[0][3:])] = (busy, busy + idle + iowait + steal, user + nice + system)
    return out


def task_seconds(before, after):
    """Process (and kernel thread) time over all cores between two core_times() readings."""
    return sum(after[c][2] - before[c][2] for c in after if c in before) / CLK_TCK


def core_busy_percent(before, after, cpu):
    b0, t0 = before.get(cpu, (0, 0, 0))[:2]
    b1, t1 = after.get(cpu, (0, 0, 0))[:2]
    return 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def tcp_sockstat():
    """TCP line of /proc/net/sockstat: inuse, tw, mem (pages of kernel socket buffers)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                p = line.split()[1:]
                d = dict(zip(p[0::2], (int(x) for x in p[1::2])))
                d["mem_bytes"] = d.get("mem", 0) * PAGE
                return d
    return {}


class RssSampler:
    """Samples the summed VmRSS of a process tree every `interval` s in a thread; keeps the peak."""

    def __init__(self, root, interval=0.2, on_sample=None):
        self.root = root
        self.on_sample = on_sample
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.series = []  # (monotonic time, summed RSS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        pids = process_tree(self.root)
        n = 0
        while not self._stop.is_set():
            if n % 10 == 0:  # a peer may fork a process late (none should)
                pids = process_tree(self.root)
            rss = rss_sum(pids)
            self.series.append((time.monotonic(), rss))
            self.peak = max(self.peak, rss)
            if self.on_sample is not None:
                self.on_sample()
            self.samples += 1
            n += 1
            self._stop.wait(self.interval)

    def median_between(self, t0, t1):
        xs = sorted(r for t, r in self.series if t0 <= t <= t1)
        return xs[len(xs) // 2] if xs else None

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
