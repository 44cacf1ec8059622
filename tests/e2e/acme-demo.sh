#!/bin/bash
# The demo's end: the tutorial site from user-data (a MIME message with a
# script and a #kiln-config part), on HTTPS through the local EC2's nginx
# with a certificate from Pebble, HTTP redirected, and `kiln certs`
# showing it. The steps are the ones the README's demo gives.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"
# shellcheck source=/dev/null
. "$top_srcdir/tests/data/acme/lib.sh"
daemon=
trap '[ -n "$daemon" ] && pid_kill TERM "$daemon" "$daemon_start" && wait "$daemon"; acme_cleanup' EXIT

SITE=app
start_upstream app
start_ec2 imds nginx pebble
# The image bakes where its nginx listens (80 and 443 on a real instance).
nginx_settings
user_data <<EOF2
Content-Type: multipart/mixed; boundary="==kiln-demo=="
MIME-Version: 1.0

--==kiln-demo==
Content-Type: text/x-shellscript; charset="us-ascii"
Content-Disposition: attachment; filename="setup.sh"

#!/bin/sh
echo "setting up the app on \$KILN_INSTANCE_ID"
--==kiln-demo==
Content-Type: text/x-kiln-config; charset="us-ascii"
Content-Disposition: attachment; filename="kiln.yaml"

#kiln-config
write_files:
  - path: /srv/app/static/hello.txt
    content: |
      hello from static
acme:
  email: admin@example.com
  directory: $LOCAL_EC2_ACME_DIRECTORY
  ca_file: $LOCAL_EC2_ACME_CA
sites:
  - name: app
    domains: [example.com, www.example.com]
    upstream: http://127.0.0.1:$UPSTREAM_PORT
    locations:
      /static/: { alias: /srv/app/static/ }
    tls: acme
    redirect_http: true
    hsts: true
--==kiln-demo==--
EOF2

check "the user-data validates" kiln validate "$EC2/user-data"
"$KILN" --root "$ROOT" daemon >"$T/daemon.log" 2>&1 &
daemon=$!
daemon_start=$(pid_start "$daemon")
kiln status --wait --timeout 60 >"$T/status.txt" 2>&1
ok $? "the boot is done (not degraded)"
diag "$T/daemon.log"
check "the script ran" grep -q "setting up the app on i-" "$ROOT/var/log/kiln/user-data.log"
check "a certificate from Pebble" test ! -e "$(SITE_DIR)/placeholder" -a -s "$(SITE_DIR)/cert.pem"
check "its chain verifies to Pebble's root" chain_verifies
https() {
	curl -s -m 5 --cacert "$T/pebble-root.pem" --resolve "$1:$LOCAL_EC2_HTTPS_PORT:127.0.0.1" \
		"https://$1:$LOCAL_EC2_HTTPS_PORT$2" "${@:3}"
}
is "$(https example.com /hello | jfield 'd["name"]')" app "HTTPS to the app, verified against Pebble's root"
is "$(https www.example.com /static/hello.txt)" "hello from static" "static files over HTTPS, second name"
https example.com / -o /dev/null -D - | tr -d '\r' | grep -qi "^Strict-Transport-Security: max-age=63072000"
ok $? "HSTS on HTTPS"
is "$(get example.com /x -o /dev/null -w '%{http_code} %{redirect_url}')" \
	"301 https://example.com:$LOCAL_EC2_HTTPS_PORT/x" "HTTP redirects to HTTPS"
kiln certs >"$T/certs.txt" 2>&1
grep -q "certificate:  issued, issued by 'Pebble Intermediate CA" "$T/certs.txt" &&
	grep -q "example.com www.example.com" "$T/certs.txt"
ok $? "kiln certs shows the site's certificate from Pebble"
diag "$T/certs.txt"
done_testing
