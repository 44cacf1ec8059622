#!/bin/bash
exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1
cat <<'EOF' >> /etc/ecs/ecs.config
ECS_CLUSTER=answerking
EOF
