#!/bin/bash -xe
cat << EOD > /etc/resolv.conf
nameserver 10.24.20.40
nameserver 172.16.22.25
EOD
yum install -y aws-cfn-bootstrap
/opt/aws/bin/cfn-init -v          --stack jenkins         --resource jenkinsSlaveLaunchConfiguration         --region us-east-1
/opt/aws/bin/cfn-signal -e $?          --stack jenkins         --resource jenkinsSlaveGroup         --region us-east-1
