#!/bin/bash
# nginx is never left broken: a change that fails `nginx -t` is not swapped
# in, a reload that does not take is rolled back, an invalid config touches
# nothing; the old sites are served all along.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"

start_ec2 nginx
nginx_settings
avail=$ROOT/etc/nginx/sites-available

echo "sites: [{name: a, domains: [a.test], locations: {/: {return: 200, body: v1}}}]" | sites_config
kiln nginx apply >/dev/null 2>"$T/err"
ok $? "the first version applies"
is "$(get a.test /)" "v1" "and is served"
snapshot() { (cd "$ROOT/etc/nginx" && find . -print | sort | xargs -d '\n' ls -ld --time-style=+ | awk '{print $1, $NF}'; cat sites-available/* 2>/dev/null); }
snapshot >"$T/before"

# Valid for kiln, refused by nginx: the upstream's name does not resolve.
cat <<'EOF' | sites_config
sites:
  - name: a
    domains: [a.test]
    locations: { /: { return: 200, body: v2 } }
  - name: b
    domains: [b.test]
    upstream: http://no-such-host.invalid:8000
EOF
kiln nginx apply >"$T/out" 2>"$T/err"
is "$?" "1" "a change failing nginx -t fails"
is "$(cat "$T/out")" "failed" "and says so"
check "with nginx's own message" grep -q 'host not found in upstream "no-such-host.invalid"' "$T/err"
check "naming the live file and line" grep -Eq "in $ROOT/etc/nginx/sites-enabled/b:[0-9]+" "$T/err"
line=$(grep -Eo "sites-enabled/b:[0-9]+" "$T/err" | head -1 | cut -d: -f2)
# The line is the one of the site's rendered file that names the host.
kiln nginx render b 2>/dev/null | sed -n "${line}p" | grep -q no-such-host.invalid
ok $? "that line of the site's file names the unknown host (line $line)"
snapshot >"$T/after"
check "nothing was swapped in" cmp -s "$T/before" "$T/after"
is "$(get a.test /)" "v1" "the old site is still served"
check "the staged files are cleaned up" sh -c "! ls -A '$ROOT/etc/nginx' | grep -q '^\.kiln-'"

# Passes nginx -t but the reload cannot take: the HTTPS port is taken by
# another program (nginx -t does not bind). kiln sees nginx keep its old
# workers, puts the old files back and reloads them.
$PYTHON -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0",0)); s.listen(); open(sys.argv[1],"w").write(str(s.getsockname()[1])); time.sleep(120)' "$T/busy.port" &
track $!
for _ in $(seq 100); do [ -s "$T/busy.port" ] && break; sleep 0.05; done
echo "nginx: { https_port: $(cat "$T/busy.port"), reload_timeout: 2 }" >"$ROOT/etc/kiln/kiln.d/50-test.yaml"
cat <<EOF | sites_config
sites:
  - name: a
    domains: [a.test]
    locations: { /: { return: 200, body: v3 } }
    tls: self-signed
EOF
kiln nginx apply >"$T/out" 2>"$T/err"
is "$?" "1" "a reload that does not take fails"
check "saying nginx kept its old configuration" grep -q "the reload did not take, restored the old sites: nginx kept its old configuration" "$T/err"
diag "$T/err"
check "nginx logged why" grep -q "bind() to 0.0.0.0:$(cat "$T/busy.port") failed" "$LOCAL_EC2_NGINX_LOG"
snapshot >"$T/after"
check "the old files are back" cmp -s "$T/before" "$T/after"
is "$(get a.test /)" "v1" "the old site is still served"

rm "$ROOT/etc/kiln/kiln.d/50-test.yaml"

# Invalid for kiln: nothing is touched, the error names the key.
echo 'sites: [{name: a, domains: [a.test], locations: {/: {return: 200, body: "v4\"; return 302 \"x"}}}]' | sites_config
kiln nginx apply >"$T/out" 2>"$T/err"
is "$?" "1" "an injection attempt fails validation"
check "naming the key" grep -q 'sites\[0\].locations./.body' "$T/err"
snapshot >"$T/after"
check "and nothing is touched" cmp -s "$T/before" "$T/after"

# Fixed: the next apply goes through.
echo "sites: [{name: a, domains: [a.test], locations: {/: {return: 200, body: v5}}}]" | sites_config
is "$(kiln nginx apply 2>/dev/null)" "applied" "a good change applies after the failures"
is "$(get a.test /)" "v5" "and is served"

done_testing
