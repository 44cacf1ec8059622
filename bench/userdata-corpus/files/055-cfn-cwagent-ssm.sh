#!/bin/bash -xe
## CloudWatch Agent config created in SSM as CWAgentConfig
rpm -Uvh https://s3.amazonaws.com/amazoncloudwatch-agent/amazon_linux/amd64/latest/amazon-cloudwatch-agent.rpm
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a stop
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -c ssm:CWAgentConfig -s
yum update -y aws-cfn-bootstrap
/opt/aws/bin/cfn-signal -e $? --stack cw-stack --resource Ec2AutoScalingGroup --region eu-central-1
