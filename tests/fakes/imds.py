#!/usr/bin/python3
"""Fake EC2 Instance Metadata Service (IMDS) for kiln's tests and demo.

Speaks the IMDSv1/IMDSv2 protocol on loopback (or any address), with fault
knobs, and a control API under /_fake/ on the same port. Standard library only.

Start:  imds.py --port 0 --port-file F [data flags] [mode/fault flags]
        F appears (written atomically) once the server is listening.

Control API (JSON in and out; never faulted, never logged):
  GET  /_fake/config     the knobs below
  POST /_fake/config     set some knobs: {"delay_ms": 200, "fail_5xx": 2}
        delay_ms            every response delayed (ms)
        fail_5xx            the next N requests answer fail_status
        fail_status         500..599 (default 503)
        reset               the next N requests: connection reset (RST)
        hang_ms             requests hang this long, then the connection closes
        hang_count          how many of the next requests hang (-1 = all)
        token_ttl_override  null, or seconds after which new tokens expire
        disabled            every request answers 403
        v1_only             no token API (PUT answers 404), tokens ignored
        v2_required         GET without a token answers 401
        paths               {"/latest/meta-data/x" or "/prefix*":
                             {"status", "count" (-1 = always), "delay_ms",
                              "hang_ms", "reset", "body"}}  (replaces all)
        expire_tokens       true: every token issued so far becomes invalid
        expire_credentials  true: next credentials read mints new keys
  GET  /_fake/data       the instance data now served
  POST /_fake/data       override instance data: {"instance_id": "i-new"}
  GET  /_fake/requests   [{"time", "method", "path", "token", "status",
                           "fault"}]
  GET  /_fake/tokens     every token issued so far (to check none is logged)
  GET  /_fake/stats      {"requests", "token_puts", "tokens_issued", "gets",
                          "gets_without_token", "by_status", "faults"}
  GET  /_fake/credentials  every role credential minted so far, oldest first:
                         [{"AccessKeyId", "SecretAccessKey", "Token",
                           "Expiration", "expires" (epoch)}]; the fake
                         CloudWatch (--trust-imds) accepts them, as AWS
                         accepts an instance role's keys
  POST /_fake/reset      clear log, stats, faults and data overrides; modes
                         (disabled, v1_only, v2_required) back to the flags'

Fleet events: instance data keys (flags, --state-file, POST /_fake/data),
served in AWS's formats, changeable mid-run:
  lifecycle_state     "InService", "Terminated", "Warmed:Stopped", ... ->
                      meta-data/autoscaling/target-lifecycle-state (text);
                      "" (default): not in an Auto Scaling group, no
                      autoscaling/ (404)
  spot_action         "terminate" | "stop" | "hibernate" ->
                      meta-data/spot/instance-action
                        {"action": "terminate", "time": "2017-09-18T08:22:00Z"}
                      and, for terminate, meta-data/spot/termination-time
                      (the time alone); instance-life-cycle says "spot".
                      "" (default): no spot/ (404)
  spot_time           the notice's time (default: 2 minutes after the fake
                      first served the action)
  rebalance_time      "2020-11-05T08:22:00Z" ->
                      meta-data/events/recommendations/rebalance
                        {"noticeTime": "2020-11-05T08:22:00Z"}
                      "" (default): 404
  scheduled_events    a list of {"Code", "Description", "EventId",
                      "NotBefore", "NotAfter", "State"} (NotBefore/After as
                      IMDS writes them: "21 Jan 2019 09:00:43 GMT") ->
                      meta-data/events/maintenance/scheduled, a JSON list,
                      "[]" when there are none
  tags                {"aws:autoscaling:groupName": "grp", ...} ->
                      meta-data/tags/instance/ (keys, one a line) and
                      meta-data/tags/instance/KEY (the value)
  instance_metadata_tags  false (--no-instance-metadata-tags): tags are
                      not in the metadata (tags/ 404), as when the
                      instance's metadata options leave them off
"""

import argparse
import base64
import collections
import hashlib
import http
import http.server
import json
import os
import secrets
import signal
import socket
import socketserver
import string
import struct
import sys
import threading
import time
import urllib.parse

TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
MAX_TOKEN_TTL = 21600
MAX_TOKENS = 4096
MAX_BODY = 1 << 20
MAX_USER_DATA = 16 << 20
MAX_LOG = 10000
VERSIONS = ("1.0", "2007-01-19", "2008-02-01", "2009-04-04", "2011-01-01",
            "2012-01-12", "2016-09-02", "2018-09-24", "2021-07-15", "latest")

ERROR_PAGE = """<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>{code} - {reason}</title>
 </head>
 <body>
  <h1>{code} - {reason}</h1>
 </body>
</html>
"""

DATA_DEFAULTS = {
    "instance_id": "i-0123456789abcdef0",
    "region": "us-east-1",
    "az": "",                   # derived: region + "a"
    "instance_type": "t3.micro",
    "image_id": "ami-0123456789abcdef0",
    "account_id": "123456789012",
    "architecture": "x86_64",
    "local_ipv4": "172.31.16.10",
    "public_ipv4": "203.0.113.10",  # "" = no public address
    "hostname": "",             # derived from local_ipv4 and region
    "public_hostname": "",      # derived from public_ipv4 and region
    "mac": "0e:12:34:56:78:9a",
    "public_key": "",           # "" = no key pair
    "key_name": "",             # derived: the key's comment
    "user_data_file": "",
    "role": "",                 # "" = no instance profile
    "cred_ttl": 21600,
    "cred_access_key": "",
    "cred_secret_key": "",
    "cred_token": "",           # "" = a random session token
    "tags": {},
    "reservation_id": "r-0123456789abcdef0",
    "launch_index": "0",        # ami-launch-index; "" = not served
    "security_groups": "default",
    "pending_time": "",         # derived: when the fake started
    "ephemerals": "",           # instance store: "sdb,sdc" -> block-device-mapping/ephemeral0, 1
    # Fleet events (see "Fleet events" in the module docstring).
    "instance_metadata_tags": True,  # false: no tags/ even with tags set
    "lifecycle_state": "",      # autoscaling/target-lifecycle-state; "" = not in an ASG
    "instance_life_cycle": "",  # derived: "spot" with a spot_action, else "on-demand"
    "spot_action": "",          # "" | terminate | stop | hibernate
    "spot_time": "",            # its time (default: 2 minutes after it was set)
    "rebalance_time": "",       # events/recommendations/rebalance noticeTime
    "scheduled_events": [],     # events/maintenance/scheduled, as IMDS lists them
}
SPOT_ACTIONS = ("", "terminate", "stop", "hibernate")
LIFECYCLE_STATES = (
    "", "Pending", "Pending:Wait", "Pending:Proceed", "Quarantined",
    "InService", "Terminating", "Terminating:Wait", "Terminating:Proceed",
    "Terminated", "Detaching", "Detached", "EnteringStandby", "Standby",
    "Warmed:Pending", "Warmed:Pending:Wait", "Warmed:Pending:Proceed",
    "Warmed:Terminating", "Warmed:Terminating:Wait",
    "Warmed:Terminating:Proceed", "Warmed:Terminated", "Warmed:Stopped",
    "Warmed:Running", "Warmed:Hibernated")
EVENT_KEYS = ("NotBefore", "Code", "Description", "EventId", "NotAfter",
              "State")

FAULT_DEFAULTS = {
    "delay_ms": 0, "fail_5xx": 0, "fail_status": 503, "reset": 0,
    "hang_ms": 0, "hang_count": -1, "token_ttl_override": None, "paths": {},
}
MODE_KEYS = ("disabled", "v1_only", "v2_required")
ACTION_KEYS = ("expire_tokens", "expire_credentials")
PATH_FAULT_KEYS = ("status", "count", "delay_ms", "hang_ms", "reset", "body")

VERBOSE = False


def log(msg):
    """Print to stderr when -v was given."""
    if VERBOSE:
        print(f"fake-imds: {msg}", file=sys.stderr, flush=True)


def iso8601(ts):
    """Seconds since the epoch as AWS writes them: 2024-01-02T03:04:05Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def aws_json(obj):
    """JSON laid out like IMDS's own documents."""
    return json.dumps(obj, indent=2, separators=(",", " : "))


def random_text(alphabet, n):
    return "".join(secrets.choice(alphabet) for _ in range(n))


# ---------------------------------------------------------------- validation

def check_int(name, value, lo, hi=None):
    """Return value if it is an int within [lo, hi], else raise ValueError."""
    if type(value) is not int or value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name}: expected an integer {bound}")
    return value


def check_bool(name, value):
    if type(value) is not bool:
        raise ValueError(f"{name}: expected true or false")
    return value


def check_path_fault(path, spec):
    """Validate one entry of the "paths" knob; fill in its defaults."""
    if not isinstance(spec, dict):
        raise ValueError(f"paths[{path}]: expected an object")
    unknown = set(spec) - set(PATH_FAULT_KEYS)
    if unknown:
        raise ValueError(f"paths[{path}]: unknown keys {sorted(unknown)}")
    out = {"status": None, "count": -1, "delay_ms": 0, "hang_ms": 0,
           "reset": False, "body": None}
    out.update(spec)
    if out["status"] is not None:
        check_int(f"paths[{path}].status", out["status"], 100, 599)
    check_int(f"paths[{path}].count", out["count"], -1)
    check_int(f"paths[{path}].delay_ms", out["delay_ms"], 0)
    check_int(f"paths[{path}].hang_ms", out["hang_ms"], 0)
    check_bool(f"paths[{path}].reset", out["reset"])
    if out["body"] is not None and not isinstance(out["body"], str):
        raise ValueError(f"paths[{path}].body: expected a string")
    return out


def check_knob(name, value):
    """Validate one knob of POST /_fake/config; return the value to store."""
    if name in MODE_KEYS or name in ACTION_KEYS:
        return check_bool(name, value)
    if name == "fail_status":
        return check_int(name, value, 500, 599)
    if name == "hang_count":
        return check_int(name, value, -1)
    if name == "token_ttl_override":
        return None if value is None else check_int(name, value, 0)
    if name == "paths":
        if not isinstance(value, dict):
            raise ValueError("paths: expected an object")
        return {p: check_path_fault(p, s) for p, s in value.items()}
    if name in FAULT_DEFAULTS:
        return check_int(name, value, 0)
    raise ValueError(f"unknown knob: {name}")


def check_data(values, strict):
    """Normalise instance data (flags, state file, POST /_fake/data).

    Keys may use - or _; unknown keys raise when strict, else are dropped.
    """
    out = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in DATA_DEFAULTS:
            if strict:
                raise ValueError(f"unknown data key: {key}")
            log(f"ignoring unknown data key {key}")
            continue
        if key == "cred_ttl":
            out[key] = check_int(key, value, 1)
        elif key == "tags":
            if not isinstance(value, dict):
                raise ValueError("tags: expected an object")
            out[key] = {str(k): str(v) for k, v in value.items()}
        elif key == "instance_metadata_tags":
            out[key] = check_bool(key, value)
        elif key == "scheduled_events":
            out[key] = check_events(value)
        elif key == "spot_action" and (value or "") not in SPOT_ACTIONS:
            raise ValueError(f"spot_action: one of {SPOT_ACTIONS}")
        elif key == "lifecycle_state" and (value or "") not in LIFECYCLE_STATES:
            raise ValueError(f"lifecycle_state: not a lifecycle state: {value}")
        else:
            out[key] = "" if value is None else str(value)
    return out


def check_events(value):
    """scheduled_events: a list of {Code, Description, EventId, NotBefore,
    NotAfter, State} (strings; NotBefore/NotAfter as IMDS writes them,
    "21 Jan 2019 09:00:43 GMT"). Missing keys are left out."""
    if not isinstance(value, list):
        raise ValueError("scheduled_events: expected a list")
    out = []
    for ev in value:
        if not isinstance(ev, dict) or set(ev) - set(EVENT_KEYS):
            raise ValueError(f"scheduled_events: objects with keys {EVENT_KEYS}")
        out.append({k: str(ev[k]) for k in EVENT_KEYS if k in ev})
    return out


# ------------------------------------------------------------ instance data

def partition_of(region):
    """(partition, domain) of an AWS region."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def derive(data, started):
    """Fill in the fields computed from others."""
    d = dict(data)
    region = d["region"]
    d["az"] = d["az"] or region + "a"
    d["pending_time"] = d["pending_time"] or iso8601(started)
    dashed = d["local_ipv4"].replace(".", "-")
    if not d["hostname"]:
        suffix = ("ec2.internal" if region == "us-east-1"
                  else f"{region}.compute.internal")
        d["hostname"] = f"ip-{dashed}.{suffix}"
    if d["public_ipv4"] and not d["public_hostname"]:
        pub = d["public_ipv4"].replace(".", "-")
        suffix = ("compute-1.amazonaws.com" if region == "us-east-1"
                  else f"{region}.compute.amazonaws.com")
        d["public_hostname"] = f"ec2-{pub}.{suffix}"
    d["instance_life_cycle"] = d["instance_life_cycle"] or (
        "spot" if d["spot_action"] else "on-demand")
    if d["public_key"] and not d["key_name"]:
        fields = d["public_key"].split()
        d["key_name"] = fields[2] if len(fields) > 2 else "kiln"
    return d


class InstanceData:
    """Flags, then the state file (re-read on every use), then overrides."""

    def __init__(self, base, state_file):
        self.base = base
        self.state_file = state_file
        self.started = time.time()
        self.overrides = {}
        self._last_good = {}
        self._spot_seen = None
        self._lock = threading.Lock()

    def _read_state_file(self):
        if not self.state_file:
            return {}
        try:
            with open(self.state_file, encoding="utf-8") as f:
                raw = json.load(f)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            values = check_data(raw, strict=False)
        except FileNotFoundError:
            values = {}
        except (OSError, ValueError) as e:
            log(f"state file {self.state_file}: {e}; keeping the last one")
            return self._last_good
        self._last_good = values
        return values

    def current(self):
        merged = dict(self.base)
        with self._lock:
            merged.update(self._read_state_file())
            merged.update(self.overrides)
            # A spot action without a time: two minutes after it was
            # first seen, as AWS gives.
            if not merged["spot_action"]:
                self._spot_seen = None
            elif not merged["spot_time"]:
                if self._spot_seen is None:
                    self._spot_seen = time.time()
                merged["spot_time"] = iso8601(self._spot_seen + 120)
        return derive(merged, self.started)

    def override(self, values):
        checked = check_data(values, strict=True)
        with self._lock:
            self.overrides.update(checked)

    def clear_overrides(self):
        with self._lock:
            self.overrides = {}


# ----------------------------------------------------- tokens, credentials

class TokenStore:
    """IMDSv2 session tokens and their deadlines (monotonic clock)."""

    def __init__(self):
        self._deadlines = {}
        self._issued = collections.deque(maxlen=MAX_TOKENS)
        self._lock = threading.Lock()

    def issue(self, lifetime):
        token = "AQAEA" + base64.b64encode(secrets.token_bytes(39)).decode()
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            self._deadlines[token] = now + lifetime
            self._issued.append(token)
        return token

    def issued(self):
        """Every token handed out (bounded), so tests can grep logs for them."""
        with self._lock:
            return list(self._issued)

    def valid(self, token):
        with self._lock:
            deadline = self._deadlines.get(token)
        return deadline is not None and time.monotonic() < deadline

    def expire_all(self):
        with self._lock:
            self._deadlines.clear()

    def _prune(self, now):
        for token in [t for t, d in self._deadlines.items() if d <= now]:
            del self._deadlines[token]
        while len(self._deadlines) >= MAX_TOKENS:
            del self._deadlines[next(iter(self._deadlines))]


class CredentialStore:
    """Role credentials, minted again each time the previous ones expire."""

    MAX_HISTORY = 10000

    def __init__(self):
        self._by_role = {}
        self._history = collections.deque(maxlen=self.MAX_HISTORY)
        self._lock = threading.Lock()

    def get(self, data):
        role = data["role"]
        now = time.time()
        with self._lock:
            creds = self._by_role.get(role)
            if creds is None or now >= creds["expires"]:
                creds = self._mint(data, now)
                self._by_role[role] = creds
                self._history.append(dict(creds["doc"], expires=creds["expires"]))
            return creds

    def history(self):
        with self._lock:
            return list(self._history)

    def expire_all(self):
        with self._lock:
            self._by_role.clear()

    @staticmethod
    def _mint(data, now):
        now = int(now)
        key_chars = string.ascii_uppercase + "234567"
        secret_chars = string.ascii_letters + string.digits + "+/"
        return {
            "expires": now + data["cred_ttl"],
            "doc": {
                "Code": "Success",
                "LastUpdated": iso8601(now),
                "Type": "AWS-HMAC",
                "AccessKeyId": (data["cred_access_key"]
                                or "ASIA" + random_text(key_chars, 16)),
                "SecretAccessKey": (data["cred_secret_key"]
                                    or random_text(secret_chars, 40)),
                "Token": (data["cred_token"] or
                          base64.b64encode(secrets.token_bytes(300)).decode()),
                "Expiration": iso8601(now + data["cred_ttl"]),
            },
        }


# ------------------------------------------------------------ metadata tree

class Dir(dict):
    """A metadata directory; labels replace a child's name in the listing."""

    def __init__(self, children, labels=None):
        super().__init__(children)
        self.labels = labels or {}

    def listing(self):
        lines = []
        for name in sorted(self):
            if name in self.labels:
                lines.append(self.labels[name])
            elif isinstance(self[name], dict):
                lines.append(name + "/")
            else:
                lines.append(name)
        return "\n".join(lines)


def identity_document(d):
    """dynamic/instance-identity/document, keys in AWS's order."""
    return aws_json({
        "accountId": d["account_id"],
        "architecture": d["architecture"],
        "availabilityZone": d["az"],
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": d["image_id"],
        "instanceId": d["instance_id"],
        "instanceType": d["instance_type"],
        "kernelId": None,
        "pendingTime": d["pending_time"],
        "privateIp": d["local_ipv4"],
        "ramdiskId": None,
        "region": d["region"],
        "version": "2017-09-30",
    })


def iam_tree(d, creds):
    """meta-data/iam/, present only when the instance has a role."""
    role = d["role"]
    partition, _ = partition_of(d["region"])
    digest = hashlib.sha256(role.encode()).hexdigest()
    profile_id = "AIPA" + digest[:17].upper()

    def info():
        return aws_json({
            "Code": "Success",
            "LastUpdated": creds.get(d)["doc"]["LastUpdated"],
            "InstanceProfileArn": (f"arn:{partition}:iam::{d['account_id']}"
                                   f":instance-profile/{role}"),
            "InstanceProfileId": profile_id,
        })

    return Dir({
        "info": info,
        "security-credentials": Dir({
            role: lambda: aws_json(creds.get(d)["doc"]),
        }),
    })


def network_tree(d):
    """meta-data/network/interfaces/macs/MAC/ for the one interface."""
    iface = {
        "device-number": "0",
        "interface-id": "eni-0123456789abcdef0",
        "local-hostname": d["hostname"],
        "local-ipv4s": d["local_ipv4"],
        "mac": d["mac"],
        "owner-id": d["account_id"],
        "security-groups": d["security_groups"],
        "subnet-id": "subnet-0123456789abcdef0",
        "vpc-id": "vpc-0123456789abcdef0",
    }
    if d["public_ipv4"]:
        iface["public-hostname"] = d["public_hostname"]
        iface["public-ipv4s"] = d["public_ipv4"]
    macs = Dir({d["mac"]: Dir(iface)})
    return Dir({"interfaces": Dir({"macs": macs})})


def block_device_mapping(d):
    """As EC2 lists it: ami and root as /dev paths, instance store volumes
    as bare names (ephemeral0: sdb), in launch order."""
    bdm = {"ami": "/dev/xvda", "root": "/dev/xvda"}
    names = [n for n in d.get("ephemerals", "").split(",") if n]
    for i, name in enumerate(names):
        bdm[f"ephemeral{i}"] = name
    return Dir(bdm)


def meta_data_tree(d, creds):
    """/latest/meta-data/."""
    _, domain = partition_of(d["region"])
    md = Dir({
        "ami-id": d["image_id"],
        "ami-manifest-path": "(unknown)",
        "block-device-mapping": block_device_mapping(d),
        "hostname": d["hostname"],
        "instance-action": "none",
        "instance-id": d["instance_id"],
        "instance-life-cycle": d["instance_life_cycle"],
        "events": Dir({
            "maintenance": Dir({
                "scheduled": aws_json(d["scheduled_events"]),
                "history": "[]",
            }),
        }),
        "instance-type": d["instance_type"],
        "local-hostname": d["hostname"],
        "local-ipv4": d["local_ipv4"],
        "mac": d["mac"],
        "network": network_tree(d),
        "placement": Dir({
            "availability-zone": d["az"],
            "region": d["region"],
        }),
        "profile": "default-hvm",
        "reservation-id": d["reservation_id"],
        "security-groups": d["security_groups"],
        "services": Dir({"domain": domain,
                         "partition": partition_of(d["region"])[0]}),
    })
    if d["launch_index"]:
        md["ami-launch-index"] = d["launch_index"]
    if d["public_ipv4"]:
        md["public-ipv4"] = d["public_ipv4"]
        md["public-hostname"] = d["public_hostname"]
    if d["public_key"]:
        md["public-keys"] = Dir({"0": Dir({"openssh-key": d["public_key"]})},
                                labels={"0": f"0={d['key_name']}"})
    if d["role"]:
        md["iam"] = iam_tree(d, creds)
    if d["tags"] and d["instance_metadata_tags"]:
        md["tags"] = Dir({"instance": Dir(dict(d["tags"]))})
    if d["lifecycle_state"]:
        md["autoscaling"] = Dir(
            {"target-lifecycle-state": d["lifecycle_state"]})
    if d["spot_action"]:
        # The interruption notice; termination-time only for terminate.
        spot = {"instance-action": aws_json({"action": d["spot_action"],
                                             "time": d["spot_time"]})}
        if d["spot_action"] == "terminate":
            spot["termination-time"] = d["spot_time"]
        md["spot"] = Dir(spot)
    if d["rebalance_time"]:
        md["events"]["recommendations"] = Dir({"rebalance": aws_json(
            {"noticeTime": d["rebalance_time"]})})
    return md


def read_user_data(path):
    """The user-data file's bytes, or None when it is absent."""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_USER_DATA)
    except OSError:
        return None


def version_tree(d, creds):
    """/latest/: meta-data, dynamic and (when present) user-data.

    IMDS lists these three without trailing slashes.
    """
    root = Dir({
        "meta-data": meta_data_tree(d, creds),
        "dynamic": Dir({"instance-identity": Dir({
            "document": lambda: identity_document(d),
        })}),
    }, labels={"meta-data": "meta-data", "dynamic": "dynamic"})
    path = d["user_data_file"]
    if path and os.path.isfile(path):
        root["user-data"] = lambda: read_user_data(path)
    return root


def render(node):
    """A tree node as the response body (bytes), or None for 404."""
    if isinstance(node, Dir):
        node = node.listing()
    elif callable(node):
        node = node()
    if node is None:
        return None
    return node.encode() if isinstance(node, str) else node


def lookup(tree, parts):
    node = tree
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# --------------------------------------------------------- shared fake state

class FaultPlan:
    """What the fault knobs decided for one request."""

    def __init__(self):
        self.delay_ms = 0
        self.hang_ms = 0
        self.reset = False
        self.status = None
        self.body = None
        self.fault = None


def path_fault_matches(pattern, path):
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


class FakeState:
    """Knobs, tokens, credentials, request log and stats, behind one lock."""

    def __init__(self, data, modes):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.data = data
        self.start_modes = dict(modes)
        self.knobs = {}
        self.tokens = TokenStore()
        self.creds = CredentialStore()
        self.log = collections.deque(maxlen=MAX_LOG)
        self.stats = {}
        self.reset()

    def reset(self):
        with self.lock:
            self.knobs = json.loads(json.dumps(FAULT_DEFAULTS))
            self.knobs.update(self.start_modes)
            self.log.clear()
            self.stats = {"requests": 0, "token_puts": 0, "tokens_issued": 0,
                          "gets": 0, "gets_without_token": 0,
                          "by_status": {}, "faults": {}}
        self.data.clear_overrides()

    def config(self):
        with self.lock:
            return json.loads(json.dumps(self.knobs))

    def set_config(self, changes):
        """Validate every change first, then apply them all."""
        checked = {name: check_knob(name, value)
                   for name, value in changes.items()}
        with self.lock:
            for name, value in checked.items():
                if name not in ACTION_KEYS:
                    self.knobs[name] = value
        if checked.get("expire_tokens"):
            self.tokens.expire_all()
        if checked.get("expire_credentials"):
            self.creds.expire_all()

    def modes(self):
        with self.lock:
            return {k: self.knobs[k] for k in MODE_KEYS}

    def token_lifetime(self, asked):
        with self.lock:
            override = self.knobs["token_ttl_override"]
        return asked if override is None else override

    def issue_token(self, asked_ttl):
        token = self.tokens.issue(self.token_lifetime(asked_ttl))
        with self.lock:
            self.stats["tokens_issued"] += 1
        return token

    def take_fault(self, path):
        """Decide the faults for one request, consuming counted ones."""
        plan = FaultPlan()
        with self.lock:
            k = self.knobs
            plan.delay_ms = k["delay_ms"]
            if k["hang_ms"] > 0 and k["hang_count"] != 0:
                if k["hang_count"] > 0:
                    k["hang_count"] -= 1
                plan.hang_ms, plan.fault = k["hang_ms"], "hang"
            elif k["reset"] > 0:
                k["reset"] -= 1
                plan.reset, plan.fault = True, "reset"
            elif k["fail_5xx"] > 0:
                k["fail_5xx"] -= 1
                plan.status, plan.fault = k["fail_status"], "fail_5xx"
            else:
                self._take_path_fault(plan, path)
        return plan

    def _take_path_fault(self, plan, path):
        for pattern, spec in self.knobs["paths"].items():
            if spec["count"] != 0 and path_fault_matches(pattern, path):
                if spec["count"] > 0:
                    spec["count"] -= 1
                plan.fault = "path"
                plan.delay_ms += spec["delay_ms"]
                plan.hang_ms = spec["hang_ms"]
                plan.reset = spec["reset"]
                plan.status, plan.body = spec["status"], spec["body"]
                return

    def record(self, method, path, had_token, status, fault, when):
        with self.lock:
            self.log.append({"time": round(when, 3), "method": method,
                             "path": path, "token": had_token,
                             "status": status, "fault": fault})
            s = self.stats
            s["requests"] += 1
            if method == "PUT" and is_token_path(path):
                s["token_puts"] += 1
            if method == "GET":
                s["gets"] += 1
                s["gets_without_token"] += 0 if had_token else 1
            key = str(status) if status is not None else "none"
            s["by_status"][key] = s["by_status"].get(key, 0) + 1
            if fault:
                s["faults"][fault] = s["faults"].get(fault, 0) + 1

    def requests(self):
        with self.lock:
            return list(self.log)

    def snapshot_stats(self):
        with self.lock:
            return json.loads(json.dumps(self.stats))


def path_parts(path):
    return [p for p in path.split("/") if p]


def is_token_path(path):
    parts = path_parts(path)
    return (len(parts) == 3 and parts[0] in VERSIONS
            and parts[1:] == ["api", "token"])


# ------------------------------------------------------------- HTTP handler

class Response:
    def __init__(self, status, body=b"", ctype="text/plain", headers=None):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.ctype = ctype
        self.headers = headers or {}


def error_response(status, body=None):
    if body is not None:
        return Response(status, body)
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    return Response(status, ERROR_PAGE.format(code=status, reason=reason),
                    "text/html")


def json_response(obj, status=200):
    text = json.dumps(obj, indent=1) + "\n"
    return Response(status, text, "application/json")


def parse_ttl(raw):
    """The token TTL header as an int in 1..21600, or None."""
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()):
        return None
    ttl = int(raw)
    return ttl if 1 <= ttl <= MAX_TOKEN_TTL else None


class Handler(http.server.BaseHTTPRequestHandler):
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle
    # and the client's delayed ACK add 40 ms to every response.
    disable_nagle_algorithm = True

    protocol_version = "HTTP/1.1"
    server_version = "EC2ws"
    timeout = 30

    @property
    def state(self):
        return self.server.state

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        log(f"{self.address_string()} {fmt % args}")

    def dispatch(self):
        """Entry point for every method."""
        body = self.read_body()
        if body is None:
            return
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_fake" or path.startswith("/_fake/"):
            self.send(self.control(path, body))
        else:
            self.serve_imds(path)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = dispatch
    do_OPTIONS = dispatch

    def read_body(self):
        """The request body (bytes), or None after answering an error."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self.send(error_response(411))
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self.send(error_response(400 if length < 0 else 413))
            return None
        return self.rfile.read(length) if length else b""

    def send(self, resp):
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(len(resp.body)))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def reset_connection(self):
        """Close with SO_LINGER 0 so the peer gets a RST, not a response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        finally:
            self.connection.close()

    # -- IMDS --

    def serve_imds(self, path):
        """Apply the faults, then answer as IMDS would."""
        when = time.time()
        had_token = self.headers.get(TOKEN_HEADER) is not None
        plan = self.state.take_fault(path)
        if plan.hang_ms:
            self.state.record(self.command, path, had_token, None,
                              plan.fault, when)
            log(f"{self.command} {path} hangs {plan.hang_ms} ms")
            self.state.stop.wait(plan.hang_ms / 1000)
            self.close_connection = True
            return
        if plan.reset:
            self.state.record(self.command, path, had_token, None,
                              plan.fault, when)
            log(f"{self.command} {path} reset")
            self.reset_connection()
            return
        if plan.delay_ms:
            self.state.stop.wait(plan.delay_ms / 1000)
        if plan.status:
            resp = error_response(plan.status, plan.body)
        else:
            resp = self.imds(path)
        self.state.record(self.command, path, had_token, resp.status,
                          plan.fault, when)
        self.send(resp)

    def imds(self, path):
        """The IMDS protocol proper: modes, tokens, then the data."""
        modes = self.state.modes()
        if modes["disabled"]:
            return error_response(403)
        if is_token_path(path):
            if modes["v1_only"]:
                return error_response(404)
            if self.command != "PUT":
                return error_response(405)
            return self.put_token()
        if self.command not in ("GET", "HEAD"):
            return error_response(405)
        if not modes["v1_only"]:
            token = self.headers.get(TOKEN_HEADER)
            if token is not None and not self.state.tokens.valid(token):
                return error_response(401)
            if token is None and modes["v2_required"]:
                return error_response(401)
        return self.metadata(path_parts(path))

    def put_token(self):
        if self.headers.get("X-Forwarded-For") is not None:
            return error_response(403)
        ttl = parse_ttl(self.headers.get(TTL_HEADER))
        if ttl is None:
            return error_response(400)
        token = self.state.issue_token(ttl)
        return Response(200, token, headers={TTL_HEADER: str(ttl)})

    def metadata(self, parts):
        if not parts:
            return Response(200, "\n".join(VERSIONS))
        if parts[0] not in VERSIONS:
            return error_response(404)
        data = self.state.data.current()
        tree = version_tree(data, self.state.creds)
        body = render(lookup(tree, parts[1:]))
        return error_response(404) if body is None else Response(200, body)

    # -- control API --

    def control(self, path, body):
        """/_fake/...: read and change the fake's state."""
        routes = {
            "/_fake/config": (self.state.config, self.state.set_config),
            "/_fake/data": (self.state.data.current, self.state.data.override),
            "/_fake/requests": (self.state.requests, None),
            "/_fake/stats": (self.state.snapshot_stats, None),
            "/_fake/tokens": (self.state.tokens.issued, None),
            "/_fake/credentials": (self.state.creds.history, None),
            "/_fake/reset": (None, lambda _: self.state.reset()),
        }
        getter, setter = routes.get(path.rstrip("/"), (None, None))
        if getter is None and setter is None:
            return json_response({"error": f"no such path: {path}"}, 404)
        if self.command == "GET" and getter:
            return json_response(getter())
        if self.command == "POST" and setter:
            return self.control_post(body, setter, getter)
        return json_response({"error": f"{self.command} not allowed"}, 405)

    @staticmethod
    def control_post(body, setter, getter):
        try:
            values = json.loads(body.decode() or "{}")
            if not isinstance(values, dict):
                raise ValueError("expected a JSON object")
            setter(values)
        except (ValueError, UnicodeDecodeError) as e:
            return json_response({"error": str(e)}, 400)
        return json_response(getter() if getter else {"ok": True})


# ------------------------------------------------------------------ server

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, family, sockaddr, state):
        self.address_family = family
        self.state = state
        super().__init__(sockaddr, Handler)

    def server_bind(self):
        """Bind without HTTPServer's reverse DNS lookup of the address."""
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


def make_server(bind, port, state):
    info = socket.getaddrinfo(bind, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                              0, socket.AI_PASSIVE)
    family, _, _, _, sockaddr = info[0]
    return Server(family, sockaddr, state)


def write_port_file(path, port):
    """Write the port atomically: a temporary file, then rename."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Fake EC2 instance metadata service (IMDSv1/v2).")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = a free port")
    p.add_argument("--port-file", help="written once listening")
    p.add_argument("-v", "--verbose", action="store_true")
    data = p.add_argument_group("instance data")
    for key in DATA_DEFAULTS:
        if key in ("tags", "cred_ttl", "pending_time",
                   "instance_metadata_tags", "scheduled_events"):
            continue
        data.add_argument("--" + key.replace("_", "-"), dest=key)
    data.add_argument("--pending-time", dest="pending_time",
                      help="ISO8601 launch time (default: now)")
    data.add_argument("--cred-ttl", type=int, dest="cred_ttl",
                      help="credential lifetime in seconds (default 21600)")
    data.add_argument("--tag", action="append", default=[], metavar="K=V")
    data.add_argument("--no-instance-metadata-tags", action="store_false",
                      dest="instance_metadata_tags", default=None,
                      help="tags are not in the metadata (tags/ absent)")
    data.add_argument("--scheduled-events", metavar="JSON",
                      help="events/maintenance/scheduled, a JSON list")
    data.add_argument("--state-file", help="JSON data, re-read per request")
    modes = p.add_argument_group("protocol modes")
    modes.add_argument("--v2-required", action=argparse.BooleanOptionalAction,
                       default=True, help="GET without a token: 401")
    modes.add_argument("--v1-only", action="store_true",
                       help="no token API: PUT answers 404")
    modes.add_argument("--disabled", action="store_true",
                       help="every request: 403")
    faults = p.add_argument_group("faults (also POST /_fake/config)")
    for knob in ("delay_ms", "fail_5xx", "fail_status", "reset", "hang_ms",
                 "hang_count", "token_ttl_override"):
        faults.add_argument("--" + knob.replace("_", "-"), type=int, dest=knob)
    faults.add_argument("--faults", metavar="JSON",
                        help="any knobs, as for POST /_fake/config")
    return p.parse_args(argv)


def build_state(args):
    """FakeState from the command line; raises ValueError on bad values."""
    base = dict(DATA_DEFAULTS, tags={}, scheduled_events=[])
    given = {k: getattr(args, k) for k in DATA_DEFAULTS
             if k != "tags" and getattr(args, k) is not None}
    if "scheduled_events" in given:
        given["scheduled_events"] = json.loads(given["scheduled_events"])
    base.update(check_data(given, strict=True))
    for tag in args.tag:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise ValueError(f"--tag {tag}: expected KEY=VALUE")
        base["tags"][key] = value
    modes = {"disabled": args.disabled, "v1_only": args.v1_only,
             "v2_required": args.v2_required}
    state = FakeState(InstanceData(base, args.state_file), modes)
    knobs = {k: getattr(args, k) for k in FAULT_DEFAULTS
             if k != "paths" and getattr(args, k, None) is not None}
    if args.faults:
        knobs.update(json.loads(args.faults))
    state.set_config(knobs)
    state.start_modes = {k: state.knobs[k] for k in MODE_KEYS}
    return state


def main(argv):
    global VERBOSE
    args = parse_args(argv)
    VERBOSE = args.verbose
    try:
        state = build_state(args)
        server = make_server(args.bind, args.port, state)
    except (ValueError, OSError) as e:
        print(f"fake-imds: {e}", file=sys.stderr)
        return 2

    def on_signal(signum, _frame):
        log(f"signal {signum}, stopping")
        state.stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    log(f"listening on {args.bind} port {port}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if args.port_file:
            try:
                os.unlink(args.port_file)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
