#!/usr/bin/python3
"""Fake Amazon CloudWatch for kiln's tests and demo.

Speaks the two wire protocols CloudWatch accepts for PutMetricData,
ListMetrics and GetMetricStatistics:

  * AWS Query: POST / with an application/x-www-form-urlencoded body
    (Action=PutMetricData&Version=2010-08-01&...), XML responses;
  * AWS JSON 1.0: X-Amz-Target: GraniteServiceVersion20100801.<Action>,
    Content-Type application/x-amz-json-1.0, JSON responses.

Every API request must carry a SigV4 signature, which is checked with
botocore's own signer (Debian's python3-botocore), an implementation
independent of kiln's.  Bodies may be gzip-compressed (the signature covers
the compressed bytes).  Accepted datapoints are kept in memory and can be read
back through an unsigned control API under /_fake/, which also sets faults
(throttling, 5xx, connection resets, delays, hangs).

Run with --help for the flags; the control API is described in
control_help() below (GET /_fake/ prints it).
"""

import argparse
import collections
import datetime
import email.utils
import hashlib
import hmac
import http.server
import json
import math
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
import zlib
from xml.sax.saxutils import escape as xml_escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

SERVICE = "monitoring"
API_VERSION = "2010-08-01"
XMLNS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
JSON_TARGET_PREFIX = "GraniteServiceVersion20100801"
ACTIONS = ("PutMetricData", "ListMetrics", "GetMetricStatistics")

MAX_BODY = 1024 * 1024            # PutMetricData: 1 MB per request
MAX_READ = 16 * 1024 * 1024       # larger bodies are not even read
MAX_METRIC_DATA = 1000
MAX_DIMENSIONS = 30
MAX_DIMENSION_FILTERS = 10
MAX_VALUES = 150
MAX_DATAPOINTS_RETURNED = 1440
LIST_METRICS_PAGE = 500
# CloudWatch refuses a signature more than 5 minutes from its clock: 403
# SignatureDoesNotMatch, "Signature expired: <X-Amz-Date> is now earlier than
# <now - 5 min> (<now> - 5 min.)" (or "Signature not yet current: ... is
# still later than ... (... + 5 min.)"), as real answers to PutMetricData
# and GetMetricStatistics show; the JSON protocol names it
# InvalidSignatureException, with x-amzn-query-error SignatureDoesNotMatch.
# Other AWS services answer 400 RequestExpired (the "skew_error" knob).
CLOCK_SKEW = datetime.timedelta(minutes=5)
MAX_AGE = datetime.timedelta(weeks=2)
MAX_FUTURE = datetime.timedelta(hours=2)
VALUE_LIMIT = 2.0 ** 360          # |value| must be in [2^-360, 2^360] or 0
ISO_BASIC = "%Y%m%dT%H%M%SZ"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult "
    "the service documentation for details.")

STANDARD_UNITS = frozenset([
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes",
    "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits",
    "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None"])
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")

# Query error code -> the name a JSON-protocol caller sees in "__type".  The
# Query code itself is always sent too, in x-amzn-query-error ("Code;Sender"),
# as CloudWatch does for its query-compatible JSON protocol.
JSON_ERROR_TYPES = {
    "InvalidParameterValue": "InvalidParameterValueException",
    "MissingParameter": "MissingRequiredParameterException",
    "InvalidParameterCombination": "InvalidParameterCombinationException",
    "InternalServiceError": "InternalServiceFault",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "IncompleteSignature": "IncompleteSignatureException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "MissingAuthenticationToken": "MissingAuthenticationTokenException",
    "ExpiredToken": "ExpiredTokenException",
    "Throttling": "ThrottlingException",
    "InternalFailure": "InternalFailure",
    "ServiceUnavailable": "ServiceUnavailableException",
    "InvalidAction": "UnknownOperationException",
    "MissingAction": "UnknownOperationException",
    "RequestEntityTooLarge": "RequestEntityTooLargeException",
    "MalformedHttpRequest": "MalformedHttpRequestException",
    "MalformedQueryString": "SerializationException",
    "SerializationException": "SerializationException",
}

FAULT_DEFAULTS = {
    "throttle": 0,        # next N requests -> 400 Throttling "Rate exceeded"
    "fail_5xx": 0,        # next N requests -> fail_status
    "fail_status": 500,   # 500 InternalFailure, 503 ServiceUnavailable, ...
    "reset": 0,           # next N requests -> TCP RST, no response
    "hang": 0,            # next N requests -> no response for hang_ms, close
    "hang_ms": 0,         # how long a hang lasts (alone: every request hangs)
    "delay_ms": 0,        # every request waits this long before processing
    "actions": ["PutMetricData"],  # which actions faults apply to; "*" = all
    "reject_names": [],   # PutMetricData naming one -> 400 InvalidParameterValue
    "clock_offset_s": 0,  # this fake's clock minus the real one (Date, signatures)
    "skew_error": "SignatureDoesNotMatch",  # or "RequestExpired" (400)
}
SKEW_ERRORS = ("SignatureDoesNotMatch", "RequestExpired")


class ApiError(Exception):
    """An error answered to the caller in the protocol it used."""

    def __init__(self, status, code, message, debug=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.debug = debug or {}


def invalid(message):
    return ApiError(400, "InvalidParameterValue", message)


def missing(name):
    return ApiError(400, "MissingParameter",
                    "The parameter %s is required." % name)


def combination(message):
    return ApiError(400, "InvalidParameterCombination", message)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def iso_z(dt):
    """2024-05-01T12:00:00Z, or with milliseconds when there are any."""
    dt = dt.astimezone(datetime.timezone.utc)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + \
            "%03dZ" % (dt.microsecond // 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------
# Credentials and shared state
# ---------------------------------------------------------------------------

class Cred:
    def __init__(self, access_key, secret_key, token=None, expired=False,
                 expires=None):
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token or None
        self.expired = bool(expired)
        self.expires = expires      # epoch seconds (instance role keys)

    def is_expired(self):
        return self.expired or (self.expires is not None
                                and time.time() >= self.expires)

    def to_json(self):
        return {"access_key": self.access_key, "secret_key": self.secret_key,
                "session_token": self.token, "expired": self.expired}


def parse_cred(text):
    """AK:SK[:TOKEN] (the token may itself contain colons)."""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError("credential must be AK:SK[:TOKEN], got %r" % text)
    return Cred(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def cred_from_json(obj):
    if not isinstance(obj, dict) or not obj.get("access_key") \
            or not obj.get("secret_key"):
        raise ValueError("a credential needs access_key and secret_key")
    return Cred(obj["access_key"], obj["secret_key"],
                obj.get("session_token"), obj.get("expired", False))


class State:
    """Everything the handlers share; guarded by one lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.region = args.region
        self.max_body = args.max_body
        self.verbose = args.verbose
        self.creds = collections.OrderedDict()
        for cred in args.creds:
            self.creds[cred.access_key] = cred
        self.initial_faults = dict(FAULT_DEFAULTS)
        for key in FAULT_DEFAULTS:
            value = getattr(args, key, None)
            if value is not None:
                self.initial_faults[key] = value
        if self.initial_faults["hang_ms"] and not self.initial_faults["hang"]:
            self.initial_faults["hang"] = -1
        self.faults = dict(self.initial_faults)
        self.max_datapoints = args.max_datapoints
        self.datapoints = collections.deque(maxlen=args.max_datapoints)
        self.metrics = collections.OrderedDict()   # key -> Metric dict
        self.requests = collections.deque(maxlen=args.max_requests)
        self.datapoint_seq = 0
        self.request_seq = 0
        self.trust_imds = args.trust_imds

    def lookup_cred(self, access_key):
        with self.lock:
            cred = self.creds.get(access_key)
        if cred is None and self.trust_imds:
            self.learn_imds_creds()
            with self.lock:
                cred = self.creds.get(access_key)
        return cred

    def learn_imds_creds(self):
        """Accept the role keys a fake IMDS has handed out (--trust-imds),
        as AWS accepts an instance role's temporary credentials."""
        url = self.trust_imds.rstrip("/") + "/_fake/credentials"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                docs = json.loads(resp.read().decode())
        except (OSError, ValueError):
            return
        with self.lock:
            for d in docs:
                if d.get("AccessKeyId") not in self.creds:
                    self.creds[d["AccessKeyId"]] = Cred(
                        d["AccessKeyId"], d["SecretAccessKey"], d.get("Token"),
                        expires=d.get("expires"))

    def now(self):
        """This fake's clock: the real one shifted by clock_offset_s.  Read
        without the lock: the Date of answers sent under it comes here."""
        offset = self.faults.get("clock_offset_s", 0)
        return now_utc() + datetime.timedelta(seconds=offset)

    def take_fault(self, action):
        """Decide, atomically, which fault (if any) hits this request.

        Returns (kind, detail): kind is None, "reset", "hang" or "fail_5xx";
        "delay_ms" is returned as detail alongside.
        """
        with self.lock:
            f = self.faults
            if "*" not in f["actions"] and action not in f["actions"]:
                return None, 0, 0
            delay = f["delay_ms"]
            if f["reset"] > 0:
                f["reset"] -= 1
                return "reset", delay, 0
            if f["hang"] != 0 and f["hang_ms"] > 0:
                if f["hang"] > 0:
                    f["hang"] -= 1
                return "hang", delay, f["hang_ms"]
            if f["fail_5xx"] > 0:
                f["fail_5xx"] -= 1
                return "fail_5xx", delay, f["fail_status"]
            return None, delay, 0

    def take_throttle(self, action):
        with self.lock:
            f = self.faults
            if "*" not in f["actions"] and action not in f["actions"]:
                return False
            if f["throttle"] > 0:
                f["throttle"] -= 1
                return True
            return False

    def log_request(self, entry):
        with self.lock:
            self.request_seq += 1
            entry["seq"] = self.request_seq
            self.requests.append(entry)

    def store(self, records):
        with self.lock:
            for rec in records:
                self.datapoint_seq += 1
                rec["seq"] = self.datapoint_seq
                self.datapoints.append(rec)
                key = metric_key(rec["namespace"], rec["metric_name"],
                                 rec["dimensions"])
                metric = self.metrics.get(key)
                if metric is None:
                    metric = {"Namespace": rec["namespace"],
                              "MetricName": rec["metric_name"],
                              "Dimensions": [dict(d) for d in
                                             rec["dimensions"]]}
                    self.metrics[key] = metric
                metric["last"] = rec["received_at_epoch"]


def metric_key(namespace, name, dimensions):
    return (namespace, name,
            tuple(sorted((d["Name"], d["Value"]) for d in dimensions)))


# ---------------------------------------------------------------------------
# SigV4 verification, with botocore's signer
# ---------------------------------------------------------------------------

class ExactHeadersSigV4Auth(SigV4Auth):
    """botocore's SigV4 signer, told to sign exactly the headers it is given.

    Stock SigV4Auth drops a few headers it never signs itself (User-Agent,
    Expect, X-Amzn-Trace-Id); a verifier must instead sign precisely what the
    caller listed in SignedHeaders.  Canonicalisation, hashing and key
    derivation are all botocore's.
    """

    def headers_to_sign(self, request):
        selected = HTTPHeaders()
        for name, value in request.headers.items():
            selected[name.lower()] = value
        return selected


def incomplete(message):
    return ApiError(400, "IncompleteSignature", message)


def mismatch(message, debug=None):
    return ApiError(403, "SignatureDoesNotMatch", message, debug)


def parse_authorization(value):
    """Split 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise incomplete("Unsupported AWS 'algorithm': '%s'" % algorithm)
    fields = {}
    for part in rest.split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            fields[name.strip()] = val.strip()
    problems = []
    for name in ("Credential", "Signature", "SignedHeaders"):
        if not fields.get(name):
            problems.append("Authorization header requires '%s' parameter."
                            % name)
    if problems:
        raise incomplete(" ".join(problems) + " Authorization=" + value)
    return fields["Credential"], fields["SignedHeaders"], fields["Signature"]


def request_date(headers):
    """The request's signing time as (YYYYMMDDTHHMMSSZ, header name)."""
    amz_date = headers.get("X-Amz-Date")
    if amz_date is not None:
        amz_date = amz_date.strip()
        try:
            datetime.datetime.strptime(amz_date, ISO_BASIC)
        except ValueError:
            raise incomplete(
                "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                "http://en.wikipedia.org/wiki/ISO_8601" % amz_date)
        return amz_date, "x-amz-date"
    date = headers.get("Date")
    if date is not None:
        try:
            parsed = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            parsed = None
        if parsed is None:
            raise incomplete("Invalid Date header: '%s'" % date)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        return parsed.astimezone(datetime.timezone.utc).strftime(ISO_BASIC), \
            "date"
    raise incomplete("Authorization header requires existence of either a "
                     "'X-Amz-Date' or a 'Date' header.")


def check_signing_time(state, amz_date):
    """Refuse a signature made more than CLOCK_SKEW from this fake's clock."""
    signed_at = datetime.datetime.strptime(amz_date, ISO_BASIC).replace(
        tzinfo=datetime.timezone.utc)
    now = state.now().replace(microsecond=0)
    minutes = int(CLOCK_SKEW.total_seconds() // 60)
    if now - CLOCK_SKEW <= signed_at <= now + CLOCK_SKEW:
        return
    with state.lock:
        kind = state.faults["skew_error"]
    if kind == "RequestExpired":
        raise ApiError(400, "RequestExpired", "Request has expired.")
    if signed_at < now:
        raise mismatch("Signature expired: %s is now earlier than %s "
                       "(%s - %d min.)" % (amz_date,
                                           (now - CLOCK_SKEW).strftime(ISO_BASIC),
                                           now.strftime(ISO_BASIC), minutes))
    raise mismatch("Signature not yet current: %s is still later than "
                   "%s (%s + %d min.)" % (amz_date,
                                          (now + CLOCK_SKEW).strftime(ISO_BASIC),
                                          now.strftime(ISO_BASIC), minutes))


def verify_sigv4(state, method, raw_path, headers, body):
    """Check a request's SigV4 signature; return the matching Cred.

    Raises ApiError with AWS's code and message on any failure.
    """
    auth = headers.get("Authorization")
    if auth is None:
        raise ApiError(403, "MissingAuthenticationToken",
                       "Request is missing Authentication Token")
    credential, signed_headers, signature = parse_authorization(auth)

    scope = credential.split("/")
    if len(scope) != 5:
        raise incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term, got '%s'" % credential)
    access_key, scope_date, region, service, terminator = scope
    signed = signed_headers.split(";")
    if "host" not in signed:
        raise incomplete("'Host' or ':authority' must be a 'SignedHeader' "
                         "in the AWS Authorization.")
    amz_date, date_header = request_date(headers)
    if date_header not in signed:
        raise incomplete("'%s' must be a 'SignedHeader' in the AWS "
                         "Authorization." % date_header)
    if scope_date != amz_date[:8]:
        raise mismatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
            "version of date from HTTP: '%s' != '%s', from '%s'."
            % (scope_date, amz_date[:8], amz_date))
    if region != state.region:
        raise mismatch("Credential should be scoped to a valid region, "
                       "not '%s'. " % region)
    if service != SERVICE:
        raise mismatch("Credential should be scoped to correct service: "
                       "'%s'. " % SERVICE)
    if terminator != "aws4_request":
        raise mismatch("Credential should be scoped with a valid terminator:"
                       " 'aws4_request', not '%s'. " % terminator)

    cred = state.lookup_cred(access_key)
    if cred is None:
        raise ApiError(403, "InvalidClientTokenId",
                       "The security token included in the request is "
                       "invalid.")
    token = headers.get("X-Amz-Security-Token")
    if cred.token is None:
        if token is not None:
            raise ApiError(403, "InvalidClientTokenId",
                           "The security token included in the request is "
                           "invalid.")
    else:
        if token is None or not hmac.compare_digest(token.encode(),
                                                    cred.token.encode()):
            raise ApiError(403, "InvalidClientTokenId",
                           "The security token included in the request is "
                           "invalid.")
    if cred.is_expired():
        raise ApiError(403, "ExpiredToken",
                       "The security token included in the request is "
                       "expired")

    check_signing_time(state, amz_date)

    claimed = headers.get("X-Amz-Content-SHA256")
    if claimed is not None and \
            claimed.strip() != hashlib.sha256(body).hexdigest():
        raise mismatch("The provided 'x-amz-content-sha256' header does not "
                       "match what was computed.")

    # Rebuild the request from what was received and sign it again.
    if raw_path.startswith("/"):
        url = "http://" + (headers.get("Host") or "localhost") + raw_path
    else:
        url = raw_path
    request = AWSRequest(method=method, url=url, data=body)
    for name in signed:
        for value in headers.get_all(name) or []:
            request.headers[name] = value
    request.context["timestamp"] = amz_date
    signer = ExactHeadersSigV4Auth(
        Credentials(cred.access_key, cred.secret_key, cred.token),
        SERVICE, region)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    expected = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise mismatch(SIGNATURE_MISMATCH,
                       {"canonical_request": canonical,
                        "string_to_sign": string_to_sign})
    return cred


# ---------------------------------------------------------------------------
# Input decoding: Query parameters and JSON bodies into one structure
# ---------------------------------------------------------------------------

def unflatten_query(pairs):
    """Turn Query parameters into nested dicts and lists.

    'MetricData.member.2.Dimensions.member.1.Name=x' becomes
    {'MetricData': [..., {'Dimensions': [{'Name': 'x'}]}]}.  Scalars stay
    strings; typing is done by the validators.
    """
    root = {}
    for key, value in pairs:
        parts = key.split(".")
        node = root
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                if isinstance(node.get(part), dict):
                    raise invalid("The parameter %s is malformed." % key)
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise invalid("The parameter %s is malformed." % key)
                node = child
    return _listify(root, "")


def _listify(node, path):
    if not isinstance(node, dict):
        return node
    if "member" in node:
        members = node["member"]
        if len(node) != 1 or not isinstance(members, dict):
            raise invalid("The parameter %s is malformed." % path)
        indices = []
        for index in members:
            if not index.isdigit() or index.startswith("0"):
                raise invalid("The parameter %s.member.%s is malformed: list "
                              "indices start at 1." % (path, index))
            indices.append(int(index))
        indices.sort()
        if indices != list(range(1, len(indices) + 1)):
            raise invalid("The list %s.member.N must be numbered from 1 "
                          "without gaps; got members %s."
                          % (path, ", ".join(map(str, indices[:20]))))
        return [_listify(members[str(i)], "%s.member.%d" % (path, i))
                for i in indices]
    return {k: _listify(v, (path + "." + k) if path else k)
            for k, v in node.items()}


NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
INTEGER_RE = re.compile(r"^[+-]?\d+$")
SPECIAL_FLOATS = {"nan": math.nan, "infinity": math.inf, "inf": math.inf,
                  "+infinity": math.inf, "+inf": math.inf,
                  "-infinity": -math.inf, "-inf": -math.inf}


class Reader:
    """Typed access to a decoded request, for either protocol.

    Query inputs are all strings; JSON inputs carry JSON types.  Paths in
    messages use the Query spelling (MetricData.member.1.Value) for both.
    """

    def __init__(self, protocol):
        self.protocol = protocol

    def type_error(self, path, expected):
        if self.protocol == "json":
            return ApiError(400, "SerializationException",
                            "Expected %s for %s" % (expected, path))
        return invalid("The parameter %s must be %s." % (path, expected))

    def string(self, value, path):
        if not isinstance(value, str):
            raise self.type_error(path, "a string")
        return value

    def struct(self, value, path):
        if not isinstance(value, dict):
            raise self.type_error(path, "a structure")
        return value

    def list(self, value, path):
        if self.protocol == "query" and value == "":
            return []            # how the Query protocol spells an empty list
        if not isinstance(value, list):
            raise self.type_error(path, "a list")
        return value

    def double(self, value, path):
        if isinstance(value, bool):
            raise self.type_error(path, "a number")
        if isinstance(value, (int, float)) and self.protocol == "json":
            return float(value)
        if isinstance(value, str):
            text = value.strip()
            if self.protocol == "query" and NUMBER_RE.match(text):
                return float(text)
            if text.lower() in SPECIAL_FLOATS:
                return SPECIAL_FLOATS[text.lower()]
            raise invalid("The value %s for parameter %s is invalid."
                          % (value, path))
        raise self.type_error(path, "a number")

    def integer(self, value, path):
        if isinstance(value, bool):
            raise self.type_error(path, "an integer")
        if isinstance(value, int) and self.protocol == "json":
            return value
        if isinstance(value, float) and self.protocol == "json" \
                and value.is_integer():
            return int(value)
        if isinstance(value, str) and self.protocol == "query" \
                and INTEGER_RE.match(value.strip()):
            return int(value.strip())
        raise invalid("The value %s for parameter %s is invalid."
                      % (value, path))

    def timestamp(self, value, path):
        """ISO 8601 (both protocols) or epoch seconds (JSON)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and self.protocol == "json":
            if not math.isfinite(value):
                raise invalid("The value %s for parameter %s is invalid."
                              % (value, path))
            try:
                return datetime.datetime.fromtimestamp(
                    value, datetime.timezone.utc)
            except (OverflowError, OSError, ValueError):
                raise invalid("The value %s for parameter %s is invalid."
                              % (value, path))
        if isinstance(value, str):
            try:
                parsed = datetime.datetime.fromisoformat(value.strip())
            except ValueError:
                raise invalid("The value %s for parameter %s is invalid: "
                              "expected an ISO 8601 timestamp such as "
                              "2016-10-03T23:00:00Z." % (value, path))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=datetime.timezone.utc)
            return parsed.astimezone(datetime.timezone.utc)
        raise self.type_error(path, "a timestamp")


def check_finite(value, path):
    if math.isnan(value) or math.isinf(value):
        raise invalid("The value %s for parameter %s is invalid."
                      % (format_special(value), path))
    if value != 0 and not (1 / VALUE_LIMIT <= abs(value) <= VALUE_LIMIT):
        raise invalid("The value %r for parameter %s is invalid: values must "
                      "be in the range of -2^360 to 2^360 and not smaller in "
                      "magnitude than 2^-360." % (value, path))
    return value


def format_special(value):
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def check_length(text, path, low, high):
    if not low <= len(text) <= high:
        raise invalid("The parameter %s must be between %d and %d characters "
                      "long, got %d." % (path, low, high, len(text)))


def check_ascii_label(text, path):
    """Dimension names and values: ASCII, no control characters, not blank."""
    if any(ord(c) > 126 or ord(c) < 32 for c in text):
        raise invalid("The value %s for parameter %s is invalid: only "
                      "printable ASCII characters are allowed."
                      % (text, path))
    if not text.strip():
        raise invalid("The value for parameter %s must contain at least one "
                      "non-whitespace character." % path)


def read_dimensions(reader, raw, path, limit, values_required):
    dims = []
    names = set()
    items = reader.list(raw, path)
    if len(items) > limit:
        raise invalid("The collection %s must not have a size greater than "
                      "%d." % (path, limit))
    for j, item in enumerate(items, 1):
        p = "%s.member.%d" % (path, j)
        item = reader.struct(item, p)
        if "Name" not in item:
            raise missing(p + ".Name")
        name = reader.string(item["Name"], p + ".Name")
        check_length(name, p + ".Name", 1, 255)
        check_ascii_label(name, p + ".Name")
        if name.startswith(":"):
            raise invalid("The value %s for parameter %s.Name is invalid: "
                          "dimension names cannot start with ':'."
                          % (name, p))
        if name in names:
            raise invalid("The value %s for parameter %s.Name is invalid: "
                          "the dimension name is used more than once."
                          % (name, p))
        names.add(name)
        dim = {"Name": name}
        if "Value" in item:
            value = reader.string(item["Value"], p + ".Value")
            check_length(value, p + ".Value", 1, 1024)
            check_ascii_label(value, p + ".Value")
            dim["Value"] = value
        elif values_required:
            raise missing(p + ".Value")
        dims.append(dim)
    return dims


def read_namespace(reader, inp, required=True):
    if "Namespace" not in inp:
        if required:
            raise missing("Namespace")
        return None
    namespace = reader.string(inp["Namespace"], "Namespace")
    check_length(namespace, "Namespace", 1, 255)
    if namespace.startswith(":"):
        raise invalid("The value %s for parameter Namespace is invalid: it "
                      "cannot start with ':'." % namespace)
    return namespace


def read_unit(reader, raw, path):
    unit = reader.string(raw, path)
    if unit not in STANDARD_UNITS:
        raise invalid("The value %s for parameter %s is invalid: it must be "
                      "one of %s." % (unit, path,
                                      ", ".join(sorted(STANDARD_UNITS))))
    return unit


# ---------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------

def put_metric_data(state, reader, inp, ctx):
    now = now_utc()
    namespace = read_namespace(reader, inp)
    if namespace.startswith("AWS/"):
        raise invalid("The value %s for parameter Namespace is invalid: "
                      "namespaces starting with 'AWS/' are reserved for AWS "
                      "services." % namespace)
    if "MetricData" not in inp:
        raise missing("MetricData")
    data = reader.list(inp["MetricData"], "MetricData")
    if not data:
        raise missing("MetricData")
    if len(data) > MAX_METRIC_DATA:
        raise invalid("The collection MetricData must not have a size "
                      "greater than %d." % MAX_METRIC_DATA)

    records = []
    for i, raw in enumerate(data, 1):
        p = "MetricData.member.%d" % i
        datum = reader.struct(raw, p)
        if "MetricName" not in datum:
            raise missing(p + ".MetricName")
        name = reader.string(datum["MetricName"], p + ".MetricName")
        check_length(name, p + ".MetricName", 1, 255)
        with state.lock:
            rejected = name in state.faults["reject_names"]
        if rejected:
            raise invalid("The value %s for parameter %s.MetricName is "
                          "invalid (reject_names fault)." % (name, p))
        dims = read_dimensions(reader, datum.get("Dimensions", []),
                               p + ".Dimensions", MAX_DIMENSIONS, True)

        given = [k for k in ("Value", "Values", "StatisticValues")
                 if k in datum]
        if len(given) > 1:
            raise combination(
                "The parameters %s.%s and %s.%s are mutually exclusive and "
                "you have specified both." % (p, given[0], p, given[1]))
        if "Counts" in datum and "Values" not in datum:
            raise combination("The parameter %s.Counts can only be used "
                              "together with %s.Values." % (p, p))
        if not given:
            raise missing(p + ".Value")

        rec = {"namespace": namespace, "metric_name": name,
               "dimensions": dims, "value": None, "values": None,
               "counts": None, "statistic_values": None}
        if "Value" in datum:
            value = check_finite(reader.double(datum["Value"], p + ".Value"),
                                 p + ".Value")
            rec["value"] = value
            summary = (1.0, value, value, value)
        elif "Values" in datum:
            values = reader.list(datum["Values"], p + ".Values")
            values = [check_finite(reader.double(v, "%s.Values.member.%d"
                                                 % (p, k)),
                                   "%s.Values.member.%d" % (p, k))
                      for k, v in enumerate(values, 1)]
            if not values:
                raise missing(p + ".Values")
            if len(values) > MAX_VALUES:
                raise invalid("The collection %s.Values must not have a size "
                              "greater than %d." % (p, MAX_VALUES))
            if "Counts" in datum:
                counts = reader.list(datum["Counts"], p + ".Counts")
                counts = [check_finite(reader.double(c, "%s.Counts.member.%d"
                                                     % (p, k)),
                                       "%s.Counts.member.%d" % (p, k))
                          for k, c in enumerate(counts, 1)]
                if len(counts) != len(values):
                    raise invalid("The parameters %s.Values and %s.Counts "
                                  "must be arrays of the same size: %d "
                                  "values, %d counts."
                                  % (p, p, len(values), len(counts)))
                for k, c in enumerate(counts, 1):
                    if c < 0:
                        raise invalid("The value %r for parameter "
                                      "%s.Counts.member.%d is invalid: "
                                      "counts cannot be negative."
                                      % (c, p, k))
                rec["counts"] = counts
            else:
                counts = [1.0] * len(values)
            rec["values"] = values
            weighted = [(v, c) for v, c in zip(values, counts) if c > 0]
            summary = (sum(counts), sum(v * c for v, c in weighted),
                       min((v for v, _ in weighted), default=0.0),
                       max((v for v, _ in weighted), default=0.0))
        else:
            sp = p + ".StatisticValues"
            stats = reader.struct(datum["StatisticValues"], sp)
            parsed = {}
            for field in ("SampleCount", "Sum", "Minimum", "Maximum"):
                if field not in stats:
                    raise missing("%s.%s" % (sp, field))
                parsed[field] = check_finite(
                    reader.double(stats[field], "%s.%s" % (sp, field)),
                    "%s.%s" % (sp, field))
            if parsed["SampleCount"] <= 0:
                raise invalid("The value %r for parameter %s.SampleCount is "
                              "invalid: it must be greater than 0."
                              % (parsed["SampleCount"], sp))
            if parsed["Minimum"] > parsed["Maximum"]:
                raise invalid("The parameter %s.Minimum must not be greater "
                              "than %s.Maximum." % (sp, sp))
            rec["statistic_values"] = parsed
            summary = (parsed["SampleCount"], parsed["Sum"],
                       parsed["Minimum"], parsed["Maximum"])

        unit = None
        if "Unit" in datum:
            unit = read_unit(reader, datum["Unit"], p + ".Unit")
        resolution = None
        if "StorageResolution" in datum:
            resolution = reader.integer(datum["StorageResolution"],
                                        p + ".StorageResolution")
            if resolution not in (1, 60):
                raise invalid("The value %s for parameter "
                              "%s.StorageResolution is invalid: valid values "
                              "are 1 and 60." % (resolution, p))
        if "Timestamp" in datum:
            ts = reader.timestamp(datum["Timestamp"], p + ".Timestamp")
            if ts < now - MAX_AGE:
                raise invalid("The parameter %s.Timestamp must specify a "
                              "time no more than two weeks in the past "
                              "(got %s)." % (p, iso_z(ts)))
            if ts > now + MAX_FUTURE:
                raise invalid("The parameter %s.Timestamp must specify a "
                              "time no more than two hours in the future "
                              "(got %s)." % (p, iso_z(ts)))
        else:
            ts = now

        rec.update({
            "unit": unit,
            "timestamp": iso_z(ts),
            "timestamp_epoch": ts.timestamp(),
            "timestamp_given": "Timestamp" in datum,
            "storage_resolution": resolution,
            "protocol": ctx["protocol"],
            "gzip": ctx["gzip"],
            "access_key": ctx["access_key"],
            "request_id": ctx["request_id"],
            "received_at": iso_z(now),
            "received_at_epoch": now.timestamp(),
            # internal: (count, sum, min, max) and samples for percentiles
            "_summary": summary,
        })
        records.append(rec)

    state.store(records)
    ctx["datapoints"] = len(records)
    return None


def list_metrics(state, reader, inp, ctx):
    namespace = read_namespace(reader, inp, required=False)
    name = None
    if "MetricName" in inp:
        name = reader.string(inp["MetricName"], "MetricName")
        check_length(name, "MetricName", 1, 255)
    filters = read_dimensions(reader, inp.get("Dimensions", []),
                              "Dimensions", MAX_DIMENSION_FILTERS, False)
    recent = None
    if "RecentlyActive" in inp:
        if reader.string(inp["RecentlyActive"], "RecentlyActive") != "PT3H":
            raise invalid("The value %s for parameter RecentlyActive is "
                          "invalid: the only valid value is PT3H."
                          % inp["RecentlyActive"])
        recent = time.time() - 3 * 3600
    start = 0
    if "NextToken" in inp:
        token = reader.string(inp["NextToken"], "NextToken")
        if not token.isdigit():
            raise invalid("The value %s for parameter NextToken is invalid."
                          % token)
        start = int(token)

    with state.lock:
        metrics = [dict(m) for m in state.metrics.values()]
    selected = []
    for m in metrics:
        if namespace is not None and m["Namespace"] != namespace:
            continue
        if name is not None and m["MetricName"] != name:
            continue
        if recent is not None and m["last"] < recent:
            continue
        have = {d["Name"]: d["Value"] for d in m["Dimensions"]}
        if any(f["Name"] not in have or
               ("Value" in f and have[f["Name"]] != f["Value"])
               for f in filters):
            continue
        m.pop("last", None)
        selected.append(m)
    page = selected[start:start + LIST_METRICS_PAGE]
    out = {"Metrics": page}
    if start + LIST_METRICS_PAGE < len(selected):
        out["NextToken"] = str(start + LIST_METRICS_PAGE)
    return out


def get_metric_statistics(state, reader, inp, ctx):
    namespace = read_namespace(reader, inp)
    if "MetricName" not in inp:
        raise missing("MetricName")
    name = reader.string(inp["MetricName"], "MetricName")
    check_length(name, "MetricName", 1, 255)
    dims = read_dimensions(reader, inp.get("Dimensions", []), "Dimensions",
                           MAX_DIMENSIONS, True)
    for field in ("StartTime", "EndTime", "Period"):
        if field not in inp:
            raise missing(field)
    start = reader.timestamp(inp["StartTime"], "StartTime")
    end = reader.timestamp(inp["EndTime"], "EndTime")
    period = reader.integer(inp["Period"], "Period")
    if period < 1 or (period < 60 and period not in (1, 5, 10, 20, 30)) or \
            (period > 60 and period % 60):
        raise invalid("The parameter Period must be 1, 5, 10, 20, 30, 60 or "
                      "a multiple of 60, got %d." % period)
    if start >= end:
        raise invalid("The parameter StartTime must be less than the "
                      "parameter EndTime.")
    stats = []
    if "Statistics" in inp:
        for k, s in enumerate(reader.list(inp["Statistics"], "Statistics"), 1):
            s = reader.string(s, "Statistics.member.%d" % k)
            if s not in STATISTICS:
                raise invalid("The parameter Statistics.member.%d must be a "
                              "value in the set [ Minimum, Maximum, Average, "
                              "SampleCount, Sum ]." % k)
            stats.append(s)
    extended = []
    if "ExtendedStatistics" in inp:
        for k, s in enumerate(reader.list(inp["ExtendedStatistics"],
                                          "ExtendedStatistics"), 1):
            s = reader.string(s, "ExtendedStatistics.member.%d" % k)
            m = re.match(r"^p(\d{1,2}(?:\.\d{1,2})?|100)$", s)
            if not m:
                raise invalid("The value %s for parameter "
                              "ExtendedStatistics.member.%d is invalid: "
                              "expected a percentile such as p99." % (s, k))
            extended.append((s, float(m.group(1))))
    if not stats and not extended:
        raise missing("Statistics or ExtendedStatistics")
    if len(stats) > 5 or len(extended) > 10:
        raise invalid("Too many statistics requested.")
    unit = None
    if "Unit" in inp:
        unit = read_unit(reader, inp["Unit"], "Unit")

    # CloudWatch rounds the start down: to the minute, or for short periods
    # to an even division of the minute.
    t0 = start.timestamp()
    t0 -= t0 % (period if period < 60 else 60)
    t1 = end.timestamp()
    buckets = math.ceil((t1 - t0) / period)
    if buckets > MAX_DATAPOINTS_RETURNED:
        raise combination("You have requested up to %d datapoints, which "
                          "exceeds the limit of %d. You may reduce the "
                          "datapoints requested by increasing Period, or "
                          "decreasing the time range."
                          % (buckets, MAX_DATAPOINTS_RETURNED))

    key = metric_key(namespace, name, dims)
    with state.lock:
        records = [r for r in state.datapoints
                   if metric_key(r["namespace"], r["metric_name"],
                                 r["dimensions"]) == key]
    groups = collections.OrderedDict()
    for r in records:
        ts = r["timestamp_epoch"]
        if not t0 <= ts < t1:
            continue
        r_unit = r["unit"] or "None"
        if unit is not None and r_unit != unit:
            continue
        bucket = t0 + ((ts - t0) // period) * period
        groups.setdefault((bucket, r_unit), []).append(r)

    points = []
    for (bucket, r_unit), members in sorted(groups.items()):
        count = sum(r["_summary"][0] for r in members)
        total = sum(r["_summary"][1] for r in members)
        point = {"Timestamp": datetime.datetime.fromtimestamp(
            bucket, datetime.timezone.utc)}
        values = {"SampleCount": count, "Sum": total,
                  "Average": total / count if count else 0.0,
                  "Minimum": min(r["_summary"][2] for r in members),
                  "Maximum": max(r["_summary"][3] for r in members)}
        for s in STATISTICS:
            if s in stats:
                point[s] = values[s]
        point["Unit"] = r_unit
        if extended:
            samples = sample_values(members)
            point["ExtendedStatistics"] = {
                label: percentile(samples, p) for label, p in extended
                if samples}
        points.append(point)
    return {"Label": name, "Datapoints": points}


def sample_values(records):
    """(value, weight) pairs usable for percentiles (raw values only)."""
    out = []
    for r in records:
        if r["value"] is not None:
            out.append((r["value"], 1.0))
        elif r["values"] is not None:
            counts = r["counts"] or [1.0] * len(r["values"])
            out.extend((v, c) for v, c in zip(r["values"], counts) if c > 0)
        else:
            s = r["statistic_values"]
            if s["SampleCount"] == 1 or s["Minimum"] == s["Maximum"]:
                out.append((s["Minimum"], s["SampleCount"]))
    out.sort()
    return out


def percentile(samples, p):
    """Nearest-rank percentile over weighted samples."""
    total = sum(w for _, w in samples)
    rank = max(total * p / 100.0, min(w for _, w in samples))
    seen = 0.0
    for value, weight in samples:
        seen += weight
        if seen >= rank:
            return value
    return samples[-1][0]


ACTION_HANDLERS = {
    "PutMetricData": put_metric_data,
    "ListMetrics": list_metrics,
    "GetMetricStatistics": get_metric_statistics,
}


# ---------------------------------------------------------------------------
# Output encoding
# ---------------------------------------------------------------------------

def xml_value(value):
    if isinstance(value, datetime.datetime):
        return iso_z(value)
    if isinstance(value, float):
        return repr(value)
    return xml_escape(str(value))


def xml_members(name, items, render):
    if not items:
        return "<%s/>" % name
    return "<%s>%s</%s>" % (
        name, "".join("<member>%s</member>" % render(i) for i in items), name)


def render_metric(m):
    return ("<Namespace>%s</Namespace><MetricName>%s</MetricName>%s" % (
        xml_value(m["Namespace"]), xml_value(m["MetricName"]),
        xml_members("Dimensions", m["Dimensions"], render_dimension)))


def render_dimension(d):
    return "<Name>%s</Name><Value>%s</Value>" % (
        xml_value(d["Name"]), xml_value(d["Value"]))


def render_datapoint(p):
    parts = []
    for key in ("Timestamp",) + STATISTICS + ("Unit",):
        if key in p:
            parts.append("<%s>%s</%s>" % (key, xml_value(p[key]), key))
    if "ExtendedStatistics" in p:
        parts.append("<ExtendedStatistics>%s</ExtendedStatistics>" % "".join(
            "<entry><key>%s</key><value>%s</value></entry>"
            % (xml_value(k), xml_value(v))
            for k, v in p["ExtendedStatistics"].items()))
    return "".join(parts)


def query_response(action, result, request_id):
    body = ""
    if action == "ListMetrics":
        body = "<ListMetricsResult>%s%s</ListMetricsResult>" % (
            xml_members("Metrics", result["Metrics"], render_metric),
            "<NextToken>%s</NextToken>" % result["NextToken"]
            if "NextToken" in result else "")
    elif action == "GetMetricStatistics":
        body = ("<GetMetricStatisticsResult><Label>%s</Label>%s"
                "</GetMetricStatisticsResult>" % (
                    xml_value(result["Label"]),
                    xml_members("Datapoints", result["Datapoints"],
                                render_datapoint)))
    return ('<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s'
            '</RequestId></ResponseMetadata></%sResponse>\n'
            % (action, XMLNS, body, request_id, action)).encode()


def query_error(err, request_id):
    kind = "Receiver" if err.status >= 500 else "Sender"
    return ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code>'
            '<Message>%s</Message></Error><RequestId>%s</RequestId>'
            '</ErrorResponse>\n' % (XMLNS, kind, xml_escape(err.code),
                                    xml_escape(err.message),
                                    request_id)).encode()


def json_default(value):
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(repr(value))


def json_response(result):
    return json.dumps(result if result is not None else {},
                      default=json_default).encode()


def json_error(err):
    return json.dumps({"__type": JSON_ERROR_TYPES.get(err.code, err.code),
                       "message": err.message}).encode()


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class BodyTooLarge(Exception):
    def __init__(self, size):
        super().__init__(size)
        self.size = size


def gunzip_bounded(data, limit):
    """Decompress gzip data; refuse to produce more than limit bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, limit + 1)
    if len(out) > limit:
        raise BodyTooLarge(len(out))
    if d.unconsumed_tail:
        raise BodyTooLarge(limit + 1)
    out += d.flush()
    if len(out) > limit:
        raise BodyTooLarge(len(out))
    if not d.eof:
        raise zlib.error("truncated gzip stream")
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kiln-fake-cloudwatch/1"
    timeout = 120   # idle keep-alive connections are dropped after this

    # -- plumbing ----------------------------------------------------------

    @property
    def state(self):
        return self.server.state

    def date_time_string(self, timestamp=None):
        """The Date header, from this fake's clock (clock_offset_s)."""
        if timestamp is None:
            timestamp = self.state.now().timestamp()
        return email.utils.formatdate(timestamp, usegmt=True)

    def log_message(self, fmt, *args):
        if self.state.verbose >= 2:
            sys.stderr.write("fake-cloudwatch: %s\n" % (fmt % args))

    def note(self, text):
        if self.state.verbose:
            sys.stderr.write("fake-cloudwatch: %s\n" % text)

    def send(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        """The raw request body, bounded; raises BodyTooLarge."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            length = int(length)
        except ValueError:
            self.close_connection = True
            raise BodyTooLarge(-1)
        if length > MAX_READ or length < 0:
            self.close_connection = True
            raise BodyTooLarge(length)
        return self.rfile.read(length)

    def read_chunked(self):
        chunks = []
        total = 0
        for _ in range(MAX_READ):      # bounded: one iteration per chunk
            line = self.rfile.readline(1024)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                for _ in range(100):   # trailers, up to the blank line
                    if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                        break
                break
            total += size
            if total > MAX_READ:
                self.close_connection = True
                raise BodyTooLarge(total)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)
        return b"".join(chunks)

    def reset_connection(self):
        """Drop the connection with a TCP RST and no response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def sleep_ms(self, ms):
        deadline = time.monotonic() + ms / 1000.0
        for _ in range(int(ms / 50) + 2):     # bounded
            left = deadline - time.monotonic()
            if left <= 0 or self.server.stopping.is_set():
                return
            time.sleep(min(left, 0.05))

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def dispatch(self):
        if self.path == "/_fake" or self.path.startswith("/_fake/"):
            self.control()
        else:
            self.api()

    # -- the CloudWatch API ------------------------------------------------

    def api(self):
        state = self.state
        request_id = str(uuid.uuid4())
        target = self.headers.get("X-Amz-Target")
        protocol = "json" if target is not None else "query"
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        entry = {
            "time": iso_z(now_utc()), "method": self.command,
            "path": self.path, "protocol": protocol, "action": None,
            "status": None, "error_code": None, "error_message": None,
            "body_size": None, "decoded_size": None,
            "content_encoding": encoding or None, "gzip": encoding in
            ("gzip", "x-gzip"), "content_type":
            self.headers.get("Content-Type"), "access_key": None,
            "request_id": request_id, "fault": None, "datapoints": 0,
            "user_agent": self.headers.get("User-Agent"),
        }
        ctx = {"protocol": protocol, "gzip": entry["gzip"],
               "request_id": request_id, "access_key": None, "datapoints": 0}
        try:
            try:
                raw = self.read_body()
                entry["body_size"] = len(raw)
                if len(raw) > state.max_body:
                    raise BodyTooLarge(len(raw))
            except BodyTooLarge as e:
                entry["body_size"] = e.size
                raise ApiError(413, "RequestEntityTooLarge",
                               "Request size %d exceeded %d bytes"
                               % (e.size, state.max_body))

            body, decode_error = self.decode_body(raw, encoding)
            if body is not None:
                entry["decoded_size"] = len(body)
            action, inp, parse_error = self.parse_input(protocol, target, body)
            entry["action"] = action

            fault, delay_ms, detail = state.take_fault(action)
            if delay_ms:
                self.sleep_ms(delay_ms)
            if fault == "reset":
                entry["fault"] = "reset"
                state.log_request(entry)
                self.note("%s %s: reset" % (protocol, action))
                self.reset_connection()
                return
            if fault == "hang":
                entry["fault"] = "hang"
                state.log_request(entry)
                self.note("%s %s: hang %d ms" % (protocol, action, detail))
                self.sleep_ms(detail)
                self.close_connection = True
                return
            if fault == "fail_5xx":
                entry["fault"] = "fail_5xx"
                code = {503: "ServiceUnavailable"}.get(detail,
                                                       "InternalFailure")
                raise ApiError(detail, code,
                               "Service Unavailable" if detail == 503 else
                               "An internal error has occurred")

            cred = verify_sigv4(state, self.command, self.path, self.headers,
                                raw)
            entry["access_key"] = ctx["access_key"] = cred.access_key
            if decode_error is not None:
                raise decode_error
            if parse_error is not None:
                raise parse_error
            if state.take_throttle(action):
                entry["fault"] = "throttle"
                raise ApiError(400, "Throttling", "Rate exceeded")

            reader = Reader(protocol)
            result = ACTION_HANDLERS[action](state, reader, inp, ctx)
            entry["datapoints"] = ctx["datapoints"]
            entry["status"] = 200
            if protocol == "json":
                self.send(200, json_response(result),
                          "application/x-amz-json-1.0",
                          [("x-amzn-RequestId", request_id)])
            else:
                self.send(200, query_response(action, result, request_id),
                          "text/xml", [("x-amzn-RequestId", request_id)])
        except Exception as exc:     # ApiError, or a bug in this fake
            err = exc
            if not isinstance(exc, ApiError):
                err = ApiError(500, "InternalFailure",
                               "fake CloudWatch bug: %r" % exc)
                sys.stderr.write("fake-cloudwatch: internal error: %r\n"
                                 % exc)
            entry.update(status=err.status, error_code=err.code,
                         error_message=err.message)
            entry.update(err.debug)
            headers = [("x-amzn-RequestId", request_id)]
            if protocol == "json":
                headers.append(("x-amzn-query-error", "%s;%s" % (
                    err.code, "Receiver" if err.status >= 500 else "Sender")))
                self.send(err.status, json_error(err),
                          "application/x-amz-json-1.0", headers)
            else:
                self.send(err.status, query_error(err, request_id),
                          "text/xml", headers)
        finally:
            if entry["status"] is not None:
                state.log_request(entry)
                self.note("%s %s -> %s %s%s" % (
                    protocol, entry["action"], entry["status"],
                    entry["error_code"] or "",
                    (": " + entry["error_message"])
                    if entry["error_message"] else ""))

    def decode_body(self, raw, encoding):
        """(decoded body or None, ApiError or None).  Errors are reported only
        after the signature has been checked."""
        if encoding in ("", "identity"):
            return raw, None
        if encoding in ("gzip", "x-gzip"):
            try:
                return gunzip_bounded(raw, self.state.max_body), None
            except BodyTooLarge as e:
                return None, ApiError(
                    413, "RequestEntityTooLarge",
                    "Decompressed request size %d exceeded %d bytes"
                    % (e.size, self.state.max_body))
            except (zlib.error, EOFError) as e:
                return None, ApiError(
                    400, "MalformedHttpRequest",
                    "Unable to decompress the request body according to "
                    "Content-Encoding gzip: %s" % e)
        return None, ApiError(400, "MalformedHttpRequest",
                              "Unsupported Content-Encoding: %s" % encoding)

    def parse_input(self, protocol, target, body):
        """(action, input structure, ApiError or None)."""
        if protocol == "json":
            prefix, _, action = target.partition(".")
            if prefix != JSON_TARGET_PREFIX or action not in ACTIONS:
                return action or target, None, ApiError(
                    400, "InvalidAction",
                    "Unknown operation %s (this fake knows %s)"
                    % (target, ", ".join(JSON_TARGET_PREFIX + "." + a
                                         for a in ACTIONS)))
            if body is None:
                return action, None, None
            try:
                inp = json.loads(body.decode("utf-8") or "{}")
            except (UnicodeDecodeError, ValueError) as e:
                return action, None, ApiError(
                    400, "SerializationException",
                    "The request body is not valid JSON: %s" % e)
            if not isinstance(inp, dict):
                return action, None, ApiError(
                    400, "SerializationException",
                    "The request body must be a JSON object")
            return action, inp, None

        query = urllib.parse.urlsplit(self.path).query
        text = query
        content_type = (self.headers.get("Content-Type") or "").lower()
        if body and self.command == "POST" and \
                content_type.startswith("application/x-www-form-urlencoded"):
            try:
                form = body.decode("utf-8")
            except UnicodeDecodeError:
                return None, None, ApiError(
                    400, "MalformedQueryString",
                    "The request body is not valid UTF-8")
            text = (query + "&" + form) if query else form
        try:
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True,
                                           errors="strict")
        except (UnicodeDecodeError, ValueError) as e:
            return None, None, ApiError(400, "MalformedQueryString",
                                        "The query string is malformed: %s"
                                        % e)
        params = dict(pairs)
        action = params.get("Action")
        if not action:
            return None, None, ApiError(
                400, "MissingAction",
                "The request must contain the parameter Action.")
        if action not in ACTIONS:
            return action, None, ApiError(
                400, "InvalidAction",
                "Could not find operation %s for version %s"
                % (action, params.get("Version", API_VERSION)))
        if "Version" not in params:
            return action, None, missing("Version")
        if params["Version"] != API_VERSION:
            return action, None, ApiError(
                400, "InvalidAction",
                "Could not find operation %s for version %s"
                % (action, params["Version"]))
        try:
            inp = unflatten_query((k, v) for k, v in pairs
                                  if k not in ("Action", "Version"))
        except ApiError as e:
            return action, None, e
        return action, inp, None

    # -- the control API ---------------------------------------------------

    def control(self):
        state = self.state
        url = urllib.parse.urlsplit(self.path)
        name = url.path[len("/_fake"):].strip("/")
        query = dict(urllib.parse.parse_qsl(url.query))
        try:
            raw = self.read_body()
        except BodyTooLarge:
            return self.send_json(413, {"error": "body too large"})
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError) as e:
            return self.send_json(400, {"error": "invalid JSON: %s" % e})
        if not isinstance(body, dict):
            return self.send_json(400, {"error": "expected a JSON object"})
        method = self.command
        try:
            if name == "" and method in ("GET", "HEAD"):
                return self.send(200, control_help().encode(),
                                 "text/plain; charset=utf-8")
            if name == "health" and method in ("GET", "HEAD"):
                return self.send_json(200, {
                    "ok": True, "port": self.server.server_address[1],
                    "region": state.region})
            if name == "faults":
                if method == "POST":
                    set_faults(state, body)
                with state.lock:
                    return self.send_json(200, dict(state.faults))
            if name == "datapoints" and method in ("GET", "HEAD"):
                with state.lock:
                    points = [public_record(r) for r in state.datapoints]
                for key in ("namespace", "metric_name", "protocol"):
                    if key in query:
                        points = [p for p in points
                                  if p[key] == query[key]]
                return self.send_json(200, points)
            if name == "requests" and method in ("GET", "HEAD"):
                with state.lock:
                    entries = [dict(e) for e in state.requests]
                return self.send_json(200, entries)
            if name == "reset" and method == "POST":
                with state.lock:
                    state.datapoints.clear()
                    state.metrics.clear()
                    state.requests.clear()
                    if not body.get("keep_faults"):
                        state.faults = dict(FAULT_DEFAULTS)
                return self.send_json(200, {"ok": True})
            if name == "creds":
                if method == "POST":
                    set_creds(state, body)
                with state.lock:
                    creds = [c.to_json() for c in state.creds.values()]
                return self.send_json(200, creds)
        except ValueError as e:
            return self.send_json(400, {"error": str(e)})
        return self.send_json(404, {"error": "no such control endpoint: %s %s"
                                    % (method, self.path)})

    def send_json(self, status, obj):
        self.send(status, (json.dumps(obj, indent=1) + "\n").encode(),
                  "application/json")


def public_record(rec):
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def set_faults(state, body):
    """Validate and apply a partial fault update (raises ValueError)."""
    unknown = set(body) - set(FAULT_DEFAULTS)
    if unknown:
        raise ValueError("unknown fault keys: %s (known: %s)"
                         % (", ".join(sorted(unknown)),
                            ", ".join(FAULT_DEFAULTS)))
    update = {}
    for key, value in body.items():
        if key == "reject_names":
            if not isinstance(value, list) or \
                    any(not isinstance(n, str) for n in value):
                raise ValueError("reject_names must be a list of strings")
        elif key == "skew_error":
            if value not in SKEW_ERRORS:
                raise ValueError("skew_error must be one of %s"
                                 % ", ".join(SKEW_ERRORS))
        elif key == "clock_offset_s":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("clock_offset_s must be an integer")
        elif key == "actions":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or \
                    any(a != "*" and a not in ACTIONS for a in value):
                raise ValueError("actions must be a list of %s or '*'"
                                 % ", ".join(ACTIONS))
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("%s must be an integer" % key)
            if key == "fail_status" and not 500 <= value <= 599:
                raise ValueError("fail_status must be 500..599")
            if key not in ("hang",) and value < 0:
                raise ValueError("%s must not be negative" % key)
            if key == "hang" and value < -1:
                raise ValueError("hang must be -1 (every request) or >= 0")
        update[key] = value
    with state.lock:
        if update.get("hang_ms") and "hang" not in update \
                and state.faults["hang"] == 0:
            update["hang"] = -1
        state.faults.update(update)


def set_creds(state, body):
    unknown = set(body) - {"replace", "add", "remove", "expire", "unexpire"}
    if unknown:
        raise ValueError("unknown keys: %s" % ", ".join(sorted(unknown)))
    replace = [cred_from_json(c) for c in body.get("replace", [])] \
        if "replace" in body else None
    add = [cred_from_json(c) for c in body.get("add", [])]
    with state.lock:
        if replace is not None:
            state.creds.clear()
            for c in replace:
                state.creds[c.access_key] = c
        for c in add:
            state.creds[c.access_key] = c
        for ak in body.get("remove", []):
            state.creds.pop(ak, None)
        for ak in body.get("expire", []):
            if ak in state.creds:
                state.creds[ak].expired = True
        for ak in body.get("unexpire", []):
            if ak in state.creds:
                state.creds[ak].expired = False


def control_help():
    return """fake CloudWatch control API (unsigned, not logged, no faults)

GET  /_fake/health      {"ok": true, "port": N, "region": "..."}
GET  /_fake/faults      current faults
POST /_fake/faults      set some of: throttle, fail_5xx, fail_status, reset,
                        hang, hang_ms, delay_ms, actions, reject_names
                        (metric names answered 400 InvalidParameterValue),
                        clock_offset_s (this fake's clock minus the real
                        one: signatures more than 5 min off it are refused,
                        Date is sent from it), skew_error
                        ("SignatureDoesNotMatch": 403 "Signature expired",
                        the default; "RequestExpired": 400)
GET  /_fake/datapoints  accepted datapoints (?namespace=&metric_name=&protocol=)
GET  /_fake/requests    request log
POST /_fake/reset       clear datapoints, metrics, request log and faults
                        ({"keep_faults": true} keeps the faults)
GET  /_fake/creds       accepted credentials
POST /_fake/creds       {"replace"|"add": [{"access_key", "secret_key",
                        "session_token"?, "expired"?}], "remove": [AK],
                        "expire": [AK], "unexpire": [AK]}
"""


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, state):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.stopping = threading.Event()
        super().__init__(address, Handler)


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Fake Amazon CloudWatch (PutMetricData, ListMetrics, "
        "GetMetricStatistics; Query and JSON 1.0; SigV4 checked with "
        "botocore).")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0,
                   help="0 picks a free port (default)")
    p.add_argument("--port-file",
                   help="write the port here, atomically, once listening")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--access-key")
    p.add_argument("--secret-key")
    p.add_argument("--session-token",
                   help="requests must then carry this X-Amz-Security-Token")
    p.add_argument("--cred", action="append", default=[], metavar="AK:SK[:TOKEN]",
                   help="another accepted credential set (repeatable)")
    p.add_argument("--trust-imds", metavar="URL",
                   help="also accept the role credentials this fake IMDS "
                   "has minted (read from URL/_fake/credentials)")
    p.add_argument("--max-body", type=int, default=MAX_BODY,
                   help="largest request body, on the wire and decompressed "
                   "(default %(default)s)")
    p.add_argument("--max-datapoints", type=int, default=1000000,
                   help="datapoints kept (oldest dropped beyond)")
    p.add_argument("--max-requests", type=int, default=100000,
                   help="request log entries kept")
    faults = p.add_argument_group("faults (also settable via /_fake/faults)")
    faults.add_argument("--throttle", type=int, metavar="N")
    faults.add_argument("--fail-5xx", dest="fail_5xx", type=int, metavar="N")
    faults.add_argument("--fail-status", dest="fail_status", type=int,
                        choices=range(500, 600), metavar="STATUS")
    faults.add_argument("--reset", type=int, metavar="N")
    faults.add_argument("--hang", type=int, metavar="N",
                        help="-1: every request")
    faults.add_argument("--hang-ms", dest="hang_ms", type=int, metavar="MS")
    faults.add_argument("--delay-ms", dest="delay_ms", type=int, metavar="MS")
    faults.add_argument("--clock-offset-s", dest="clock_offset_s", type=int,
                        metavar="S", help="run this fake's clock S s off")
    faults.add_argument("--skew-error", dest="skew_error", choices=SKEW_ERRORS)
    faults.add_argument("--fault-actions", dest="actions",
                        type=lambda s: s.split(","), metavar="A,B",
                        help="actions faults apply to (default PutMetricData;"
                        " '*' for all)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log requests to stderr (-vv: also HTTP lines)")
    args = p.parse_args(argv)

    creds = []
    try:
        if args.access_key or args.secret_key:
            if not (args.access_key and args.secret_key):
                p.error("--access-key and --secret-key go together")
            creds.append(Cred(args.access_key, args.secret_key,
                              args.session_token))
        elif args.session_token:
            p.error("--session-token needs --access-key and --secret-key")
        creds.extend(parse_cred(c) for c in args.cred)
    except ValueError as e:
        p.error(str(e))
    if not creds and not args.trust_imds:
        p.error("give credentials: --access-key/--secret-key, --cred or "
                "--trust-imds")
    args.creds = creds
    if args.actions is not None and \
            any(a != "*" and a not in ACTIONS for a in args.actions):
        p.error("--fault-actions: known actions are %s" % ", ".join(ACTIONS))
    return args


def main(argv):
    args = parse_args(argv)
    state = State(args)
    server = Server((args.bind, args.port), state)
    port = server.server_address[1]

    def stop(signum, frame):
        server.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        write_port_file(args.port_file, port)
    if args.verbose:
        sys.stderr.write("fake-cloudwatch: listening on %s:%d (region %s)\n"
                         % (args.bind, port, args.region))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if args.verbose:
            sys.stderr.write("fake-cloudwatch: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
