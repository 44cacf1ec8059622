#!/bin/bash

yum update -y

# ECS config
{
  echo "ECS_CLUSTER=workshop"
} >> /etc/ecs/ecs.config

start ecs

echo "Done"
