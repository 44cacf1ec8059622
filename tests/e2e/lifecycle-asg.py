#!/usr/bin/python3
"""Auto Scaling in moto for the lifecycle tests (botocore, Debian's).

  lifecycle-asg.py setup ENDPOINT HEARTBEAT_S   prints shell assignments
  lifecycle-asg.py state ENDPOINT AK SK INSTANCE          prints LifecycleState
  lifecycle-asg.py unhealthy|relaunch ENDPOINT AK SK INSTANCE
  lifecycle-asg.py call ENDPOINT AK SK ACTION             exit 0 if allowed

setup makes, with moto's first three unauthenticated requests, an admin
user; with it, a group "web" of one instance with a launch hook "launch"
(HeartbeatTimeout as given) and a termination hook "drain", and a user
"kiln" allowed only the four calls kiln makes.
"""

import sys

import botocore.session
from botocore.config import Config

REGION = "us-east-1"
KILN_ACTIONS = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat",
                "autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeLifecycleHooks"]


def client(service, endpoint, ak, sk):
    s = botocore.session.get_session()
    return s.create_client(service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id=ak,
                           aws_secret_access_key=sk, config=Config(retries={"max_attempts": 1}))


def make_user(iam, name, actions):
    iam.create_user(UserName=name)
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":%s,"Resource":"*"}]}' % (
        '"*"' if actions == "*" else "[" + ",".join('"%s"' % a for a in actions) + "]")
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def setup(endpoint, heartbeat):
    ak, sk = make_user(client("iam", endpoint, "AKIDBOOTSTRAP", "bootstrap"), "admin", "*")
    ec2 = client("ec2", endpoint, ak, sk)
    asg = client("autoscaling", endpoint, ak, sk)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="lc", ImageId=image, InstanceType="t3.micro")
    asg.create_auto_scaling_group(AutoScalingGroupName="web", LaunchConfigurationName="lc", MinSize=1, MaxSize=1,
                                  DesiredCapacity=1, AvailabilityZones=[REGION + "a"])
    asg.put_lifecycle_hook(AutoScalingGroupName="web", LifecycleHookName="launch",
                           LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout=int(heartbeat),
                           DefaultResult="ABANDON")
    asg.put_lifecycle_hook(AutoScalingGroupName="web", LifecycleHookName="drain",
                           LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING", HeartbeatTimeout=300,
                           DefaultResult="CONTINUE")
    kak, ksk = make_user(client("iam", endpoint, ak, sk), "kiln", KILN_ACTIONS)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    print(f"INSTANCE_ID={group['Instances'][0]['InstanceId']}")
    print(f"ADMIN_AK={ak}\nADMIN_SK={sk}\nKILN_AK={kak}\nKILN_SK={ksk}")


def main():
    cmd, endpoint = sys.argv[1], sys.argv[2]
    if cmd == "setup":
        return setup(endpoint, sys.argv[3])
    ak, sk = sys.argv[3], sys.argv[4]
    asg = client("autoscaling", endpoint, ak, sk)
    if cmd == "state":
        got = asg.describe_auto_scaling_instances(InstanceIds=[sys.argv[5]])["AutoScalingInstances"]
        print(got[0]["LifecycleState"] if got else "none")
    elif cmd == "unhealthy":
        asg.set_instance_health(InstanceId=sys.argv[5], HealthStatus="Unhealthy")
    elif cmd == "relaunch":
        asg.put_lifecycle_hook(AutoScalingGroupName="web", LifecycleHookName="launch",
                               LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout=30,
                               DefaultResult="ABANDON")
    elif cmd == "call":
        try:
            asg.describe_auto_scaling_groups()
        except Exception as e:  # refused: the signature or the policy
            print(type(e).__name__, e)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
