#!/bin/bash
exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1

export DEBIAN_FRONTEND=noninteractive

curl -sfL https://get.k3s.io | K3S_URL="https://10.0.1.10:6443" K3S_TOKEN="K10corpus" sh -
echo "--- K3s installed ---"
