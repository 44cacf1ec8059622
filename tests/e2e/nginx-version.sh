#!/bin/bash
# `nginx -v` (whether nginx takes "http2 on;") is asked once per nginx
# binary, not at each apply: the answer is kept in /run/kiln/nginx-version
# with the binary's device, inode, size, mtime and ctime, and asked again
# when the binary is replaced or touched, or the record is unreadable.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"

start_ec2 nginx
cache=$ROOT/run/kiln/nginx-version

# An nginx that records how it is run: every call of the real one goes
# through it. install_nginx VERSION-LINE makes a new file (a new inode, as
# a package upgrade does); an empty VERSION-LINE lets the real nginx answer.
mkdir -p "$T/bin"
install_nginx() {
	{
		echo '#!/bin/sh'
		echo "echo \"\$*\" >>'$T/calls'"
		[ -n "$1" ] && echo "[ \"\$1\" = -v ] && { echo '$1' >&2; exit 0; }"
		echo 'exec /usr/sbin/nginx "$@"'
	} >"$T/bin/nginx.new"
	chmod +x "$T/bin/nginx.new"
	mv "$T/bin/nginx.new" "$T/bin/nginx"
}
install_nginx ""
mkdir -p "$ROOT/etc/kiln/kiln.d"
sed "s#binary: [^,}]*#binary: $T/bin/nginx#" <<<"$LOCAL_EC2_NGINX_CONFIG" >"$ROOT/etc/kiln/kiln.d/00-local-ec2.yaml"
asked() { grep -c '^-v$' "$T/calls" 2>/dev/null; }
site() { # site GENERATION
	sites_config <<EOS
sites:
  - name: app
    domains: [app.test]
    locations: { /: { return: 200, body: gen-$1 } }
    tls: self-signed
EOS
}

real=$(/usr/sbin/nginx -v 2>&1 | sed -n 's#.*nginx/\([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*#\1 \2 \3#p')
read -r maj min pat <<<"$real"
want=$((maj * 1000000 + min * 1000 + pat))

site 1
kiln nginx apply >"$T/out" 2>&1
ok $? "the first apply works through the recording nginx"
diag "$T/out"
is "$(asked)" 1 "it asks nginx -v once"
read -r v _ _ _ _ _ path <"$cache"
is "$v $path" "$want $T/bin/nginx" "and records the version with the binary ($want)"

site 2
kiln nginx apply >"$T/out" 2>&1
ok $? "a second apply, of a change, works"
is "$(get app.test /)" "gen-2" "nginx serves the change"
is "$(asked)" 1 "without asking nginx -v again"
[ "$(grep -c '^-t ' "$T/calls")" = 2 ]
ok $? "while both ran nginx -t through the same binary"
kiln nginx render app >"$T/render" 2>&1
is "$(asked)" 1 "kiln nginx render takes the recorded version too"
grep -q "listen $LOCAL_EC2_HTTPS_PORT ssl http2;\|443 ssl http2;" "$T/render"
ok $? "and renders the listen ... http2 of nginx before 1.25.1"

# A package upgrade to 1.25.1: a new file in the binary's place.
install_nginx "nginx version: nginx/1.25.1"
kiln nginx render app >"$T/render" 2>&1
is "$(asked)" 2 "a new binary in its place is asked again"
grep -q "^ *http2 on;" "$T/render" && ! grep -q "ssl http2;" "$T/render"
ok $? "and its version decides the rendering: http2 on;"
diag "$T/render"
is "$(cut -d' ' -f1 "$cache")" 1025001 "the record has the new version"

# The real nginx back (again a new file); then that file touched in place.
install_nginx ""
kiln nginx render app >/dev/null 2>&1
is "$(asked)" 3 "the real nginx back in place is asked again"
touch -d "@$(($(date +%s) + 5))" "$T/bin/nginx" # a new mtime, whatever the clock's granularity
kiln nginx render app >/dev/null 2>&1
is "$(asked)" 4 "a touched binary (new mtime) is asked again"
kiln nginx render app >/dev/null 2>&1
is "$(asked)" 4 "and not after that"

echo "garbage" >"$cache"
site 3
kiln nginx apply >"$T/out" 2>&1
ok $? "an unreadable record does not stop an apply"
is "$(asked)" 5 "nginx is asked instead"
is "$(cut -d' ' -f1 "$cache")" "$want" "and the record written again"
is "$(get app.test /)" "gen-3" "nginx serves the change"

rm -f "$T/calls"
sites_config <<EOS
sites:
  - name: plain
    domains: [plain.test]
    locations: { /: { return: 200, body: plain } }
EOS
rm -f "$cache"
kiln nginx apply >"$T/out" 2>&1
ok $? "an apply without TLS sites works"
is "$(asked)" 0 "and never asks nginx -v (the directive is only for TLS servers)"

# An nginx whose -v names no version: taken for an older one, and said.
install_nginx "nginx: built by someone"
site 4
kiln nginx render app >"$T/render" 2>"$T/render.err"
ok $? "kiln nginx render works with an nginx -v that names no version"
grep -q "printed no version ('nginx: built by someone'), taking it for one before 1.25.1" "$T/render.err"
ok $? "and warns, quoting what nginx printed"
diag "$T/render.err"
grep -q "ssl http2;" "$T/render" && ! grep -q "http2 on;" "$T/render"
ok $? "rendering listen ... ssl http2, which every nginx with HTTP/2 takes"

done_testing
