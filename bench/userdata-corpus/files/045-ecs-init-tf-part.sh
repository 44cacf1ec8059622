    #!/bin/bash -xe
    echo ECS_CLUSTER='myECSCluster' >> /etc/ecs/ecs.config
    yum install -y aws-cfn-bootstrap
