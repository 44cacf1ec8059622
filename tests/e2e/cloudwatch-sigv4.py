#!/usr/bin/python3
"""kiln's SigV4 against botocore's, over generated requests (TAP).

Each request is random: method, a path with reserved, unreserved, encoded
and non-ASCII characters and dot segments, repeated and unsorted query
keys, header values with runs of spaces and tabs, repeated headers,
headers botocore leaves unsigned, a body, with and without a session
token. kiln signs it through `kiln debug sigv4`; botocore (Debian's
python3-botocore) signs the same request; the canonical request, the string
to sign and the Authorization header must be equal.

usage: cloudwatch-sigv4.py KILN [COUNT] [SEED]
"""
import datetime
import os
import random
import subprocess
import sys
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KILN = sys.argv[1]
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 300
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 20240501

rng = random.Random(SEED)
PATH_CHARS = "abcXYZ019-._~!$&'()*+,;=:@ "
SEGMENTS = ["", ".", "..", "a", "b c", "%41", "%2F", "é", "ü€", "x+y", "a=b", "~user", "dir", "café", "*"]
VALUE_CHARS = "abcdefXYZ0123456789-_.~ /+=&?%:@é"


def enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def gen_path():
    if rng.random() < 0.1:
        return "/"
    parts = []
    for _ in range(rng.randint(1, 5)):
        seg = rng.choice(SEGMENTS) if rng.random() < 0.5 else \
            "".join(rng.choice(PATH_CHARS) for _ in range(rng.randint(1, 6)))
        parts.append(urllib.parse.quote(seg, safe="-_.~!$'()*,;:@%"))
    path = "/" + "/".join(parts)
    if rng.random() < 0.2:
        path += "/"
    if rng.random() < 0.1:
        path = path.replace("/", "//", 1)
    return path


def gen_query():
    if rng.random() < 0.3:
        return ""
    keys = ["Action", "Version", "a", "B", "b", "key with space", "x-y", "Z", "é", "list.member.1", "list.member.10",
            "list.member.2"]
    pairs = []
    for _ in range(rng.randint(1, 8)):
        k = rng.choice(keys)
        v = "".join(rng.choice(VALUE_CHARS) for _ in range(rng.randint(0, 8)))
        pairs.append((k, v))
        if rng.random() < 0.2:
            pairs.append((k, v + "2"))      # repeated key
    rng.shuffle(pairs)
    return "&".join(enc(k) + "=" + enc(v) for k, v in pairs)


def gen_headers(host):
    hdrs = [("Host", host)]
    pool = [
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", "GraniteServiceVersion20100801.PutMetricData"),
        ("X-Custom", "  runs   of    spaces  "),
        ("x-custom-tab", "\ttab\t\tand  space "),
        ("X-Multi", "one"),
        ("User-Agent", "test/1.0"),
        ("Expect", "100-continue"),
        ("X-Amzn-Trace-Id", "Root=1-abc"),
        ("Accept", "*/*"),
        ("Content-Encoding", "gzip"),
        ("My-Header", "a,b,  c"),
    ]
    for name, value in rng.sample(pool, rng.randint(0, len(pool))):
        hdrs.append((name, value))
        if name == "X-Multi" and rng.random() < 0.5:
            hdrs.append(("x-multi", "  two   words "))
    rng.shuffle(hdrs)
    return hdrs


def gen_request(i):
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
    host = rng.choice(["monitoring.us-east-1.amazonaws.com", "127.0.0.1:8123", "example.com"])
    path = gen_path()
    query = gen_query()
    target = path + ("?" + query if query else "")
    body = b""
    if method in ("POST", "PUT", "PATCH") and rng.random() < 0.8:
        body = "".join(rng.choice(VALUE_CHARS) for _ in range(rng.randint(0, 200))).encode()
    headers = gen_headers(host)
    token = None
    if rng.random() < 0.4:
        token = "IQoJb3JpZ2luX2VjE" + "".join(rng.choice("abcXYZ019+/=") for _ in range(60))
    when = datetime.datetime(2015 + rng.randint(0, 10), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                             rng.randint(0, 59), rng.randint(0, 59))
    region = rng.choice(["us-east-1", "eu-west-3", "ap-southeast-2", "cn-north-1"])
    service = rng.choice(["monitoring", "s3x", "iam", "logs"])
    return method, target, headers, body, token, when.strftime("%Y%m%dT%H%M%SZ"), region, service


def raw(method, target, headers, body):
    head = "%s %s HTTP/1.1\r\n" % (method, target)
    head += "".join("%s: %s\r\n" % (n, v) for n, v in headers)
    return head.encode() + b"\r\n" + body


def kiln_sign(req):
    method, target, headers, body, token, date, region, service = req
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    env.pop("AWS_SESSION_TOKEN", None)
    if token:
        env["AWS_SESSION_TOKEN"] = token
    p = subprocess.run([KILN, "debug", "sigv4", "--date", date, "--region", region, "--service", service],
                       input=raw(method, target, headers, body), capture_output=True, env=env, timeout=10)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace")
    out = p.stdout.decode("utf-8", errors="replace")
    cr = out.split("=== canonical request ===\n", 1)[1].split("\n=== string to sign ===\n", 1)
    sts, signed = cr[1].split("\n=== signed request ===\n", 1)
    auth = [l.split(": ", 1)[1] for l in signed.split("\r\n") if l.lower().startswith("authorization: ")]
    return (cr[0], sts, auth[0] if auth else None), None


def botocore_sign(req):
    method, target, headers, body, token, date, region, service = req
    host = [v for n, v in headers if n.lower() == "host"][0]
    r = AWSRequest(method=method, url="http://" + host + target, data=body)
    for n, v in headers:
        r.headers[n] = v
    r.context["timestamp"] = date
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), service, region)
    signer._modify_request_before_signing(r)
    cr = signer.canonical_request(r)
    sts = signer.string_to_sign(r, cr)
    sig = signer.signature(sts, r)
    auth = signer._inject_signature_to_request(r, sig) and r.headers["Authorization"]
    return cr, sts, auth


def main():
    print("# seed %d" % SEED)
    print("1..%d" % COUNT)
    failed = 0
    for i in range(1, COUNT + 1):
        req = gen_request(i)
        mine, err = kiln_sign(req)
        theirs = botocore_sign(req)
        good = mine is not None and mine == theirs
        print("%sok %d - %s %s" % ("" if good else "not ", i, req[0], req[1][:70]))
        if not good:
            failed += 1
            print("# request: %r" % (raw(req[0], req[1], req[2], req[3])[:400],))
            if err:
                print("# kiln failed: %s" % err.strip())
            else:
                for label, a, b in zip(("canonical request", "string to sign", "authorization"), mine, theirs):
                    if a != b:
                        print("# %s differs:\n#   kiln:     %r\n#   botocore: %r" % (label, a, b))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
