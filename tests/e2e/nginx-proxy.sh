#!/bin/bash
# kiln's sites through the real nginx: proxying with proxy_params' headers,
# static files, redirects, returns, websockets, HTTPS on the self-signed
# placeholder, HTTP -> HTTPS, HSTS; then the same again changes nothing.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"

start_upstream app
mkdir -p "$ROOT/srv/app/static"
echo "hello from static" >"$ROOT/srv/app/static/hello.txt"
start_ec2 imds nginx
nginx_settings
sites_config <<EOF
sites:
  - name: app
    domains: [app.test, www.app.test]
    upstream: http://127.0.0.1:$UPSTREAM_PORT
    locations:
      /static/: { alias: /srv/app/static/ }
      /old/: { redirect: /new/, code: 302 }
      /health: { return: 200, body: ok }
      /ws: { proxy: 'http://127.0.0.1:$UPSTREAM_PORT', websocket: true }
    headers: { X-Kiln-Test: "yes; really" }
    client_max_body_size: 1k
    tls: self-signed
  - name: secure
    domains: secure.test
    upstream: http://127.0.0.1:$UPSTREAM_PORT
    tls: self-signed
    redirect_http: true
    hsts: true
EOF

# What a run killed between staging and nginx -t would leave behind.
echo "not nginx config {" >"$ROOT/etc/nginx/.kiln-staged-7"
echo "not nginx config {" >"$ROOT/etc/nginx/.kiln-test.conf"
out=$(kiln nginx apply 2>"$T/apply.err")
ok $? "kiln nginx apply succeeds"
is "$out" "applied" "and says it applied"
diag "$T/apply.err"
check "app is in sites-available, marked as kiln's" grep -q "^# Managed by kiln" "$ROOT/etc/nginx/sites-available/app"
is "$(readlink "$ROOT/etc/nginx/sites-enabled/app")" "../sites-available/app" "and linked from sites-enabled"
check "no staged files left behind, an interrupted run's included" sh -c "! ls -A '$ROOT/etc/nginx' | grep -q '^\.kiln-'"

# Proxying, with the headers of Debian's proxy_params.
resp=$(get app.test '/hello?x=1' -H 'X-Forwarded-For: 10.9.8.7')
is "$(echo "$resp" | jfield 'd["path"]')" "/hello?x=1" "proxied to the upstream, path and query kept"
is "$(echo "$resp" | jfield 'd["headers"]["Host"]')" "app.test" "Host passed on"
is "$(echo "$resp" | jfield 'd["headers"]["X-Real-IP"]')" "127.0.0.1" "X-Real-IP is the client"
is "$(echo "$resp" | jfield 'd["headers"]["X-Forwarded-For"]')" "10.9.8.7, 127.0.0.1" "X-Forwarded-For appended"
is "$(echo "$resp" | jfield 'd["headers"]["X-Forwarded-Proto"]')" "http" "X-Forwarded-Proto http"
is "$(get app.test /x -o /dev/null -D - | tr -d '\r' | sed -n 's/^X-Kiln-Test: //p')" "yes; really" \
	"the configured header is added"
is "$(get www.app.test /x | jfield 'd["headers"]["Host"]')" "www.app.test" "the second domain is served too"
is "$(get app.test /upload -o /dev/null -w '%{http_code}' --data-binary "@$NGX_DATA/features.conf")" "413" \
	"client_max_body_size applies"

# Static files, redirect, return.
is "$(get app.test /static/hello.txt)" "hello from static" "static file from the alias"
is "$(get app.test /static/missing.txt -o /dev/null -w '%{http_code}')" "404" "a missing static file is a 404"
is "$(get app.test /old/ -o /dev/null -w '%{http_code} %{redirect_url}')" \
	"302 http://app.test:$LOCAL_EC2_HTTP_PORT/new/" "redirect location"
is "$(get app.test /health)" "ok" "return location"

# A WebSocket upgrade through nginx, then bytes both ways.
ws=$($PYTHON "$NGX_DATA/ws-client.py" "$LOCAL_EC2_HTTP_PORT" app.test /ws)
is "$(echo "$ws" | sed -n 1p | cut -d' ' -f2)" "101" "websocket upgrade answered 101"
is "$(echo "$ws" | sed -n 2p)" "ping" "and the tunnel carries data"

# HTTPS on the placeholder certificate, which names the site's domains.
resp=$(gets app.test /tls)
is "$(echo "$resp" | jfield 'd["headers"]["X-Forwarded-Proto"]')" "https" "HTTPS proxied, X-Forwarded-Proto https"
is "$(gets app.test /tls -o /dev/null -w '%{http_version}')" "2" "HTTP/2 on the HTTPS port"
san=$(echo | openssl s_client -connect "127.0.0.1:$LOCAL_EC2_HTTPS_PORT" -servername app.test 2>/dev/null |
	openssl x509 -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')
is "$san" "DNS:app.test,DNS:www.app.test" "the served certificate names app.test and www.app.test"
is "$(gets app.test /tls -o /dev/null -w '%{http_code}' --tlsv1.2 --tls-max 1.2)" "200" "TLS 1.2 served"
is "$(gets app.test /tls -o /dev/null -w '%{http_code}' --tlsv1.3)" "200" "TLS 1.3 served"

# redirect_http: with a self-signed certificate, it is in place at once.
is "$(get secure.test '/p?q=1' -o /dev/null -w '%{http_code} %{redirect_url}')" \
	"301 https://secure.test:$LOCAL_EC2_HTTPS_PORT/p?q=1" "HTTP redirected to HTTPS"
is "$(gets secure.test /p -D - -o /dev/null | tr -d '\r' | sed -n 's/^strict-transport-security: //Ip')" \
	"max-age=63072000" "HSTS over HTTPS"
is "$(get secure.test /.well-known/acme-challenge/abc -o /dev/null -w '%{http_code}')" "301" \
	"no challenge location while ACME is not configured"

# Again: nothing changed, so nothing is written and nginx is not reloaded.
before=$(stat -c %Y.%i "$ROOT/etc/nginx/sites-available/app")
workers=$(pgrep -P "$(cat "$ROOT/run/nginx.pid")" | sort | tr '\n' ' ')
is "$(kiln nginx apply 2>/dev/null)" "unchanged" "applying again changes nothing"
is "$(stat -c %Y.%i "$ROOT/etc/nginx/sites-available/app")" "$before" "the file was not rewritten"
is "$(pgrep -P "$(cat "$ROOT/run/nginx.pid")" | sort | tr '\n' ' ')" "$workers" "nginx was not reloaded"

# The boot applies sites too, recording them in status.json.
# (Other modules may degrade a boot under --root: only nginx's part counts.)
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok "$([ $rc -le 2 ] && echo 0 || echo 1)" "kiln boot completes (exit $rc)"
is "$(status_field '[e for s in d["stages"] for e in s.get("errors", []) if "nginx" in e or "sites" in e]')" "[]" \
	"with no nginx error"
is "$(status_field '[i["result"] for s in d["stages"] for i in s.get("items", []) if i.get("name") == "nginx"]')" \
	"['unchanged']" "status.json records the nginx apply"
is "$(get app.test /after-boot | jfield 'd["path"]')" "/after-boot" "still served after the boot"

# A reload while a request is in flight: the old worker finishes it, and
# kiln returns once that worker stops accepting, not when it exits.
get app.test '/slow?s=4' -o "$T/slow.out" -w '%{http_code}' >"$T/slow.code" &
slow=$!
sleep 0.5
sed -i 's/X-Kiln-Test: "yes; really"/X-Kiln-Test: "v2"/' "$ROOT/etc/kiln/kiln.yaml"
kiln nginx apply >/dev/null 2>"$T/apply-busy.err"
ok $? "kiln nginx apply succeeds while a request is in flight"
diag "$T/apply-busy.err"
kill -0 "$slow" 2>/dev/null
ok $? "and returns before that request ends"
is "$(get app.test /x -o /dev/null -D - | tr -d '\r' | sed -n 's/^X-Kiln-Test: //p')" "v2" \
	"the next request has the new config"
wait "$slow"
is "$(cat "$T/slow.code")" "200" "the request in flight is answered by the old worker"

# The golden render of the tutorial with a thumbprint, run by the real nginx:
# the stateless http-01 location answers token.thumbprint.
thumbprint=LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0
sed -e '/^# ----/,$d' -e "s/listen 80;/listen $LOCAL_EC2_HTTP_PORT;/" -e "s/:80;/:$LOCAL_EC2_HTTP_PORT;/" \
	-e "s/443/$LOCAL_EC2_HTTPS_PORT/" -e "s#/var/lib/kiln#$ROOT/var/lib/kiln#" -e "s#/srv/#$ROOT/srv/#" \
	"$NGX_DATA/tutorial-redirect.conf" >"$ROOT/etc/nginx/sites-enabled/golden"
kill -HUP "$(cat "$ROOT/run/nginx.pid")"
# Until the old workers are gone, a connection may still reach them: wait
# (bounded) for both answers of the new config.
# Old workers may still take a connection or two while they wind down, so
# wait for three answers in a row from the new ones.
streak=0
for _ in $(seq 150); do
	if [ "$(get example.com /.well-known/acme-challenge/tok-1_A)" = "tok-1_A.$thumbprint" ] &&
		[ "$(get example.com /.well-known/acme-challenge/bad.token -o /dev/null -w '%{http_code}')" = 301 ]; then
		streak=$((streak + 1))
		[ $streak -ge 3 ] && break
	else
		streak=0
	fi
	sleep 0.1
done
is "$(get example.com /.well-known/acme-challenge/tok-1_A)" "tok-1_A.$thumbprint" "golden: http-01 answered statelessly"
is "$(get example.com /.well-known/acme-challenge/bad.token -o /dev/null -w '%{http_code}')" "301" \
	"golden: anything else is redirected"
is "$(gets example.com /static/hello.txt)" "hello from static" "golden: static file over HTTPS"

done_testing
