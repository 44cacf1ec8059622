#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Talks to moto's server for the logs tests, with botocore (signed).
  setup URL                 as moto's first (unauthenticated) requests: an IAM
                            user allowed CloudWatch Logs, its key printed as
                            shell exports
  events URL GROUP STREAM   the stream's messages, one a line (newlines as \\n)
  retention URL GROUP       the group's retentionInDays (or "none")
  streams URL GROUP         the group's streams, one a line
  denied URL                exits 0 when a request with a wrong secret is refused"""
import sys

import botocore.session
from botocore.config import Config

POLICY = """{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
 "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:PutRetentionPolicy",
 "logs:GetLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"], "Resource": "*"}]}"""


def client(service, url, key=None, secret=None):
    s = botocore.session.get_session()
    return s.create_client(service, region_name="us-east-1", endpoint_url=url,
                           aws_access_key_id=key or "AKIDROOTMOTOSETUP", aws_secret_access_key=secret or "x",
                           config=Config(retries={"max_attempts": 1}))


def env_client(url):
    import os
    return client("logs", url, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])


cmd, url = sys.argv[1], sys.argv[2]
if cmd == "setup":
    iam = client("iam", url)
    iam.create_user(UserName="kiln")
    iam.put_user_policy(UserName="kiln", PolicyName="logs", PolicyDocument=POLICY)
    k = iam.create_access_key(UserName="kiln")["AccessKey"]
    print("export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s" % (k["AccessKeyId"], k["SecretAccessKey"]))
elif cmd == "events":
    c = env_client(url)
    token, out = None, []
    for _ in range(1000):
        kw = {"logGroupName": sys.argv[3], "logStreamName": sys.argv[4], "startFromHead": True}
        if token:
            kw["nextToken"] = token
        try:
            r = c.get_log_events(**kw)
        except c.exceptions.ResourceNotFoundException:
            break
        out += [e["message"].replace("\n", "\\n") for e in r["events"]]
        if not r["events"] or r.get("nextForwardToken") == token:
            break
        token = r["nextForwardToken"]
    for m in out:
        print(m)
elif cmd == "retention":
    g = env_client(url).describe_log_groups(logGroupNamePrefix=sys.argv[3])["logGroups"]
    print(next((str(x.get("retentionInDays", "none")) for x in g if x["logGroupName"] == sys.argv[3]), "missing"))
elif cmd == "streams":
    for s in env_client(url).describe_log_streams(logGroupName=sys.argv[3])["logStreams"]:
        print(s["logStreamName"])
elif cmd == "denied":
    import os
    c = client("logs", url, os.environ["AWS_ACCESS_KEY_ID"], "wrong-secret")
    try:
        c.describe_log_groups()
    except Exception as e:
        print(e)
        sys.exit(0)
    sys.exit(1)
