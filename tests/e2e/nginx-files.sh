#!/bin/bash
# kiln's files in nginx's Debian layout: only its own are written and
# removed; a site removed from the config disappears; someone else's file
# is left alone, even when a site wants its name; the stub_status server.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"

start_ec2 nginx
nginx_settings
avail=$ROOT/etc/nginx/sites-available
enabled=$ROOT/etc/nginx/sites-enabled

# Someone else's site, and a file where kiln would put site 'taken'.
cat >"$avail/legacy" <<EOF
server {
    listen $LOCAL_EC2_HTTP_PORT;
    server_name legacy.test;
    location / { return 200 "legacy"; }
}
EOF
ln -s ../sites-available/legacy "$enabled/legacy"
echo "# hand-written, not kiln's" >"$avail/taken"
cp "$avail/taken" "$T/taken.orig"

site() { # site NAME: a site answering its own name
	printf '  - name: %s\n    domains: [%s.test]\n    locations: { /: { return: 200, body: site-%s } }\n' "$1" "$1" "$1"
}
{
	echo "nginx: { status_port: $LOCAL_EC2_NGINX_STATUS_PORT }"
	echo "sites:"
	site a
	site b
	site taken
} | sites_config

kiln nginx apply >"$T/out" 2>"$T/err"
is "$?" "2" "a site that cannot be written leaves the apply degraded"
check "and says whose file is in the way" grep -q "not writing site 'taken': .*/sites-available/taken exists and was not written by kiln" "$T/err"
check "the other file is untouched" cmp -s "$avail/taken" "$T/taken.orig"
check "and not linked" test ! -e "$enabled/taken"
is "$(get a.test /)" "site-a" "site a served"
is "$(get b.test /)" "site-b" "site b served"
is "$(get legacy.test /)" "legacy" "the foreign site still served"
check "stub_status on 127.0.0.1" sh -c "curl -s -m 5 http://127.0.0.1:$LOCAL_EC2_NGINX_STATUS_PORT/nginx_status | grep -q '^Active connections'"
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LOCAL_EC2_NGINX_STATUS_PORT/other")" "404" \
	"and nothing else there"
check "kiln_common holds the status server" grep -q "stub_status;" "$avail/kiln_common"

# b leaves the config: its files go, and nginx stops serving it.
{
	echo "nginx: { status_port: $LOCAL_EC2_NGINX_STATUS_PORT }"
	echo "sites:"
	site a
} | sites_config
out=$(kiln nginx apply 2>"$T/err")
ok $? "applying without b succeeds"
is "$out" "applied" "and applied"
check "b's file is gone" test ! -e "$avail/b"
check "b's link is gone" test ! -L "$enabled/b"
isnt_b=$(get b.test /)
ok "$([ "$isnt_b" != "site-b" ] && echo 0 || echo 1)" "b.test is no longer served by b (now '$isnt_b')"
is "$(get a.test /)" "site-a" "a still served"
check "the foreign site's file is still there" test -f "$avail/legacy" -a -L "$enabled/legacy"
check "the file in the way is still there" cmp -s "$avail/taken" "$T/taken.orig"

# nginx -t sees what nginx's glob will read: someone else's files by any
# name, not the hidden ones, and an error in theirs is reported as theirs.
weird='we*ird [1] "x" \y'
cat >"$enabled/$weird" <<EOF
server {
    listen $LOCAL_EC2_HTTP_PORT;
    server_name weird.test;
    location / { return 200 "weird"; }
}
EOF
echo "this is not nginx config" >"$enabled/.hidden"
echo "sites: [{name: a, domains: [a.test], locations: {/: {return: 200, body: site-a1}}}]" | sites_config
out=$(kiln nginx apply 2>"$T/err")
ok $? "applying beside a file named '$weird' and a hidden file succeeds"
diag "$T/err"
is "$(get a.test /)" "site-a1" "the change is served"
is "$(get weird.test /)" "weird" "and so is the oddly named file"
printf 'server {\n    listen %s;\n    bogus_directive on;\n}\n' "$LOCAL_EC2_HTTP_PORT" >"$enabled/broken"
echo "sites: [{name: a, domains: [a.test], locations: {/: {return: 200, body: site-a9}}}]" | sites_config
kiln nginx apply >/dev/null 2>"$T/err"
is "$?" "1" "someone else's broken file fails nginx -t"
check "the message names that file and line" grep -q "unknown directive \"bogus_directive\" in $enabled/broken:3" "$T/err"
is "$(get a.test /)" "site-a1" "and the old site is kept"
rm -f "$enabled/broken" "$enabled/$weird" "$enabled/.hidden"

# A file kiln wrote but a person then edited without the marker is theirs.
sed -i 1d "$avail/a"
echo "sites: [{name: a, domains: [a.test], locations: {/: {return: 200, body: site-a2}}}]" | sites_config
kiln nginx apply >/dev/null 2>"$T/err"
is "$?" "2" "a kiln file whose marker was removed is not overwritten"
check "the edited file is kept" sh -c "! grep -q site-a2 '$avail/a'"

# No sites at all: every kiln file goes, the others stay.
echo "sites: []" | sites_config
kiln nginx apply >/dev/null 2>"$T/err"
ok $? "applying an empty list succeeds"
check "kiln_common removed" test ! -e "$avail/kiln_common" -a ! -L "$enabled/kiln_common"
is "$(ls "$avail" | tr '\n' ' ')" "a legacy taken " "only files kiln does not own are left"
is "$(get legacy.test /)" "legacy" "the foreign site still served"

done_testing
