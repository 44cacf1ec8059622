#!/bin/bash
# The systemd unit verifies, and `kiln daemon` talks sd_notify: READY=1 after
# the boot, STATUS= lines, STOPPING=1 on SIGTERM, a reload on SIGHUP.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

unit=$top_builddir/units/kiln.service
check "the unit is built" test -s "$unit"
sed "s|^ExecStart=.*|ExecStart=$KILN daemon|" "$unit" >"$T/kiln.service"
systemd-analyze verify "$T/kiln.service" >"$T/verify" 2>&1
ok $? "systemd-analyze verify passes"
[ ! -s "$T/verify" ] || diag "$T/verify"
check "Type=notify" grep -qx 'Type=notify' "$unit"
check "WatchdogSec set" grep -q '^WatchdogSec=' "$unit"
check "after network-online.target" grep -qx 'After=network-online.target' "$unit"
check "hardened: SystemCallFilter=@system-service" grep -q '^SystemCallFilter=@system-service' "$unit"
check "hardened: RestrictNamespaces=yes" grep -qx 'RestrictNamespaces=yes' "$unit"
check "hardened: PrivateTmp=yes" grep -qx 'PrivateTmp=yes' "$unit"
check "hardened: capabilities nothing needs are dropped" grep -q '^CapabilityBoundingSet=~CAP_SYS_BOOT' "$unit"
# A start timeout shorter than a script's (scripts.timeout, 1 h) fails the
# start mid-script and Restart=on-failure runs the script again.
check "no start timeout to cut a script short" grep -qx 'TimeoutStartSec=infinity' "$unit"

# SSH host keys before sshd: a unit of their own (kiln.service is ready too late).
keys=$top_builddir/units/kiln-host-keys.service
check "kiln-host-keys.service is built" test -s "$keys"
sed "s|^ExecStart=.*|ExecStart=$KILN host-keys|" "$keys" >"$T/kiln-host-keys.service"
systemd-analyze verify "$T/kiln-host-keys.service" >"$T/verify2" 2>&1
ok $? "kiln-host-keys.service: systemd-analyze verify passes"
[ ! -s "$T/verify2" ] || diag "$T/verify2"
check "host keys before ssh.service and sshd.service" grep -q '^Before=ssh.service sshd.service' "$keys"
check "host keys after the network (IMDS), as cloud-init.service" grep -qx 'After=network-online.target' "$keys"
check "host keys: a oneshot" grep -qx 'Type=oneshot' "$keys"

# A notify socket of our own, read with python.
start_ec2 imds
sock=$T/notify.sock
$PYTHON - "$sock" >"$T/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
end = time.time() + 30
while time.time() < end:
    try:
        msg = s.recv(4096).decode()
    except socket.timeout:
        break
    print(msg.replace("\n", " | "), flush=True)
    if "STOPPING=1" in msg:
        break
PY
listener=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.05; done
user_data <<'UD'
#!/bin/sh
echo daemon-script-ran
UD
NOTIFY_SOCKET=$sock "$KILN" --root "$ROOT" daemon >"$T/daemon.out" 2>&1 &
daemon=$!
for _ in $(seq 100); do grep -q 'READY=1' "$T/notify.log" && break; sleep 0.1; done
check "READY=1 sent after the boot" grep -q 'READY=1' "$T/notify.log"
check "STATUS per stage" grep -q 'STATUS=Boot: apply' "$T/notify.log"
check "the script ran before READY" grep -q daemon-script-ran "$ROOT/var/log/kiln/user-data.log"
kill -HUP $daemon
for _ in $(seq 50); do grep -q 'RELOADING=1' "$T/notify.log" && break; sleep 0.1; done
check "SIGHUP reloads (RELOADING=1)" grep -q 'RELOADING=1' "$T/notify.log"
kill -0 $daemon
ok $? "the daemon keeps running after SIGHUP"
mkdir -p "$ROOT/etc/kiln"
printf 'scripts: [unclosed\n' >"$ROOT/etc/kiln/kiln.yaml"
kill -HUP $daemon
for _ in $(seq 50); do grep -q 'Config is invalid, keeping what runs now' "$T/daemon.out" && break; sleep 0.1; done
check "a broken config on SIGHUP is refused, the running one kept" grep -q 'Config is invalid, keeping what runs now' "$T/daemon.out"
kill -0 $daemon
ok $? "and the daemon keeps running"
rm -f "$ROOT/etc/kiln/kiln.yaml"
kill -TERM $daemon
wait $daemon
ok $? "SIGTERM ends it cleanly (exit 0)"
wait $listener
check "STOPPING=1 sent" grep -q 'STOPPING=1' "$T/notify.log"

done_testing
