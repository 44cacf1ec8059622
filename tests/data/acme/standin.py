#!/usr/bin/python3
"""A stand-in for nginx in the ACME tests, until the nginx module serves
http-01 itself: answers /.well-known/acme-challenge/TOKEN with
TOKEN.THUMBPRINT (the thumbprint kiln stores next to its account key), and
serves the site's current fullchain.pem/privkey.pem over TLS, loaded again
on every connection as a reload would."""
import argparse
import glob
import http.server
import os
import socket
import socketserver
import ssl
import threading


def thumbprint(root):
    for path in sorted(glob.glob(os.path.join(root, "var/lib/kiln/acme/accounts/*/thumbprint"))):
        with open(path) as f:
            return f.read().strip()
    return None


class Challenge(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        prefix = "/.well-known/acme-challenge/"
        tp = thumbprint(self.server.root)
        if not self.path.startswith(prefix) or tp is None:
            self.send_error(404)
            return
        body = ("%s.%s" % (self.path[len(prefix):], tp)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def serve_tls(sock, site_dir):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=tls_one, args=(conn, site_dir), daemon=True).start()


def tls_one(conn, site_dir):
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(site_dir, "fullchain.pem"), os.path.join(site_dir, "privkey.pem"))
        conn.settimeout(5)
        s = ctx.wrap_socket(conn, server_side=True)
        s.recv(4096)
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        s.close()
    except Exception:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--site", required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--port-file", required=True)
    a = p.parse_args()
    httpd = HTTPServer(("127.0.0.1", a.http_port), Challenge)
    httpd.root = a.root
    tls = socket.socket()
    tls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tls.bind(("127.0.0.1", 0))
    tls.listen(16)
    site_dir = os.path.join(a.root, "var/lib/kiln/acme/sites", a.site)
    threading.Thread(target=serve_tls, args=(tls, site_dir), daemon=True).start()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % tls.getsockname()[1])
    os.rename(a.port_file + ".tmp", a.port_file)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
