#!/bin/bash
# The Amazon Linux/RHEL layout, told by the directories under the root:
# conf.d/NAME.conf, no sites-available or sites-enabled.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"

confd=$ROOT/etc/nginx/conf.d
mkdir -p "$confd"
start_ec2 nginx
nginx_settings
cat >"$confd/default.conf" <<EOF
server {
    listen $LOCAL_EC2_HTTP_PORT;
    server_name other.test;
    location / { return 200 "theirs"; }
}
EOF
echo "not nginx config" >"$confd/README"

start_upstream app
cat <<EOF | sites_config
sites:
  - name: app
    domains: [app.test]
    upstream: http://127.0.0.1:$UPSTREAM_PORT
    tls: self-signed
EOF
is "$(kiln nginx apply 2>"$T/err")" "applied" "applies in the RHEL layout"
diag "$T/err"
check "conf.d/app.conf written, marked" grep -q "^# Managed by kiln" "$confd/app.conf"
check "conf.d/kiln_common.conf written" test -f "$confd/kiln_common.conf"
check "no Debian directories made" test ! -e "$ROOT/etc/nginx/sites-available" -a ! -e "$ROOT/etc/nginx/sites-enabled"
is "$(get app.test /x | jfield 'd["headers"]["X-Forwarded-Proto"]')" "http" "proxied over HTTP"
is "$(gets app.test /x | jfield 'd["headers"]["X-Forwarded-Proto"]')" "https" "and HTTPS"
is "$(get other.test /)" "theirs" "the foreign server (loaded by the same reload) answers"

echo "sites: []" | sites_config
kiln nginx apply >/dev/null 2>"$T/err"
ok $? "removing every site succeeds"
is "$(ls "$confd" | tr '\n' ' ')" "README default.conf " "kiln's files are gone, the others stay"
is "$(get other.test /)" "theirs" "the foreign server still answers"

done_testing
