#!/usr/bin/python3
"""Prints expected.json: each case of cases.txt (cases split by a line
=====) rendered as cloud-init 22.4 renders a jinja part (jinja2, trim_blocks,
its UndefinedJinjaVariable), or the error jinja2 raises.
    tests/data/userdata/jinja/expected.py tests/data/userdata/jinja/cases.txt > expected.json
"""
import json
import re
import sys

from jinja2 import DebugUndefined, Template
from jinja2.exceptions import UndefinedError
P = "CI_MISSING_JINJA_VAR/"
class U(DebugUndefined):
    def __str__(self): return "%s%s" % (P, self._undefined_name)
def render(content, params):
    add = "\n" if content.endswith("\n") else ""
    return Template(content, undefined=U, trim_blocks=True, extensions=["jinja2.ext.do"]).render(**params) + add
VARS = {"v1": {"instance_id": "i-0abc", "instance-id": "i-0abc", "region": "eu-west-1", "availability_zone": "eu-west-1b",
               "cloud_name": "aws", "distro": "debian", "public_ssh_keys": ["ssh-ed25519 AAAA a", "ssh-rsa BBBB b"], "n": 3},
        "ds": {"meta_data": {"local-hostname": "ip-10-0-0-1.eu-west-1.compute.internal", "local_hostname": "ip-10-0-0-1.eu-west-1.compute.internal",
                             "placement": {"availability-zone": "eu-west-1b", "availability_zone": "eu-west-1b"}, "tags": {"instance": {"Name": "web", "Env": "prod"}}}},
        "instance_id": "i-0abc", "region": "eu-west-1", "flag": True, "empty": "", "num": 7, "pi": 2.5, "nothing": None}
cases = [l for l in open(sys.argv[1], newline="").read().split("\n=====\n") if l]
out = []
for c in cases:
    try:
        r = render(c, VARS)
        # the names cloud-init warns of (render_jinja_payload)
        missing = sorted(set(v[len(P):] for v in re.findall(r"%s[^\s]+" % P, r)))
        out.append({"t": c, "ok": r, "missing": missing})
    except Exception as e:
        out.append({"t": c, "err": type(e).__name__ + ": " + str(e)})
# What jinja2 renders and kiln's subset refuses, with the words of its error.
KILN_REFUSES = {"{% set a = 1 %}": "'set' tag is not in kiln's jinja subset"}
for o in out:
    if o["t"] in KILN_REFUSES:
        o["kiln"] = KILN_REFUSES[o["t"]]
json.dump({"vars": VARS, "cases": out}, sys.stdout, indent=1)
