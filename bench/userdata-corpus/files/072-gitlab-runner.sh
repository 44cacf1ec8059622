#!/bin/bash -e
mkdir -p /etc/gitlab-runner
cat > /etc/gitlab-runner/config.toml <<- EOF

concurrent = 10
check_interval = 0

EOF

if [[ `echo docker` == "docker" ]]
then
  yum install docker -y
  usermod -a -G docker ec2-user
  service docker start
fi

curl -L https://packages.gitlab.com/install/repositories/runner/gitlab-runner/script.rpm.sh | bash
yum install gitlab-runner -y

token=$(aws ssm get-parameters --names "runner-token" --with-decryption --region "eu-west-1" | jq -r ".Parameters | .[0] | .Value")
sed -i.bak s/__REPLACED_BY_USER_DATA__/`echo $token`/g /etc/gitlab-runner/config.toml

service gitlab-runner restart
chkconfig gitlab-runner on
