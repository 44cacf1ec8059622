#!/bin/bash
# This script is meant to be run in the User Data of each EC2 Instance while it's booting.

set -e

# Send the log output from this script to user-data.log, syslog, and the console
exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1

/opt/consul/bin/run-consul --client --cluster-tag-key "consul-servers" --cluster-tag-value "auto-join"
