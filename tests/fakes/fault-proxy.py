#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An HTTP proxy in front of one upstream (moto's server) that fails on
demand, for outage tests. POST /_fault with {"mode": "pass" | "503" |
"throttle" | "reset" | "slow"} switches it ("slow": forwarded, then
answered 1.5 s later, for a kill while a request is in flight); GET /_fault/stats tells how many requests
each mode answered. Bodies are passed as they are, headers too (the
signature stays valid: Host is kept)."""
import argparse
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {"mode": "pass", "stats": {}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _count(self, mode):
        with lock:
            state["stats"][mode] = state["stats"].get(mode, 0) + 1

    def _reply(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_fault"):
            if self.command == "POST":
                with lock:
                    state["mode"] = json.loads(body)["mode"]
            with lock:
                out = json.dumps({"mode": state["mode"], "stats": state["stats"]}).encode()
            return self._reply(200, out)
        with lock:
            mode = state["mode"]
        self._count(mode)
        if mode == "reset":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if mode == "503":
            return self._reply(503, b'{"__type":"ServiceUnavailableException","message":"fault-proxy"}',
                               "application/x-amz-json-1.1")
        if mode == "throttle":
            return self._reply(400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}',
                               "application/x-amz-json-1.1")
        conn = http.client.HTTPConnection("127.0.0.1", args.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items()}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if mode == "slow":
            import time
            time.sleep(1.5)
        extra = [(k, v) for k, v in resp.getheaders()
                 if k.lower() not in ("content-length", "content-type", "transfer-encoding", "connection",
                                      "server", "date")]
        self._reply(resp.status, data, resp.getheader("Content-Type") or "application/json", extra)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


parser = argparse.ArgumentParser()
parser.add_argument("--upstream", type=int, required=True)
parser.add_argument("--port-file", required=True)
args = parser.parse_args()
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(args.port_file + ".tmp", args.port_file)
server.serve_forever()
