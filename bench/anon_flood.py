#!/usr/bin/env python3
"""Anonymous floods against a vaultd on loopback, for scripts/flood_check.sh.

  anon_flood.py methods --port P --ca CA --count N [--first K]   N requests, one per connection,
      each with a made-up 4 KiB method (distinct per request), no client certificate.
  anon_flood.py health --port P --ca CA --seconds S               GET /v1/health, one per
      connection, no client certificate, as fast as 4 threads go, for S seconds.

Loopback only; every loop is bounded in count or time. Prints one JSON line of counts.
"""
import argparse
import json
import socket
import ssl
import threading
import time


def one(ctx, port, request):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(request)
                head = b""
                while b"\r\n" not in head:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    except (OSError, ValueError, IndexError):
        return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["methods", "health"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--threads", type=int, default=4)
    a = p.parse_args()
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.check_hostname = False
    statuses = {}
    lock = threading.Lock()
    next_i = [a.first]
    deadline = time.monotonic() + a.seconds

    def work():
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if a.mode == "methods":
                if i >= a.first + a.count:
                    return
                method = b"M%d" % i + b"A" * 4000
                req = method + b" /v1/devices/mac-1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
            else:
                if time.monotonic() >= deadline:
                    return
                req = b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n"
            status = one(ctx, a.port, req)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    print(json.dumps({"mode": a.mode, "requests": total, "per_s": round(total / elapsed, 1),
                      "statuses": {str(k): v for k, v in sorted(statuses.items())}}))


if __name__ == "__main__":
    main()
