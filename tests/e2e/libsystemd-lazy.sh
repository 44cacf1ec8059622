#!/bin/bash
# libsystemd is loaded when kiln needs it (agent/libsystemd.h), not linked:
# the CLI commands and a boot outside systemd never map it; `kiln daemon`
# does, and notifies and pings the watchdog through it; a command that has a
# $NOTIFY_SOCKET loads it then; nothing loaded on demand (libcurl either) is
# unloaded at exit; without a loadable libsystemd the daemon fails with a
# message and logging falls back to stderr; what journald gets has each
# field once (this last needs root, for unshare -m). zlib likewise is
# loaded only for gzip data.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

start_ec2 imds

# What a command run by systemd would inherit is set only where a check
# says so.
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID JOURNAL_STREAM

# ld_loaded NAME COMMAND...: runs COMMAND with the dynamic loader reporting
# each library it maps (a file per process, children too), then succeeds if
# one of them mapped NAME. COMMAND's own exit code is in $rc.
ld_loaded() {
	local name=$1
	shift
	rm -rf "$T/ld" && mkdir "$T/ld"
	LD_DEBUG=files LD_DEBUG_OUTPUT="$T/ld/ld" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	grep -q "file=$name " "$T/ld"/ld.* 2>/dev/null
}

ld_loaded libjansson.so.4 "$KILN" --version
ok $? "LD_DEBUG=files sees the libraries kiln loads (libjansson)"
! ld_loaded libsystemd.so.0 "$KILN" --version
ok $? "kiln --version does not load libsystemd"
! ld_loaded libsystemd.so.0 kiln status
ok $? "kiln status does not load libsystemd"
mkdir -p "$ROOT/etc/kiln"
echo "metrics: {namespace: MyApp}" >"$ROOT/etc/kiln/kiln.yaml"
! ld_loaded libsystemd.so.0 kiln put-metric Lazy 1 --unit Count
ok $? "kiln put-metric does not load libsystemd"
[ $rc -eq 0 ]
ok $? "... and queues its datum (exit $rc)"

# zlib too is loaded only for a gzip stream (agent/gzip.h).
! ld_loaded libz.so.1 kiln put-metric Lazy 2 --unit Count
ok $? "kiln put-metric does not load libz"
printf '#cloud-config\nruncmd: [[echo, hi]]\n' >"$T/ud"
! ld_loaded libz.so.1 kiln validate "$T/ud"
ok $? "kiln validate of plain user-data does not load libz"
gzip -c "$T/ud" >"$T/ud.gz"
ld_loaded libz.so.1 kiln validate "$T/ud.gz" && [ $rc -eq 0 ]
ok $? "kiln validate of gzipped user-data loads libz and accepts it (exit $rc)"
mkdir "$T/nozlib"
: >"$T/nozlib/libz.so.1"
LD_LIBRARY_PATH=$T/nozlib "$KILN" validate "$T/ud.gz" >"$T/out" 2>&1
[ $? -eq 1 ]
ok $? "gzipped user-data without a loadable libz is invalid, not a crash"
check "... saying the library could not be loaded" \
	grep -q "gzip-compressed data, which kiln cannot inflate: Failed to load libz.so.1: " "$T/out"

# A library loaded on demand stays loaded until the process ends: unloading
# it at exit gains nothing, and LeakSanitizer's exit scan crashed on the
# thread-local blocks that dlclose() had freed (one sanitizer run in three).
KILN_HTTP_CURL=1 ld_loaded libcurl.so.4 kiln metadata instance-id
ok $? "kiln metadata through libcurl (KILN_HTTP_CURL=1) loads libcurl"
[ $rc -eq 0 ] && ! grep -q "destroying link map" "$T/ld"/ld.*
ok $? "... answers (exit $rc) and unloads no library on its way out"
grep -h "destroying link map" "$T/ld"/ld.* | diag
# A test hook from the environment acts under --root only: on the real
# root (a read-only command here) kiln keeps its plain HTTP transport.
KILN_HTTP_CURL=1 ld_loaded libcurl.so.4 "$KILN" --root / metadata instance-id
[ $? -ne 0 ] && [ $rc -eq 0 ]
ok $? "on the real root KILN_HTTP_CURL is ignored: no libcurl (exit $rc)"
check "... with a warning" grep -q 'Ignoring \$KILN_HTTP_CURL: test hooks act only under --root' "$T/err"

user_data <<UD
#!/bin/sh
echo ran >$T/mark
UD
! ld_loaded libsystemd.so.0 kiln boot
ok $? "kiln boot without \$NOTIFY_SOCKET does not load libsystemd"
[ $rc -eq 0 ] && [ -f "$T/mark" ]
ok $? "... and runs the boot (exit $rc)"

# The service manager's end of $NOTIFY_SOCKET: each datagram, one per line.
sock=$T/notify
$PYTHON -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
end = time.time() + 300
with open(sys.argv[2], "a", buffering=1) as f:
    while time.time() < end:
        try:
            f.write(s.recv(4096).decode().replace("\n", " ") + "\n")
        except socket.timeout:
            pass
' "$sock" "$T/notified" &
track $!
for _ in $(seq 50); do
	[ -S "$sock" ] && break
	sleep 0.1
done
notified() { grep -q "$1" "$T/notified" 2>/dev/null; }
wait_notified() { # wait_notified PATTERN: up to 20 s
	for _ in $(seq 100); do
		notified "$1" && return 0
		sleep 0.2
	done
	return 1
}

NOTIFY_SOCKET=$sock ld_loaded libsystemd.so.0 kiln boot
ok $? "kiln boot with \$NOTIFY_SOCKET loads libsystemd"
[ $rc -eq 0 ]
ok $? "... and runs the boot (exit $rc)"
check "... telling its stages to the service manager" notified "STATUS=Boot: identify"

NOTIFY_SOCKET=$sock WATCHDOG_USEC=1000000 "$KILN" --root "$ROOT" -v daemon >"$T/daemon.log" 2>&1 &
dpid=$!
dstart=$(pid_start $dpid)
track $dpid
wait_notified "READY=1"
ok $? "kiln daemon tells READY=1 through libsystemd"
grep -q "/libsystemd\.so\.0" "/proc/$dpid/maps"
ok $? "the running daemon has libsystemd mapped"
wait_notified "WATCHDOG=1"
ok $? "the daemon pings the watchdog (WATCHDOG_USEC=1 s)"
pid_kill TERM $dpid "$dstart"
wait $dpid
ok $? "the daemon stops on SIGTERM, exit 0"
wait_notified "STOPPING=1"
ok $? "... telling STOPPING=1"

# A libsystemd.so.0 that does not load: LD_LIBRARY_PATH comes before the
# system's directories for dlopen() too.
mkdir "$T/badlib"
: >"$T/badlib/libsystemd.so.0"
LD_LIBRARY_PATH=$T/badlib "$KILN" --root "$ROOT" daemon >"$T/out" 2>&1
[ $? -eq 1 ]
ok $? "kiln daemon without a loadable libsystemd exits 1"
check "... saying why" grep -q "Failed to load libsystemd.so.0: " "$T/out"

no_user_data
JOURNAL_STREAM=8:1 LD_LIBRARY_PATH=$T/badlib kiln metadata user-data >/dev/null 2>"$T/err"
[ $? -eq 4 ]
ok $? "logging for the journal without a loadable libsystemd does not stop kiln"
check "... says it logs to stderr" grep -q "warning: Failed to load libsystemd.so.0: .*, logging to stderr" "$T/err"
check "... and logs there" grep -q "absent (404)" "$T/err"

JOURNAL_STREAM=8:1 ld_loaded libsystemd.so.0 kiln metadata user-data
ok $? "logging for the journal loads libsystemd"
[ $rc -eq 4 ] && ! grep -q "absent (404)" "$T/err"
ok $? "... and sends the message there, not to stderr"

# What reaches journald: in a mount namespace of its own with an empty /run,
# a socket at journald's address receives the datagram. Each field once,
# with the location of the log call (not log.c's).
cat >"$T/journal.sh" <<'EOS'
mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal || exit 1
"$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
s.settimeout(10)
open(sys.argv[1] + ".ready", "w").close()
open(sys.argv[1], "wb").write(s.recv(65536))
' "$T/journal" &
for _ in $(seq 100); do
	[ -e "$T/journal.ready" ] && break
	sleep 0.1
done
JOURNAL_STREAM=8:1 "$KILN" --root "$ROOT" metadata user-data >/dev/null 2>"$T/err"
echo "rc=$?" >"$T/journal.rc"
wait
EOS
T=$T PYTHON=$PYTHON KILN=$KILN ROOT=$ROOT unshare -m --propagation private bash "$T/journal.sh"
grep -qx "rc=4" "$T/journal.rc" && [ ! -s "$T/err" ]
ok $? "with JOURNAL_STREAM, kiln logs to journald's socket, nothing to stderr"
sort "$T/journal" >"$T/journal.sorted"
printf '%s\n' "CODE_FILE=../modules/imds/imds-module.c" "CODE_LINE=" "MESSAGE=" "PRIORITY=3" \
	"SYSLOG_IDENTIFIER=kiln" >"$T/journal.want"
sed 's/^\(CODE_LINE=\|ERRNO=\|MESSAGE=\).*/\1/; s|^CODE_FILE=.*/modules/|CODE_FILE=../modules/|' "$T/journal.sorted" |
	diff - "$T/journal.want" >"$T/journal.diff"
ok $? "the journal entry has each field once: MESSAGE, PRIORITY, CODE_FILE/LINE of the call, SYSLOG_IDENTIFIER"
diag "$T/journal.diff"
grep -q "^MESSAGE=.*absent (404)" "$T/journal"
ok $? "... and the message"

done_testing
