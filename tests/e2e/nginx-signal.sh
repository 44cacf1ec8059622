#!/bin/bash
# Signalling nginx only when it is nginx, and a reload nginx never got:
# - kiln killed (SIGKILL) after the new site files are in place but before
#   nginx is signalled: the next apply finds the files "unchanged" yet must
#   reload, since nginx still serves the old config;
# - a stale nginx.pid naming a live process that is not the nginx master
#   (here a `sleep`): it gets no SIGHUP, and kiln starts nginx instead.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"

start_ec2 nginx
nginx_settings
pidfile=$ROOT/run/nginx.pid
site() { # site BODY
	sites_config <<EOF
sites:
  - name: app
    domains: [app.test]
    locations: { /: { return: 200, body: $1 } }
EOF
}
workers() { pgrep -P "$(cat "$pidfile")" | sort | tr '\n' ' '; }

site v1
is "$(kiln nginx apply 2>"$T/err")" "applied" "v1 applies"
is "$(get app.test /)" "v1" "and is served"

# --- killed between the swap and the signal ---
site v2
KILN_TEST_CRASH_AT=nginx-swapped kiln nginx apply >"$T/out" 2>"$T/err"
is "$?" "137" "kiln is killed (SIGKILL) right after swapping the files in"
check "the new file is in place" grep -q '"v2"' "$ROOT/etc/nginx/sites-available/app"
is "$(get app.test /)" "v1" "while nginx still serves the old config"
out=$(kiln nginx apply 2>"$T/err")
is "$out" "applied" "the next apply does not call the files unchanged"
diag "$T/err"
check "it says why it reloads" grep -q "an earlier apply was interrupted before nginx was seen to load them" "$T/err"
is "$(get app.test /)" "v2" "and nginx serves the new config"
before=$(workers)
is "$(kiln nginx apply 2>"$T/err")" "unchanged" "after that reload, the same config is unchanged again"
is "$(workers)" "$before" "and nginx is not reloaded"

# Killed before the swap: nothing changed on disk, nothing owed.
site v3
KILN_TEST_CRASH_AT=nginx-tested kiln nginx apply >"$T/out" 2>"$T/err"
is "$?" "137" "kiln is killed after nginx -t, before the swap"
is "$(kiln nginx apply 2>"$T/err")" "applied" "the next apply applies the change"
is "$(get app.test /)" "v3" "and it is served"

# --- a stale pid file naming a live process that is not nginx ---
master=$(cat "$pidfile")
kill -QUIT "$master"
for _ in $(seq 200); do kill -0 "$master" 2>/dev/null || break; sleep 0.05; done
check "nginx is stopped" sh -c "! kill -0 $master 2>/dev/null"
sleep 300 &
victim=$!
track $victim
echo "$victim" >"$pidfile"
site v4
kiln nginx apply >"$T/out" 2>"$T/err"
rc=$?
new=$(cat "$pidfile" 2>/dev/null)
[ -n "$new" ] && [ "$new" != "$victim" ] && pid_record "$new" "$EC2/pids"
is "$rc" "0" "apply with a stale pid file succeeds"
diag "$T/err"
check "the process the pid file named got no SIGHUP (still alive)" kill -0 "$victim"
check "kiln says the pid file does not name nginx" grep -q "not the nginx master" "$T/err"
check "nginx was started: a new master in the pid file" sh -c "[ '$new' != '$victim' ] && grep -q 'nginx: master process' /proc/$new/cmdline"
is "$(get app.test /)" "v4" "and serves the config"

# A process titled as an nginx master, running another program.
(exec -a "nginx: master process /usr/sbin/nginx" sleep 300) &
fake=$!
track $fake
for _ in $(seq 100); do grep -q "nginx: master" "/proc/$fake/cmdline" 2>/dev/null && break; sleep 0.02; done
echo "$fake" >"$pidfile"
site v4b
kiln nginx apply >"$T/out" 2>"$T/err"
is "$?" "1" "a pid file naming a process titled 'nginx: master process' but running sleep fails the apply"
check "that process got no SIGHUP (still alive)" kill -0 "$fake"
check "nor did the first" kill -0 "$victim"
check "kiln names the program it runs" grep -q "which is not the nginx master (it runs [^ ]*sleep, not /usr/sbin/nginx)" "$T/err"
diag "$T/err"
is "$(get app.test /)" "v4" "nginx (running, not named by the pid file) keeps serving what it had"

echo "$new" >"$pidfile"
is "$(kiln nginx apply 2>"$T/err")" "applied" "with the right pid back, the change applies"
is "$(get app.test /)" "v4b" "and is served"

done_testing
