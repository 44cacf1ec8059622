# Sourced by the userdata e2e tests: a minimal system under $ROOT for the
# shadow tools (useradd --root and friends) and the time zone.
make_root() {
	local r=$1
	mkdir -p "$r/etc" "$r/usr/share/zoneinfo/Europe" "$r/home"
	cp /etc/login.defs "$r/etc/login.defs"
	printf 'root:x:0:0:root:/root:/bin/bash\n' >"$r/etc/passwd"
	printf 'root:x:0:\nadm:x:4:\nsudo:x:27:\n' >"$r/etc/group"
	printf 'root:*:19000:0:99999:7:::\n' >"$r/etc/shadow"
	printf 'root:*::\nadm:*::\nsudo:*::\n' >"$r/etc/gshadow"
	chmod 600 "$r/etc/shadow" "$r/etc/gshadow"
	printf 'PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n' >"$r/etc/os-release"
	printf '127.0.0.1 localhost\n' >"$r/etc/hosts"
	cp /usr/share/zoneinfo/Europe/Berlin "$r/usr/share/zoneinfo/Europe/Berlin"
}

# A package manager stand-in: records its arguments, one call a line.
make_pkg_recorder() {
	local script=$1 log=$2
	printf '#!/bin/sh\necho "$*" >>%s\n' "$log" >"$script"
	chmod 755 "$script"
}
