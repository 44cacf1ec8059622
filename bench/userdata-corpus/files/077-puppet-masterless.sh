#!/bin/bash 

# 'Y' to AWS code commit and "N" to other public git
CODE_COMMIT="Y"
# Repository Puppet Serverless
REPO_PUPPET="https://git-codecommit.us-east-2.amazonaws.com/v1/repos/puppet-masterless"

curl https://raw.githubusercontent.com/example/puppet-repo-aws/master/userdata-puppetagent.bash | bash -s -- $CODE_COMMIT $REPO_PUPPET
