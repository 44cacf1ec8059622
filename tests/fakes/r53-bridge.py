#!/usr/bin/python3
"""Mirrors the TXT records of moto's Route 53 into pebble-challtestsrv.

Pebble validates dns-01 by asking pebble-challtestsrv's DNS server; moto's
Route 53 answers no DNS at all. Every --interval seconds (0.1) this lists
every hosted zone's record sets (ListHostedZones, ListResourceRecordSets)
and makes challtestsrv's TXT answers the same: POST /set-txt
{"host": NAME, "value": VALUE} for each value added, POST /clear-txt
{"host": NAME} for a name whose values changed (then its remaining values
again). Values are unquoted as DNS would ("\"abc\"" -> abc).

  r53-bridge.py --route53 URL --challtestsrv URL [--ready-file F]

F is written after the first complete sync. One line on stdout for each
change ("set NAME VALUE", "clear NAME"). Debian's python3 and botocore.
"""

import argparse
import json
import os
import sys
import time
import urllib.request

import botocore.session
from botocore.config import Config


def txt_records(r53):
    """{name: frozenset(values)} of every TXT record of every zone."""
    out = {}
    for zpage in r53.get_paginator("list_hosted_zones").paginate():
        for zone in zpage["HostedZones"]:
            pages = r53.get_paginator("list_resource_record_sets").paginate(
                HostedZoneId=zone["Id"])
            for page in pages:
                for rr in page["ResourceRecordSets"]:
                    if rr["Type"] != "TXT":
                        continue
                    values = set(out.get(rr["Name"], ()))
                    for v in rr.get("ResourceRecords", []):
                        values.add(unquote(v["Value"]))
                    out[rr["Name"]] = frozenset(values)
    return out


def unquote(value):
    """A TXT record's value as DNS answers it: its strings, joined."""
    parts, cur, quoted, i = [], "", False, 0
    if not value.startswith('"'):
        return value
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            cur += value[i + 1]
            i += 2
            continue
        if c == '"':
            if quoted:
                parts.append(cur)
                cur = ""
            quoted = not quoted
        elif quoted:
            cur += c
        i += 1
    return "".join(parts)


def post(base, path, doc):
    req = urllib.request.Request(base.rstrip("/") + path, method="POST",
                                 data=json.dumps(doc).encode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--route53", required=True)
    p.add_argument("--challtestsrv", required=True)
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--ready-file")
    args = p.parse_args()
    r53 = botocore.session.get_session().create_client(
        "route53", region_name="us-east-1", endpoint_url=args.route53,
        aws_access_key_id="AKIAKILNR53BRIDGE000",
        aws_secret_access_key="bridge",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5,
                      read_timeout=10))
    mirrored = {}
    ready = False
    while True:
        try:
            now = txt_records(r53)
        except Exception as e:  # moto stopped or failing: try again
            print(f"list failed: {e}", file=sys.stderr, flush=True)
            time.sleep(max(args.interval, 0.5))
            continue
        for name in set(mirrored) | set(now):
            old, new = mirrored.get(name, frozenset()), now.get(name,
                                                                 frozenset())
            if old == new:
                continue
            try:
                if old:
                    post(args.challtestsrv, "/clear-txt", {"host": name})
                    print("clear", name, flush=True)
                for v in sorted(new):
                    post(args.challtestsrv, "/set-txt",
                         {"host": name, "value": v})
                    print("set", name, v, flush=True)
            except OSError as e:
                print(f"challtestsrv: {e}", file=sys.stderr, flush=True)
                continue
            if new:
                mirrored[name] = new
            else:
                mirrored.pop(name, None)
        if not ready and args.ready_file:
            with open(args.ready_file, "w", encoding="ascii") as f:
                f.write(f"{os.getpid()}\n")
            ready = True
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
