#!/usr/bin/python3
"""A faulty ACME CA for kiln's unit tests: just enough of RFC 8555 (the
directory, newNonce, newAccount) to answer each newAccount with a scripted
fault. Signatures are not checked: the faults are the point. Pebble serves
the real protocol in the end-to-end tests.

Start:  acme-faults.py --port 0 --port-file F

  GET  /dir              the directory
  HEAD /nonce            a Replay-Nonce
  POST /acct             the next answer of the script, the last one
                         repeated: {"status": 503, "retry_after": "7200",
                         "type": "rateLimited", "location": true}
  POST /_fake/script     [answer, ...]: replaces the script, zeroes counts
  GET  /_fake/stats      {"acct": [epoch seconds of each newAccount]}
Standard library only.
"""

import argparse
import http.server
import json
import os
import sys
import threading
import time

lock = threading.Lock()
script = [{"status": 201, "location": True}]
acct_times = []
nonce = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def base(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def reply(self, status, body=b"", headers=None, ctype="application/json"):
        with lock:
            nonce[0] += 1
            n = nonce[0]
        self.send_response(status)
        self.send_header("Replay-Nonce", "nonce-%d" % n)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_HEAD(self):
        self.reply(200 if self.path == "/nonce" else 404)

    def do_GET(self):
        if self.path == "/dir":
            b = self.base()
            d = {"newNonce": b + "/nonce", "newAccount": b + "/acct", "newOrder": b + "/order"}
            self.reply(200, json.dumps(d).encode())
        elif self.path == "/_fake/stats":
            with lock:
                stats = json.dumps({"acct": acct_times}).encode()
            self.reply(200, stats)
        else:
            self.reply(404)

    def do_POST(self):
        global script
        data = self.body()
        if self.path == "/_fake/script":
            with lock:
                script = json.loads(data)
                acct_times.clear()
            self.reply(200, b"{}")
            return
        if self.path != "/acct":
            self.reply(404)
            return
        with lock:
            acct_times.append(time.time())
            a = script[0] if len(script) == 1 else script.pop(0)
        headers = {}
        if a.get("retry_after"):
            headers["Retry-After"] = a["retry_after"]
        if a.get("location"):
            headers["Location"] = self.base() + "/acct/1"
        if a["status"] < 300:
            self.reply(a["status"], b'{"status": "valid"}', headers)
            return
        problem = {"type": "urn:ietf:params:acme:error:" + a.get("type", "serverInternal"), "detail": "scripted"}
        self.reply(a["status"], json.dumps(problem).encode(), headers, "application/problem+json")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    args = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.rename(args.port_file + ".tmp", args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
