#!/usr/bin/python3
"""Set-up and inspection calls against the tests' moto, with botocore
(Debian's python3-botocore), for tests/e2e/aws-lib.bash.

  aws-admin.py --endpoint URL --key K --secret S [--region R] COMMAND ...

Commands (output on stdout, one item a line; exit 1 with the AWS error on
stderr when the call fails):
  bucket NAME [REGION]          create a bucket (in REGION: its location)
  zone DOMAIN                   create a hosted zone; prints its id (Z...)
  asg GROUP N [HOOK:TRANSITION[:HEARTBEAT]]...
                                a launch template, an Auto Scaling group of
                                N instances in the default VPC's subnets,
                                lifecycle hooks (TRANSITION: launching or
                                terminating); prints the instances' ids
  objects BUCKET [PREFIX]       "KEY SIZE" for each object
  object BUCKET KEY             the object's bytes
  head BUCKET KEY               the object's headers as JSON
  records ZONE_ID               "NAME TYPE VALUE" for each record value
  call SERVICE OPERATION [JSON] any botocore call; prints the result as
                                JSON, or "ERROR CODE HTTP-STATUS" (exit 1)
"""

import argparse
import json
import sys

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError


def client(args, service):
    session = botocore.session.get_session()
    # Path-style S3, no retries: a test sees each answer as it is.
    cfg = Config(s3={"addressing_style": "path"},
                 retries={"max_attempts": 1}, connect_timeout=5,
                 read_timeout=30)
    return session.create_client(
        service, region_name=args.region, endpoint_url=args.endpoint,
        aws_access_key_id=args.key, aws_secret_access_key=args.secret,
        config=cfg)


def cmd_bucket(args, rest):
    s3 = client(args, "s3")
    params = {"Bucket": rest[0]}
    region = rest[1] if len(rest) > 1 else "us-east-1"
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**params)


def cmd_zone(args, rest):
    r53 = client(args, "route53")
    out = r53.create_hosted_zone(Name=rest[0],
                                 CallerReference="kiln-test-" + rest[0])
    print(out["HostedZone"]["Id"].rsplit("/", 1)[-1])


def cmd_asg(args, rest):
    group, n = rest[0], int(rest[1])
    ec2 = client(args, "ec2")
    asg = client(args, "autoscaling")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]]
    ec2.create_launch_template(
        LaunchTemplateName=group + "-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b",
                            "InstanceType": "t3.micro"})
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=0, MaxSize=max(n, 1),
        DesiredCapacity=n,
        LaunchTemplate={"LaunchTemplateName": group + "-lt",
                        "Version": "$Latest"},
        VPCZoneIdentifier=",".join(subnets[:2]))
    for spec in rest[2:]:
        parts = spec.split(":")
        transition = {"launching": "autoscaling:EC2_INSTANCE_LAUNCHING",
                      "terminating": "autoscaling:EC2_INSTANCE_TERMINATING"}
        params = {"AutoScalingGroupName": group, "LifecycleHookName": parts[0],
                  "LifecycleTransition": transition[parts[1]],
                  "DefaultResult": "ABANDON"}
        if len(parts) > 2:
            params["HeartbeatTimeout"] = int(parts[2])
        asg.put_lifecycle_hook(**params)
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    for inst in groups["AutoScalingGroups"][0]["Instances"]:
        print(inst["InstanceId"])


def cmd_objects(args, rest):
    s3 = client(args, "s3")
    params = {"Bucket": rest[0]}
    if len(rest) > 1:
        params["Prefix"] = rest[1]
    for page in s3.get_paginator("list_objects_v2").paginate(**params):
        for o in page.get("Contents", []):
            print(o["Key"], o["Size"])


def cmd_object(args, rest):
    body = client(args, "s3").get_object(Bucket=rest[0], Key=rest[1])["Body"]
    sys.stdout.buffer.write(body.read())


def cmd_head(args, rest):
    out = client(args, "s3").head_object(Bucket=rest[0], Key=rest[1])
    print(json.dumps(out["ResponseMetadata"]["HTTPHeaders"]))


def cmd_records(args, rest):
    r53 = client(args, "route53")
    for page in r53.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=rest[0]):
        for rr in page["ResourceRecordSets"]:
            for v in rr.get("ResourceRecords", []):
                print(rr["Name"], rr["Type"], v["Value"])


def cmd_call(args, rest):
    c = client(args, rest[0])
    params = json.loads(rest[2]) if len(rest) > 2 else {}
    out = getattr(c, rest[1])(**params)
    out.pop("ResponseMetadata", None)
    print(json.dumps(out, default=str))


COMMANDS = {"bucket": cmd_bucket, "zone": cmd_zone, "asg": cmd_asg,
            "objects": cmd_objects, "object": cmd_object, "head": cmd_head,
            "records": cmd_records, "call": cmd_call}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("command", choices=sorted(COMMANDS))
    p.add_argument("rest", nargs="*")
    args = p.parse_args()
    try:
        COMMANDS[args.command](args, args.rest)
    except ClientError as e:
        err = e.response.get("Error", {})
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if args.command == "call":
            print("ERROR", err.get("Code"), status)
        print(f"aws-admin: {err.get('Code')} ({status}): "
              f"{err.get('Message')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
