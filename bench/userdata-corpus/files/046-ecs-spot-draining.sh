#!/bin/bash

echo "################# USER DATA #################"

echo "ECS_CLUSTER=apps" >> /etc/ecs/ecs.config
echo "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" >> /etc/ecs/ecs.config

cat /etc/ecs/ecs.config
service docker restart && start ecs
service docker status
docker container list
