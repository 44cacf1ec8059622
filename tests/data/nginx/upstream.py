#!/usr/bin/python3
"""A test upstream for nginx's sites: answers every request with what it
received (path and headers) as JSON, and completes WebSocket upgrades with a
101 and then echoes raw bytes back. A request for /slow?s=N (N at most 10)
is answered N seconds late.

    upstream.py --port-file FILE [--name NAME]
"""
import argparse
import base64
import hashlib
import http.server
import json
import socketserver
import time

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.upgrade()
        if self.path.startswith("/slow?s="):
            time.sleep(min(float(self.path[len("/slow?s="):]), 10))
        body = json.dumps({
            "name": self.server.name,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def upgrade(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.connection.settimeout(5)
        try:
            data = self.connection.recv(1024)
            if data:
                self.connection.sendall(data)
        except OSError:
            pass
        self.close_connection = True


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--name", default="upstream")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.name = args.name
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
