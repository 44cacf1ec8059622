# shellcheck shell=bash
# Signalling the processes a test started, and never another: under
# `make -j` with thousands of short processes, PIDs (pid_max 32768) come
# round again within a test's life, so a PID is recorded with its process's
# start time and signalled only while that still matches.
# Sourced by tests/local-ec2, tests/lib.sh and tests/fakes/test-fake-imds.sh.

# pid_start PID: the process's start time (clock ticks after boot, field 22
# of /proc/PID/stat); fails when there is no such process.
pid_start() {
	local stat f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# Fields after the command name, which may hold spaces: 3 (state) on.
	read -ra f <<<"${stat##*) }"
	echo "${f[19]}"
}

# pid_record PID FILE: appends "PID START" to FILE.
pid_record() {
	local start
	start=$(pid_start "$1") || return 0 # gone already: nothing to stop
	echo "$1 $start" >>"$2"
}

# pid_alive PID START: the recorded process still runs.
pid_alive() { [ -n "$2" ] && [ "$(pid_start "$1" 2>/dev/null)" = "$2" ]; }

# pid_kill SIGNAL PID START: signals the recorded process if it still runs.
pid_kill() { pid_alive "$2" "$3" && kill -"$1" "$2" 2>/dev/null; }

# pid_kill_all SIGNAL FILE: pid_kill for each "PID START" line of FILE, the
# last recorded first.
pid_kill_all() {
	local pid start
	[ -f "$2" ] || return 0
	tac "$2" | while read -r pid start; do pid_kill "$1" "$pid" "$start" || true; done
}
