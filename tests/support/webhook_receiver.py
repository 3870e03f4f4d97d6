#!/usr/bin/env python3
"""A real webhook receiver for vault-notify's tests (stdlib only).

Verifies each POST's X-Vault-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>) in constant time, rejects a t more than 300 s away, and appends one JSON line
per request to --record: {"ok":true,"ids":[...],"t":T} for an accepted batch (answered 200),
{"ok":false,"why":"..."} for a rejected or deliberately failed one. It can be told to fail:
--fail N (N requests, after the first --ok-first K ones succeeded), --fail-for S (the first S
seconds), with --mode 500 (answer
HTTP 500), drop (close the connection without an answer) or hang (answer nothing for
--hang-seconds, then drop). POST /control from loopback changes these at run time:
{"fail":N,"fail_for":S,"mode":"..."}. Serves https with --cert/--key, else http on 127.0.0.1.
Writes the port it listens on to --port-file once ready.
"""

import argparse
import hashlib
import hmac
import json
import os
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_SKEW_SECONDS = 300


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.secret = bytes.fromhex(open(args.secret_file).read().strip())
        self.record = args.record
        self.ok_first = args.ok_first
        self.fail = args.fail
        self.fail_until = time.monotonic() + args.fail_for
        self.mode = args.mode
        self.hang_seconds = args.hang_seconds

    def write(self, entry):
        with self.lock, open(self.record, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def should_fail(self):
        with self.lock:
            if self.ok_first > 0:
                self.ok_first -= 1
                return None
            if self.fail > 0:
                self.fail -= 1
                return self.mode
            if time.monotonic() < self.fail_until:
                return self.mode
            return None


def verify(secret, header, body, now):
    """Returns None if the signature is good, else why not."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return "malformed signature header"
    t = int(parts["t"])
    if abs(now - t) > MAX_SKEW_SECONDS:
        return "t too far from now"
    expected = hmac.new(secret, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts["v1"]):
        return "bad signature"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the record file is the log
        pass

    def reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_POST(self):
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/control":
            if self.client_address[0] not in ("127.0.0.1", "::1"):
                return self.reply(403, "loopback only")
            c = json.loads(body)
            with state.lock:
                state.fail = c.get("fail", state.fail)
                state.fail_until = time.monotonic() + c.get("fail_for", 0)
                state.mode = c.get("mode", state.mode)
            return self.reply(200, "ok")
        failing = state.should_fail()
        if failing is not None:
            state.write({"ok": False, "why": "told to fail: " + failing})
            if failing == "hang":
                time.sleep(state.hang_seconds)
            if failing in ("drop", "hang"):
                return self.drop()
            return self.reply(500, "failing on purpose")
        why = verify(state.secret, self.headers.get("X-Vault-Signature", ""), body,
                     int(time.time()))
        if why is not None:
            state.write({"ok": False, "why": why})
            return self.reply(401, why)
        try:
            events = json.loads(body)["events"]
            ids = [e["id"] for e in events]
        except (ValueError, KeyError, TypeError):
            state.write({"ok": False, "why": "not a batch"})
            return self.reply(400, "not a batch")
        t = int(self.headers["X-Vault-Signature"].split(",")[0][2:])
        state.write({"ok": True, "ids": ids, "t": t, "events": events})
        self.reply(200, "ok")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--secret-file", required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ok-first", type=int, default=0)
    p.add_argument("--fail", type=int, default=0)
    p.add_argument("--fail-for", type=float, default=0)
    p.add_argument("--mode", choices=["500", "drop", "hang"], default="500")
    p.add_argument("--hang-seconds", type=float, default=5)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
