#!/usr/bin/env python3
"""Idle-connection memory of a running TLS proxy.

Opens N TLS connections through the proxy at --connect (each does one echo exchange, then stays
open and idle), reads the proxy's RSS from /proc/PID/status before and after, and prints the growth
per connection. The backend is an echo server this script runs itself at --backend-port (point the
proxy's listener there). Bounded: N connections, --timeout seconds for the whole run.

    python3 bench/idle_memory.py --pid $(pidof tlsfront) --connect 127.0.0.1:10993 \
        --backend-port 10143 --connections 5000
"""
import argparse
import json
import os
import selectors
import socket
import ssl
import sys
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def echo_backend(port, ready):
    """Line echo backend on 127.0.0.1:port, one selector, no threads per connection."""
    sel = selectors.DefaultSelector()
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ)
    ready.set()
    while True:
        for key, _ in sel.select(timeout=1):
            if key.fileobj is lsock:
                try:
                    conn, _ = lsock.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ)
            else:
                try:
                    data = key.fileobj.recv(65536)
                except (BlockingIOError, ConnectionError):
                    continue
                if not data:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                else:
                    key.fileobj.sendall(data)


def open_idle(host, port, count, deadline):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conns = []
    for i in range(count):
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {i} connections opened before the deadline")
        s = socket.create_connection((host, port), timeout=10)
        t = ctx.wrap_socket(s, server_hostname="idle.test")
        t.sendall(b"ping\r\n")
        got = b""
        while not got.endswith(b"\r\n"):
            chunk = t.recv(64)
            if not chunk:
                raise ConnectionError("proxy closed a connection")
            got += chunk
        conns.append(t)
    return conns


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pid", type=int, required=True, help="proxy process id")
    ap.add_argument("--connect", required=True, help="proxy TLS address host:port")
    ap.add_argument("--backend-port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    host, port = args.connect.rsplit(":", 1)

    ready = threading.Event()
    threading.Thread(target=echo_backend, args=(args.backend_port, ready), daemon=True).start()
    ready.wait(5)
    deadline = time.monotonic() + args.timeout
    # Warm up: the first connections allocate the worker's pools; measure beyond them.
    warm = open_idle(host, int(port), 50, deadline)
    time.sleep(0.5)
    before = rss_kib(args.pid)
    conns = open_idle(host, int(port), args.connections, deadline)
    time.sleep(1.0)
    after = rss_kib(args.pid)
    per_conn = (after - before) * 1024 / args.connections
    print(json.dumps({"connections": args.connections, "rss_before_kib": before, "rss_after_kib": after,
                      "bytes_per_idle_connection": round(per_conn)}))
    for c in conns + warm:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
