#!/usr/bin/python3
"""An S3 bucket in another region, for tests/e2e/aws-s3.sh: moto does not
answer a request signed for the wrong region as S3 does.

  s3-redirect.py --port-file F --log L --region R --secret S [--mode M]

A request signed (SigV4, Authorization header) for a region other than R
is answered as S3 answers it, by --mode:
  header  301 PermanentRedirect with x-amz-bucket-region: R (no <Region>)
  body    400 AuthorizationHeaderMalformed with <Region>R</Region> (no
          header)
A request signed for R is checked with botocore's S3SigV4Auth and the
secret S; a wrong signature is 403 SignatureDoesNotMatch. A good one:
  GET /BUCKET?list-type=2...  a ListObjectsV2 page of one key ("p/1",
                              then with continuation-token "p/2", the last)
  GET /BUCKET/KEY             the body "object KEY"
Each request is logged as a JSON line: {"method", "path", "query",
"region" (signed for), "status"}.
"""
import argparse
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ARGS = None


def scope_of(auth):
    """(access key id, region) of an Authorization header, or None."""
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields = dict(p.strip().split("=", 1) for p in auth[17:].split(",") if "=" in p)
    cred = fields.get("Credential", "").split("/")
    return (cred[0], cred[2], fields.get("SignedHeaders", "").split(";"),
            fields.get("Signature", "")) if len(cred) == 5 else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body, headers=()):
        body = body.encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        path, _, query = self.path.partition("?")
        sc = scope_of(self.headers.get("Authorization", ""))
        region = sc[1] if sc else ""
        entry = {"method": self.command, "path": path, "query": query, "region": region}
        if not sc:
            status = 403
            self.answer(403, "<Error><Code>AccessDenied</Code><Message>unsigned</Message></Error>")
        elif region != ARGS.region and ARGS.mode == "header":
            status = 301
            self.answer(301, "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to "
                        "access must be addressed using the specified endpoint.</Message>"
                        "<Endpoint>b.s3.amazonaws.com</Endpoint><Bucket>b</Bucket></Error>",
                        [("x-amz-bucket-region", ARGS.region), ("Content-Type", "application/xml")])
        elif region != ARGS.region:
            status = 400
            self.answer(400, "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header"
                        f" is malformed; the region '{region}' is wrong; expecting '{ARGS.region}'</Message>"
                        f"<Region>{ARGS.region}</Region></Error>", [("Content-Type", "application/xml")])
        elif not self.signature_ok(sc, data):
            status = 403
            self.answer(403, "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we "
                        "calculated does not match the signature you provided.</Message></Error>")
        else:
            status = 200
            self.serve(path, query)
        entry["status"] = status
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def signature_ok(self, sc, data):
        akid, region, signed, signature = sc
        hdrs = {h: self.headers.get(h, "") for h in signed}
        req = AWSRequest(method=self.command, url=f"http://{self.headers.get('Host')}{self.path}", data=data,
                         headers=hdrs)
        req.context["timestamp"] = hdrs.get("x-amz-date", "")
        auth = S3SigV4Auth(Credentials(akid, ARGS.secret), "s3", region)
        want = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
        return want == signature

    def serve(self, path, query):
        q = dict(urllib.parse.parse_qsl(query))
        if q.get("list-type") == "2":
            last = "continuation-token" in q
            key = "p/2" if last else "p/1"
            more = "" if last else "<NextContinuationToken>tok+/=</NextContinuationToken>"
            self.answer(200, "<ListBucketResult><Name>b</Name><IsTruncated>" + ("false" if last else "true") +
                        f"</IsTruncated><Contents><Key>{key}</Key></Contents>{more}</ListBucketResult>",
                        [("Content-Type", "application/xml")])
        else:
            self.answer(200, "object " + path.split("/", 2)[-1], [("ETag", '"e1"')])

    do_GET = do_PUT = do_DELETE = do_HEAD = handle_one


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--mode", choices=["header", "body"], default="header")
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
