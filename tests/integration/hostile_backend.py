#!/usr/bin/env python3
"""A plaintext backend in a process of its own (asyncio), for the hostile-load tests: one that can
be SIGKILLed mid-stream and restarted on the same port, and one that does not share the test
process's GIL with the TLS clients when 200 sessions stream at once.

  python3 hostile_backend.py --port P --mode echo|pattern

It prints `LISTENING <port>` once it accepts connections, then, in pattern mode, one line per
connection: `RESULT seed=N expected=BYTES received=BYTES sent=BYTES ok=0|1`.

Modes:
- echo: echoes everything; on EOF it ends its side too.
- pattern: reads a first line `SEED <n> LEN <m>\\n`, then at the same time sends pattern('down', n, m)
  and reads m bytes, whose sha256 must be that of pattern('up', n, m); then closes. A byte that
  belongs to another session, or that came out of order, makes ok=0.

pattern() is imported by the tests, so both ends make the same bytes.
"""
import argparse
import asyncio
import hashlib
import random
import socket
import sys


def pattern(direction, seed, length):
    """The bytes of one direction of one session: seeded by both (str seeds hash the same way in
    every process, whatever PYTHONHASHSEED is)."""
    return random.Random(f'{direction}:{seed}').randbytes(length)


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def pattern_session(reader, writer):
    seed, expected, received, sent = -1, 0, 0, 0
    ok = False
    try:
        line = await asyncio.wait_for(reader.readline(), 30)
        words = line.split()
        if len(words) != 4 or words[0] != b'SEED' or words[2] != b'LEN':
            return
        seed, expected = int(words[1]), int(words[3])

        async def send_all():
            nonlocal sent
            view = memoryview(pattern('down', seed, expected))
            for i in range(0, len(view), 65536):
                writer.write(view[i:i + 65536])
                await writer.drain()
                sent += len(view[i:i + 65536])

        sender = asyncio.ensure_future(send_all())
        digest = hashlib.sha256()
        while received < expected:
            data = await asyncio.wait_for(reader.read(min(262144, expected - received)), 60)
            if not data:
                break
            digest.update(data)
            received += len(data)
        await asyncio.wait_for(sender, 60)
        ok = received == expected and digest.digest() == hashlib.sha256(pattern('up', seed, expected)).digest()
    except (ConnectionError, OSError, asyncio.TimeoutError):
        pass
    finally:
        print(f'RESULT seed={seed} expected={expected} received={received} sent={sent} ok={int(ok)}', flush=True)
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--mode', choices=('echo', 'pattern'), default='echo')
    args = ap.parse_args()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', args.port))
    handler = echo if args.mode == 'echo' else pattern_session
    server = await asyncio.start_server(handler, sock=sock, backlog=1024)
    print(f'LISTENING {args.port}', flush=True)
    async with server:
        await server.serve_forever()


if __name__ == '__main__':
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
