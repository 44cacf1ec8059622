#!/bin/bash
# nginx's "off-by-slash": a prefix location without a trailing '/' whose
# alias (or proxy URL path) has one lets "/static../secret" reach the
# alias's parent directory and "/api../admin" leave the upstream's /v1/.
# A hand-written site rendered the old way shows the real nginx leaks;
# kiln refuses the same config (validate with FILE:LINE:COL, apply touches
# nothing) and what it does render answers the attack with 404.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"

start_upstream app
mkdir -p "$ROOT/srv/app/static"
echo "static ok" >"$ROOT/srv/app/static/ok.txt"
echo "TOP SECRET" >"$ROOT/srv/app/secret"
start_ec2 nginx
nginx_settings
avail=$ROOT/etc/nginx/sites-available
enabled=$ROOT/etc/nginx/sites-enabled

# The control: what kiln rendered for the dangerous config before it was
# refused, as someone else's site.
cat >"$avail/legacy" <<EOF
server {
    listen $LOCAL_EC2_HTTP_PORT;
    server_name legacy.test;
    location /static {
        alias $ROOT/srv/app/static/;
    }
    location /api {
        proxy_pass http://127.0.0.1:$UPSTREAM_PORT/v1/;
    }
}
EOF
ln -s ../sites-available/legacy "$enabled/legacy"

sites_config <<EOF
sites:
  - name: app
    domains: [app.test]
    locations:
      /static/: { alias: /srv/app/static/ }
      /files/: { alias: /srv/app/static }
      /api/: http://127.0.0.1:$UPSTREAM_PORT/v1/
      /plain: http://127.0.0.1:$UPSTREAM_PORT
EOF
out=$(kiln nginx apply 2>"$T/err")
ok $? "the safe forms apply"
is "$out" "applied" "and are applied"
diag "$T/err"

code() { get "$1" "$2" -o /dev/null -w '%{http_code}' --path-as-is; }
path_seen() { get "$1" "$2" --path-as-is | jfield 'd["path"]'; }

# The attack works against this nginx when the slashes disagree.
check "control: /static../secret leaks the alias's parent on the old rendering" \
	sh -c "curl -s -m 5 --path-as-is -H 'Host: legacy.test' 'http://127.0.0.1:$LOCAL_EC2_HTTP_PORT/static../secret' | grep -q 'TOP SECRET'"
is "$(path_seen legacy.test /api../admin)" "/v1/../admin" "control: /api../admin leaves /v1/ on the old rendering"

is "$(get app.test /static/ok.txt)" "static ok" "kiln's alias serves its directory"
is "$(code app.test /static../secret)" "404" "/static../secret is a 404"
check "and shows no secret" sh -c "! curl -s -m 5 --path-as-is -H 'Host: app.test' 'http://127.0.0.1:$LOCAL_EC2_HTTP_PORT/static../secret' | grep -q SECRET"
is "$(get app.test /files/ok.txt)" "static ok" "an alias without its '/' under a '/' location gets one"
is "$(code app.test /files../secret)" "404" "/files../secret is a 404"
is "$(path_seen app.test /api/x)" "/v1/x" "/api/x reaches /v1/x"
is "$(code app.test /api../admin)" "404" "/api../admin does not reach the upstream"
is "$(path_seen app.test /plain../admin)" "/plain../admin" "a proxy without a path passes the URI as it is"

snapshot() { (cd "$ROOT/etc/nginx" && find . -print | sort | xargs -d '\n' ls -ld --time-style=+ | awk '{print $1, $NF}'; cat sites-available/* 2>/dev/null); }
snapshot >"$T/before"

# The dangerous forms: refused with where they are.
sites_config <<EOF
sites:
  - name: app
    domains: [app.test]
    locations:
      /static: { alias: /srv/app/static/ }
      /api: http://127.0.0.1:$UPSTREAM_PORT/v1/
      /sib: { alias: /srv/app/static }
      /v2/: { proxy: 'http://127.0.0.1:$UPSTREAM_PORT/v2' }
EOF
kiln validate "$ROOT/etc/kiln/kiln.yaml" >"$T/out" 2>&1
is "$?" "1" "kiln validate rejects the disagreeing slashes"
diag "$T/out"
cfg=$ROOT/etc/kiln/kiln.yaml
check "the alias, at its line and column" grep -q "^$cfg:5:7: error: sites\[0\].locations./static: .*end with '/'" "$T/out"
check "the proxy, at its line and column" grep -q "^$cfg:6:7: error: sites\[0\].locations./api: .*'/'" "$T/out"
check "an alias under a location without '/', both without" grep -q "^$cfg:7:7: error: sites\[0\].locations./sib:" "$T/out"
check "a '/' location proxied to a path without one" grep -q "^$cfg:8:7: error: sites\[0\].locations./v2/:" "$T/out"
kiln nginx apply >"$T/out" 2>"$T/err"
is "$?" "1" "kiln nginx apply refuses them"
snapshot >"$T/after"
check "and touches nothing" cmp -s "$T/before" "$T/after"
is "$(code app.test /static../secret)" "404" "/static../secret is still a 404"
is "$(code app.test /api../admin)" "404" "/api../admin still does not reach the upstream"

# The site's own upstream is proxied at "/": a path there needs its '/'.
sites_config <<EOF
sites:
  - name: app
    domains: [app.test]
    upstream: http://127.0.0.1:$UPSTREAM_PORT/v1
EOF
kiln validate "$ROOT/etc/kiln/kiln.yaml" >"$T/out" 2>&1
is "$?" "1" "an upstream with a path without '/' at its end is refused"
check "at its line" grep -q "^$cfg:4:5: error: sites\[0\].upstream:" "$T/out"
diag "$T/out"

done_testing
