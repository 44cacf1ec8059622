#!/bin/bash
apt-get update
apt-get -y install python-setuptools
easy_install https://s3.amazonaws.com/cloudformation-examples/aws-cfn-bootstrap-latest.tar.gz
/usr/local/bin/cfn-init -v --region us-east-1 -s web-stack -r WebServer --role web-role --configsets default
/usr/local/bin/cfn-signal -e $? --region us-east-1 --stack web-stack --resource WebServerGroup
 /usr/local/bin/cfn-hup --config /etc/cfn
