#!/usr/bin/python3
"""In front of moto's Route 53, for kiln's dns-01 tests: what moto lacks.

- Every request is passed to moto as it came and moto's answer returned;
  each is recorded (method, target, headers, body) as a JSON line in the
  log, so that a test can check kiln's SigV4 with botocore and what kiln
  asked for.
- Bridge: moto answers DNS questions for nobody. Before answering each
  ChangeResourceRecordSets and each GetChange, the TXT records named
  _acme-challenge.* in all of moto's zones are copied into
  pebble-challtestsrv (its /set-txt and /clear-txt), which Pebble asks: so
  INSYNC means the records are in the DNS the CA uses. Each copied record
  set is logged to the sync log: {"zone", "name", "values"}.
- Faults, set with POST /_fake/config {"throttle": N, "pending": N,
  "error": {"status": 400, "code": "...", "message": "..."}}: the next N
  requests answer 400 Throttling (without reaching moto), the next N
  GetChange say PENDING, every request answers that error.

Start:  r53-front.py --moto URL --challtestsrv URL --log F --sync-log F
        --port 0 --port-file F
Standard library only.
"""

import argparse
import base64
import http.server
import json
import re
import sys
import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"
lock = threading.Lock()
faults = {"throttle": 0, "pending": 0, "error": None}
published = {}  # name -> values, as pebble-challtestsrv has them
args = None


def moto(method, path, body=None):
    # moto's server picks the service by the credential scope.
    scope = "AWS4-HMAC-SHA256 Credential=bridge/20240101/us-east-1/route53/aws4_request, SignedHeaders=host, Signature=0"
    req = urllib.request.Request(args.moto + path, data=body, method=method, headers={"Authorization": scope})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def challtestsrv(path, obj):
    req = urllib.request.Request(args.challtestsrv + path, data=json.dumps(obj).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def find(el, name):
    return el.findall(".//" + NS + name) or el.findall(".//" + name)


def text(el, name):
    found = find(el, name)
    return found[0].text if found else None


def sync():
    """moto's _acme-challenge TXT records -> pebble-challtestsrv."""
    now = {}
    zones = ET.fromstring(moto("GET", "/2013-04-01/hostedzone"))
    for z in find(zones, "HostedZone"):
        zid = text(z, "Id").split("/")[-1]
        rrsets = ET.fromstring(moto("GET", "/2013-04-01/hostedzone/%s/rrset" % zid))
        for rs in find(rrsets, "ResourceRecordSet"):
            name = text(rs, "Name")
            if text(rs, "Type") != "TXT" or not name.lower().startswith("_acme-challenge."):
                continue
            if not name.endswith("."):
                name += "."
            values = [v.text.strip('"') for v in find(rs, "Value")]
            now.setdefault(name, []).extend(values)
            with open(args.sync_log, "a") as f:
                f.write(json.dumps({"zone": zid, "name": name, "values": values}) + "\n")
    for name in set(published) | set(now):
        if published.get(name) == now.get(name):
            continue
        challtestsrv("/clear-txt", {"host": name})
        for v in now.get(name, []):
            challtestsrv("/set-txt", {"host": name, "value": v})
    published.clear()
    published.update(now)


def error_xml(code, message):
    return ("<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
            "<Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
            "<RequestId>fake</RequestId></ErrorResponse>" % (code, message)).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def reply(self, status, body, ctype="text/xml"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/_fake/config":
            with lock:
                faults.update(json.loads(body))
            return self.reply(200, b"{}", "application/json")
        with lock:
            with open(args.log, "a") as f:
                f.write(json.dumps({"method": self.command, "target": self.path,
                                    "headers": [[k, v] for k, v in self.headers.items()],
                                    "body": base64.b64encode(body).decode()}) + "\n")
            if faults["error"]:
                e = faults["error"]
                return self.reply(e.get("status", 400), error_xml(e["code"], e.get("message", "")))
            if faults["throttle"] > 0:
                faults["throttle"] -= 1
                return self.reply(400, error_xml("Throttling", "Rate exceeded"))
            is_change = self.command == "POST" and re.search(r"/rrset/?$", self.path.split("?")[0])
            is_get_change = self.command == "GET" and "/change/" in self.path
            req = urllib.request.Request(args.moto + self.path, data=body or None, method=self.command,
                                         headers={k: v for k, v in self.headers.items()
                                                  if k.lower() not in ("content-length", "connection")})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    status, answer, ctype = r.status, r.read(), r.headers.get("Content-Type", "text/xml")
            except urllib.error.HTTPError as e:
                status, answer, ctype = e.code, e.read(), e.headers.get("Content-Type", "text/xml")
            if (is_change or is_get_change) and status == 200:
                try:
                    sync()
                except Exception as e:  # the test sees the CA fail
                    print("sync failed: %r" % (e,), file=sys.stderr, flush=True)
            if is_get_change and status == 200 and faults["pending"] > 0:
                faults["pending"] -= 1
                answer = answer.replace(b"INSYNC", b"PENDING")
            if is_change and status == 200:
                # AWS says PENDING here; moto says INSYNC at once.
                answer = answer.replace(b"INSYNC", b"PENDING")
        return self.reply(status, answer, ctype)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--moto", required=True)
    p.add_argument("--challtestsrv", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--sync-log", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    args = p.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
