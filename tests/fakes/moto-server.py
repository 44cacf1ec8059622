#!/root/.pyenv/shims/python3.11
"""moto's server (moto 5.2.1) for kiln's tests: IAM auth, request log,
outage switch, and workarounds for bugs of moto's own server.

Run it with the Python moto is installed for (not Debian's python3):

  moto-server.py --port 0 --port-file F [--auth --creds-file C
                 --bucket NAME...] [--log L]

--port-file F   written (atomically) once listening: the port.
--auth          moto's IAM auth mode: every request must be signed by a
                known access key and allowed by its user's policies. Before
                listening, two users are made in moto's IAM (in-process, so
                no request is left unauthenticated):
                  kiln-admin  allowed everything (the harness's set-up calls)
                  kiln        only what kiln needs (POLICY below; S3 limited
                              to the --bucket buckets)
                and their keys written to --creds-file as JSON:
                  {"admin": {"AccessKeyId", "SecretAccessKey"},
                   "kiln": {...}, "kiln-1": {...}, ...,
                   "role": {"AccessKeyId", "SecretAccessKey", "Token"}}
                "role": temporary credentials of the role kiln-role (same
                policy as kiln) from moto's STS, 12 hours: give them to the
                fake IMDS (cred_access_key, cred_secret_key, cred_token) to
                test the instance-role path against moto
--users N       N more users like kiln (kiln-1 .. kiln-N), one per fleet
                instance, so the request log tells instances apart
--log L         one JSON line per request (moto has no request log):
                  {"time", "method", "path", "query", "service", "key"
                   (the signing access key id, "" if unsigned), "agent"
                   (User-Agent), "status"}
                so tests count S3 GET/PUT/LIST per caller.

Control (never logged, never failed, not signed):
  GET  /_harness/lifecycle  the lifecycle actions seen (see 4. below)
  POST /_harness/fail   body "503" (answer 503 ServiceUnavailable),
                        "reset" (shut the connection down, no answer) or
                        "off"
  GET  /_harness/fail   the mode now

Workarounds (each verified against moto 5.2.1's server; --no-fixes turns
them off, so tests/fakes/test-moto-harness.sh can check they still matter):
  1. gzip request bodies (Content-Encoding: gzip, e.g. CloudWatch
     PutMetricData) are decompressed twice: once by the Flask app's
     before_request hook (moto_server/utilities.py decompress_request_body)
     and again in BaseResponse.setup_class: "Not a gzipped file", 500.
  2. Form bodies (application/x-www-form-urlencoded, the query protocol:
     Auto Scaling, CloudWatch, EC2) are checked against a signature computed
     over moto's re-encoding of the parsed form (urlencode of a dict), not
     the bytes sent: a client encoding spaces as %20 (as SigV4 asks) fails.
     And with gzip, the signature is checked over the decompressed body.
  For both, this wrapper checks the signature itself over the bytes as
  sent (the request's own x-amz-content-sha256, when signed, must match
  the body), answers 403 SignatureDoesNotMatch when it is wrong, and
  otherwise hands moto the decoded body signed again with the same key,
  with x-amz-content-sha256 signed, which moto's check takes as the
  payload hash. Denied actions stay moto's to refuse.
  3. (Not fixed here.) With auth on, moto fails its own signature check on
     Route 53 GETs: tests run Route 53 on a second moto without --auth.
  4. moto 5.2.1 has no CompleteLifecycleAction and no
     RecordLifecycleActionHeartbeat (Auto Scaling): added here to its
     Auto Scaling responses (so moto's auth checks them like any action).
     An action is pending for each (group, hook, instance of the group)
     until completed once; a second completion, a heartbeat after it, an
     unknown hook or an instance outside the group answer ValidationError,
     as AWS does. Completing a launching hook with CONTINUE puts the
     instance InService, ABANDON makes it Terminating. Every call is
     recorded: GET /_harness/lifecycle lists them:
       [{"time", "action": "complete"|"heartbeat", "group", "hook",
         "instance", "token", "result", "status": "ok"|error message}]
  5. S3 query strings: moto checks the signature over the query as
     werkzeug rebuilds it (request.url), which leaves "/" unencoded: a
     ListObjectsV2 with prefix=a%2F (any prefix with a slash) fails with
     SignatureDoesNotMatch. When werkzeug's query differs from the one sent,
     this wrapper checks the signature over the query as sent and signs the
     request again for moto's view (payload hash: the signed
     x-amz-content-sha256, as S3 takes it).
  6. /moto-api/reset-auth would let anyone turn auth off: with --auth, this
     wrapper refuses it (403).
"""

import argparse
import gzip
import hashlib
import hmac
import io
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse

# Route 53 and IAM are global; everything else is signed for a region.
POLICY_ACTIONS = {
    "route53": ["route53:ChangeResourceRecordSets", "route53:GetChange",
                "route53:GetHostedZone", "route53:ListHostedZones",
                "route53:ListHostedZonesByName",
                "route53:ListResourceRecordSets"],
    "autoscaling": ["autoscaling:CompleteLifecycleAction",
                    "autoscaling:RecordLifecycleActionHeartbeat",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLifecycleHooks"],
    "logs": ["logs:CreateLogGroup", "logs:CreateLogStream",
             "logs:PutLogEvents", "logs:PutRetentionPolicy",
             "logs:DescribeLogStreams"],
    # moto names CloudWatch's actions by its signing name, "monitoring".
    "cloudwatch": ["cloudwatch:PutMetricData", "monitoring:PutMetricData"],
    "ec2": ["ec2:DescribeTags"],
}
S3_OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
S3_BUCKET_ACTIONS = ["s3:ListBucket"]


def kiln_policy(buckets):
    """The limited user's policy document."""
    statements = [{"Effect": "Allow", "Action": [a for v in
                                                 POLICY_ACTIONS.values()
                                                 for a in v],
                   "Resource": "*"}]
    if buckets:
        statements.append({"Effect": "Allow", "Action": S3_BUCKET_ACTIONS,
                           "Resource": [f"arn:aws:s3:::{b}" for b in buckets]})
        statements.append({"Effect": "Allow", "Action": S3_OBJECT_ACTIONS,
                           "Resource": [f"arn:aws:s3:::{b}/*"
                                        for b in buckets]})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def make_users(buckets, extra):
    """The IAM users, made in moto's IAM backend directly."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    out = {}
    users = [("kiln-admin", ADMIN_POLICY), ("kiln", kiln_policy(buckets))]
    users += [(f"kiln-{i}", kiln_policy(buckets)) for i in range(1, extra + 1)]
    for name, policy in users:
        iam.create_user("us-east-1", name)
        iam.put_user_policy(name, name + "-policy", policy)
        key = iam.create_access_key(name)
        out["admin" if name == "kiln-admin" else name] = {
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": key.secret_access_key}
    # An instance role's credentials (ASIA key, secret, session token),
    # from moto's STS, with the kiln policy: for the fake IMDS to serve.
    from moto.sts.models import sts_backends
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
         "Action": "sts:AssumeRole"}]})
    role = iam.create_role("kiln-role", trust, "/", None, "kiln tests", [],
                           None)
    iam.put_role_policy("kiln-role", "kiln-policy", kiln_policy(buckets))
    assumed = sts_backends[DEFAULT_ACCOUNT_ID]["aws"].assume_role(
        "us-east-1", "i-kiln", role.arn, None, 43200, None)
    out["role"] = {"AccessKeyId": assumed.access_key_id,
                   "SecretAccessKey": assumed.secret_access_key,
                   "Token": assumed.session_token}
    return out


def secret_of(access_key_id):
    """The secret of a moto IAM user's or assumed role's key, or None."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for user in iam.list_users("/", None, None):
        for key in user.access_keys:
            if key.access_key_id == access_key_id:
                return key.secret_access_key
    for role in sts_backends[DEFAULT_ACCOUNT_ID]["aws"].assumed_roles:
        if role.access_key_id == access_key_id:
            return role.secret_access_key
    return None


# ---------------------------------------------------------------- SigV4

def parse_auth(value):
    """(access key, scope list, signed header names, signature) or None."""
    if not value.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    try:
        cred = fields["Credential"].split("/")
        akid, scope = cred[0], cred[1:]
        if len(scope) != 4:
            return None
        return akid, scope, fields["SignedHeaders"].split(";"), \
            fields["Signature"]
    except KeyError:
        return None


def environ_headers(environ):
    """The request's headers as {lowercase name: value}."""
    h = {}
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            h[k[5:].replace("_", "-").lower()] = v
    if environ.get("CONTENT_TYPE"):
        h["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        h["content-length"] = environ["CONTENT_LENGTH"]
    return h


def sign(method, path, query, headers, signed, body_hash, date, scope,
         secret):
    """A SigV4 signature, per AWS's spec (written out here rather than with
    botocore, so it is checked over exactly the bytes given)."""
    def enc(s):
        return urllib.parse.quote(s, safe="-_.~")
    # The path as sent, each segment encoded again (all services but S3).
    cpath = "/".join(enc(s) for s in path.split("/")) or "/"
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    cquery = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(pairs))
    cheaders = "".join(
        f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in signed)
    creq = "\n".join([method, cpath, cquery, cheaders, ";".join(signed),
                      body_hash])
    sts = "\n".join(["AWS4-HMAC-SHA256", date, "/".join(scope),
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def sign_s3(method, path, query, headers, signed, body_hash, date, scope,
            secret):
    """sign() for S3, whose canonical path is encoded once, not twice:
    sign() encodes each segment, so it gets them decoded."""
    decoded = "/".join(urllib.parse.unquote(x) for x in path.split("/"))
    return sign(method, decoded, query, headers, signed, body_hash, date,
                scope, secret)


def moto_signature(method, path, query, headers, signed, scope, secret,
                   s3=False):
    """The signature moto's own check (iam/access_control.py) will compute
    for these headers: botocore's SigV4Auth over the signed headers, with
    x-amz-content-sha256 as the payload hash."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    hdrs = {n: headers[n] for n in signed if n in headers}
    url = path + ("?" + query if query else "")
    req = AWSRequest(method=method, url=url, data=b"", headers=hdrs)
    req.context["timestamp"] = hdrs.get("x-amz-date", "")
    auth = (S3SigV4Auth if s3 else SigV4Auth)(Credentials("x", secret),
                                              scope[2], scope[1])
    creq = auth.canonical_request(req)
    return auth.signature(auth.string_to_sign(req, creq), req)


# ------------------------------------------------- Auto Scaling additions

LIFECYCLE = []
LIFECYCLE_LOCK = threading.Lock()


def add_lifecycle_actions():
    """Workaround 4: CompleteLifecycleAction, RecordLifecycleActionHeartbeat."""
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    done = set()

    def pending(self, complete):
        group = self._get_param("AutoScalingGroupName")
        hook = self._get_param("LifecycleHookName")
        instance = self._get_param("InstanceId")
        token = self._get_param("LifecycleActionToken")
        result = self._get_param("LifecycleActionResult") if complete else None
        entry = {"time": round(time.time(), 3),
                 "action": "complete" if complete else "heartbeat",
                 "group": group, "hook": hook, "instance": instance,
                 "token": token, "result": result, "status": "ok"}
        try:
            backend = self.autoscaling_backend
            hooks = backend.describe_lifecycle_hooks(group, [hook])
            if not hooks:
                raise ValidationError(
                    f"No Lifecycle Hook found: {hook} for group {group}")
            if complete and result not in ("CONTINUE", "ABANDON"):
                raise ValidationError(
                    "LifecycleActionResult must be CONTINUE or ABANDON")
            if not instance:
                raise ValidationError(
                    "No active Lifecycle Action found with token "
                    f"{token or ''}")
            states = [s for s in backend.describe_auto_scaling_instances(
                [instance]) if s.auto_scaling_group_name == group]
            if not states or (group, hook, instance) in done:
                raise ValidationError(
                    "No active Lifecycle Action found with instance ID "
                    f"{instance}")
            if complete:
                done.add((group, hook, instance))
                if hooks[0].lifecycle_transition == \
                        "autoscaling:EC2_INSTANCE_LAUNCHING":
                    states[0].lifecycle_state = (
                        "InService" if result == "CONTINUE"
                        else "Terminating")
                else:
                    states[0].lifecycle_state = "Terminating:Proceed"
        except ValidationError as e:
            entry["status"] = str(e.message)
            raise
        finally:
            with LIFECYCLE_LOCK:
                LIFECYCLE.append(entry)
        return EmptyResult()

    AutoScalingResponse.complete_lifecycle_action = \
        lambda self: pending(self, True)
    AutoScalingResponse.record_lifecycle_action_heartbeat = \
        lambda self: pending(self, False)


# ---------------------------------------------------------------- the app

class Harness:
    def __init__(self, app, args):
        self.app = app
        self.auth = args.auth
        self.fixes = not args.no_fixes
        self.fail = "off"
        self.lock = threading.Lock()
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_harness/"):
            return self.control(environ, start_response)
        if self.auth and path.startswith("/moto-api/reset-auth"):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"refused: the test harness keeps IAM auth on\n"]
        status_box = []

        def sr(status, headers, exc_info=None):
            status_box.append(status.split()[0])
            return start_response(status, headers, exc_info)

        try:
            if self.fail == "503":
                return self.error(sr, 503, "ServiceUnavailable",
                                  "the test harness failed this service",
                                  environ)
            if self.fail == "reset":
                # No answer: the connection is shut down both ways (the
                # client sees an empty reply; werkzeug's own attempt to
                # answer afterwards fails, harmlessly).
                status_box.append("reset")
                sock = environ["werkzeug.socket"]
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
                raise ConnectionAbortedError("harness outage")
            # X-Kiln-Harness-Raw: 1 (test-moto-harness.sh only): this
            # request goes to moto as sent, to check the bugs still exist.
            if self.fixes and not environ.get("HTTP_X_KILN_HARNESS_RAW"):
                refused = self.fix_body(environ)
                if refused:
                    return self.error(sr, 403, "SignatureDoesNotMatch",
                                      refused, environ)
            return self.app(environ, sr)
        finally:
            self.record(environ, status_box[0] if status_box else "")

    def record(self, environ, status):
        if not self.log:
            return
        auth = parse_auth(environ.get("HTTP_AUTHORIZATION", ""))
        q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        key = auth[0] if auth else q.get("X-Amz-Credential", [""])[0] \
            .split("/")[0]
        entry = {"time": round(time.time(), 3),
                 "method": environ.get("REQUEST_METHOD"),
                 "path": environ.get("PATH_INFO", ""),
                 "query": environ.get("QUERY_STRING", ""),
                 "service": auth[1][2] if auth else "",
                 "key": key, "agent": environ.get("HTTP_USER_AGENT", ""),
                 "status": status}
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")
            self.log.flush()

    def control(self, environ, start_response):
        if environ["PATH_INFO"].rstrip("/") == "/_harness/lifecycle":
            with LIFECYCLE_LOCK:
                body = json.dumps(LIFECYCLE, indent=1) + "\n"
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body.encode()]
        if environ["PATH_INFO"].rstrip("/") != "/_harness/fail":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such control\n"]
        if environ["REQUEST_METHOD"] == "POST":
            body = read_body(environ).decode().strip()
            if body not in ("503", "reset", "off"):
                start_response("400 Bad Request",
                               [("Content-Type", "text/plain")])
                return [b"expected 503, reset or off\n"]
            self.fail = body
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [(self.fail + "\n").encode()]

    @staticmethod
    def error(start_response, status, code, message, environ):
        """An error in the request's protocol: JSON or XML."""
        reasons = {403: "Forbidden", 503: "Service Unavailable"}
        ctype = environ.get("CONTENT_TYPE", "")
        if "json" in ctype:
            body = json.dumps({"__type": code, "message": message}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.1"),
                       ("x-amzn-ErrorType", code)]
        else:
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}"
                    f"</Code><Message>{message}</Message></Error><RequestId>"
                    f"kiln-harness</RequestId></ErrorResponse>").encode()
            auth = parse_auth(environ.get("HTTP_AUTHORIZATION", ""))
            if auth and auth[1][2] == "s3":
                body = (f"<Error><Code>{code}</Code><Message>{message}"
                        f"</Message></Error>").encode()
            headers = [("Content-Type", "text/xml")]
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {reasons[status]}", headers)
        return [body]

    def fix_s3_query(self, environ, auth):
        """Workaround 5: moto checks an S3 request's signature over
        werkzeug's rewriting of its URL, where a query's "%2F" is "/" and a
        path's "%2B" is "+", not over the URL as sent: ListObjectsV2 with
        prefix=a%2F fails even from botocore, and so does a key with '+'.
        Checked here over the URL as sent, then signed again for moto's
        view."""
        from werkzeug.wrappers import Request
        query = environ.get("QUERY_STRING", "")
        seen_url = urllib.parse.urlsplit(Request(dict(environ)).url)
        seen = seen_url.query
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or "/"
        if not self.auth or (seen == query and
                             seen_url.path == (raw.split("?", 1)[0] or "/")):
            return None
        akid, scope, signed, signature = auth
        secret = secret_of(akid)
        if secret is None:
            return None
        headers = environ_headers(environ)
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or "/"
        path = raw.split("?", 1)[0] or "/"
        want = sign_s3(environ["REQUEST_METHOD"], path, query, headers,
                       signed, headers.get("x-amz-content-sha256", ""),
                       headers.get("x-amz-date", ""), scope, secret)
        if not hmac.compare_digest(want, signature):
            return ("The request signature we calculated does not match "
                    "the signature you provided.")
        sig = moto_signature(environ["REQUEST_METHOD"],
                             seen_url.path or "/", seen,
                             headers, signed, scope, secret, s3=True)
        environ["HTTP_AUTHORIZATION"] = (
            f"AWS4-HMAC-SHA256 Credential={akid}/{'/'.join(scope)}, "
            f"SignedHeaders={';'.join(signed)}, Signature={sig}")
        return None

    def fix_body(self, environ):
        """Workarounds 1 and 2; returns an error message to refuse with."""
        auth = parse_auth(environ.get("HTTP_AUTHORIZATION", ""))
        if auth and auth[1][2] == "s3":
            return self.fix_s3_query(environ, auth)
        gz = environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip"
        form = environ.get("CONTENT_TYPE", "").startswith(
            "application/x-www-form-urlencoded")
        if not (gz or form):
            return None
        body = read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        if not self.auth or not auth:
            # Nothing to check (or moto refuses the unsigned request):
            # only the double decompression to avoid.
            if gz and not self.auth:
                try:
                    body = gzip.decompress(body)
                except (OSError, EOFError):
                    return None
                del environ["HTTP_CONTENT_ENCODING"]
                environ["wsgi.input"] = io.BytesIO(body)
                environ["CONTENT_LENGTH"] = str(len(body))
            return None
        akid, scope, signed, signature = auth
        secret = secret_of(akid)
        if secret is None:
            return None             # moto refuses the unknown key itself
        headers = environ_headers(environ)
        method = environ["REQUEST_METHOD"]
        # The path as sent (werkzeug's PATH_INFO is decoded already).
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or "/"
        path = raw.split("?", 1)[0] or "/"
        query = environ.get("QUERY_STRING", "")
        body_hash = hashlib.sha256(body).hexdigest()
        claimed = headers.get("x-amz-content-sha256")
        if claimed and claimed != body_hash:
            return "x-amz-content-sha256 does not match the body"
        want = sign(method, path, query, headers, signed, body_hash,
                    headers.get("x-amz-date", ""), scope, secret)
        if not hmac.compare_digest(want, signature):
            return ("The request signature we calculated does not match "
                    "the signature you provided.")
        if gz:
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return "Content-Encoding gzip, but the body is not gzip"
            del environ["HTTP_CONTENT_ENCODING"]
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            headers["content-length"] = str(len(body))
            headers.pop("content-encoding", None)
            signed = [n for n in signed if n != "content-encoding"]
        headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        environ["HTTP_X_AMZ_CONTENT_SHA256"] = headers["x-amz-content-sha256"]
        signed = sorted(set(signed) | {"x-amz-content-sha256"})
        sig = moto_signature(method, environ.get("PATH_INFO", "") or "/",
                             query, headers, signed, scope, secret)
        environ["HTTP_AUTHORIZATION"] = (
            f"AWS4-HMAC-SHA256 Credential={akid}/{'/'.join(scope)}, "
            f"SignedHeaders={';'.join(signed)}, Signature={sig}")
        return None


def read_body(environ):
    try:
        n = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        n = 0
    return environ["wsgi.input"].read(n) if n > 0 else b""


def write_file(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--auth", action="store_true")
    p.add_argument("--creds-file")
    p.add_argument("--bucket", action="append", default=[])
    p.add_argument("--log")
    p.add_argument("--users", type=int, default=0)
    p.add_argument("--no-fixes", action="store_true")
    args = p.parse_args()

    from moto import settings
    from moto.moto_server.werkzeug_app import (DomainDispatcherApplication,
                                               create_backend_app)
    from werkzeug.serving import make_server

    if args.auth:
        creds = make_users(args.bucket, args.users)
        if args.creds_file:
            write_file(args.creds_file, json.dumps(creds) + "\n")
        # From the first request on, every one is authenticated.
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    else:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    add_lifecycle_actions()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, Harness(app, args),
                         threaded=True)
    if args.port_file:
        write_file(args.port_file, f"{server.server_port}\n")
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        if args.port_file:
            try:
                os.unlink(args.port_file)
            except OSError:
                pass


if __name__ == "__main__":
    main()
