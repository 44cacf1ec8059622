#!/bin/bash
# apt: as cloud-init's cc_apt_configure writes it, under --root on a
# Debian root: proxy and conf files, sources with an inline key (checked
# against `gpg --dearmor` itself), signed-by $KEY_FILE, $RELEASE/$MIRROR,
# filename, append; then apt-get update through the package recorder.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
printf 'ID=debian\nVERSION_CODENAME=bookworm\n' >"$ROOT/etc/os-release"
make_pkg_recorder "$T/pkg" "$T/pkg.log"
export KILN_PKG_COMMAND=$T/pkg
mkdir -p "$ROOT/etc/apt/sources.list.d"
printf 'deb http://old/ x main\n' >"$ROOT/etc/apt/sources.list.d/appended.list"
printf 'deb http://old/ x main\n' >"$ROOT/etc/apt/sources.list.d/replaced.list"
start_ec2 imds

export GNUPGHOME=$T/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch -q --passphrase '' --quick-gen-key 'kiln test <t@example.com>' ed25519 sign never 2>/dev/null
gpg --batch -q --armor --export t@example.com >"$T/key.asc"
gpg --batch -q --dearmor <"$T/key.asc" >"$T/key.gpg"
test -s "$T/key.gpg" || { echo "Bail out! gpg made no key"; exit 1; }
KEY=$(sed 's/^/        /' "$T/key.asc")

user_data <<EOF2
#cloud-config
apt:
  preserve_sources_list: true
  primary:
    - arches: [default]
      uri: http://mirror.example.com/debian
  conf: |
    APT {
        Get {
            Assume-Yes 'true';
            Fix-Broken 'true';
        }
    }
  proxy: http://proxy.example.com:3128/
  https_proxy: https://proxy.example.com:3129/
  sources:
    signed:
      source: deb [signed-by=\$KEY_FILE] \$MIRROR \$RELEASE main
      key: |
$KEY
    trusted.list:
      source: deb \${PRIMARY} \$RELEASE-security main
      key: |
$KEY
    appended:
      source: deb http://new/ \$RELEASE contrib
    other:
      filename: /etc/apt/sources.list.d/replaced.list
      source: deb \$SECURITY \$RELEASE non-free
      append: false
EOF2

kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'apt|warn|error' | head

A=$ROOT/etc/apt
check "proxy file as cloud-init writes it" diff "$A/apt.conf.d/90cloud-init-aptproxy" \
	<(printf 'Acquire::http::Proxy "http://proxy.example.com:3128/";\nAcquire::https::Proxy "https://proxy.example.com:3129/";\n')
check "conf written as given" diff "$A/apt.conf.d/94cloud-init-config" \
	<(printf "APT {\n    Get {\n        Assume-Yes 'true';\n        Fix-Broken 'true';\n    }\n}\n")
check "a \$KEY_FILE key is dearmored into cloud-init.gpg.d, byte for byte as gpg --dearmor" \
	cmp "$A/cloud-init.gpg.d/signed.gpg" "$T/key.gpg"
check "... and named in signed-by, \$MIRROR and \$RELEASE replaced" diff "$A/sources.list.d/signed.list" \
	<(printf 'deb [signed-by=/etc/apt/cloud-init.gpg.d/signed.gpg] http://mirror.example.com/debian bookworm main\n')
check "another key goes to trusted.gpg.d, named by the file's stem" cmp "$A/trusted.gpg.d/trusted.gpg" "$T/key.gpg"
check "\${PRIMARY} replaced; .list not added twice" diff "$A/sources.list.d/trusted.list" \
	<(printf 'deb http://mirror.example.com/debian bookworm-security main\n')
check "a source is appended by default" diff "$A/sources.list.d/appended.list" \
	<(printf 'deb http://old/ x main\ndeb http://new/ bookworm contrib\n')
check "append: false replaces; \$SECURITY is the primary when only it is given" diff "$A/sources.list.d/replaced.list" \
	<(printf 'deb http://mirror.example.com/debian bookworm non-free\n')
check "apt-get update ran after the sources" grep -qx 'apt-get -q update' "$T/pkg.log"

# keyid: fetched with gpg --recv-keys from a key server (a local HKP
# server here), as cloud-init's gpg.getkeybyid() does.
FPR=$(gpg --batch --with-colons --list-keys t@example.com | awk -F: '/^fpr/ {print $10; exit}')
cat >"$T/hkp.py" <<'PY'
import http.server, sys, threading, urllib.parse
key = open(sys.argv[1], "rb").read()
log = open(sys.argv[3], "a")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        log.write(self.path + "\n"); log.flush()
        ok = u.path == "/pks/lookup" and q.get("op") == ["get"]
        body = key if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/pgp-keys")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2], "w").write(str(s.server_address[1]))
threading.Timer(120, s.shutdown).start()
s.serve_forever()
PY
$PYTHON "$T/hkp.py" "$T/key.asc" "$T/hkp.port" "$T/hkp.log" &
track $!
for _ in $(seq 50); do [ -s "$T/hkp.port" ] && break; sleep 0.1; done

# A new instance: a keyid from the key server; an unknown variable and
# debconf_selections are not silently dropped.
imds_data '{"instance-id": "i-0000000000000apt2"}'
user_data <<EOF2
#cloud-config
apt:
  sources:
    bad:
      source: deb \$MIRROR \$basearch main
    viakeyid:
      keyid: $FPR
      keyserver: hkp://127.0.0.1:$(cat "$T/hkp.port")
      source: deb [signed-by=\$KEY_FILE] http://x/ y main
  debconf_selections:
    set1: the-package the-package/some-flag boolean true
EOF2
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "an unknown \$variable and debconf_selections under --root without the test hook make the boot degraded (exit $rc)"
diag "$T/boot2.log" | grep -iE 'apt|gpg' | head
check "... naming the variable" grep -q "'\$basearch' is not a variable" "$T/boot2.log"
check "... and debconf_selections (not run under --root without KILN_SYSTEM_COMMAND)" grep -q 'debconf_selections: not running debconf-set-selections under --root' "$T/boot2.log"
check "nothing written for the bad source" test ! -e "$A/sources.list.d/bad.list"
check "the key server was asked for the keyid" grep -q "op=get" "$T/hkp.log"
check "the keyid's key is in cloud-init.gpg.d, the bytes gpg --dearmor gives" cmp "$A/cloud-init.gpg.d/viakeyid.gpg" "$T/key.gpg"
check "its source names it" grep -qx 'deb \[signed-by=/etc/apt/cloud-init.gpg.d/viakeyid.gpg\] http://x/ y main' "$A/sources.list.d/viakeyid.list"
# sources_list: cloud-init's docs example 2 (deb822) on a new instance.
imds_data '{"instance-id": "i-0000000000000apt3"}'
printf 'deb http://old/ bookworm main\n' >"$A/sources.list"
user_data <<'EOF2'
#cloud-config
apt:
    sources_list: |
      Types: deb
      URIs: http://archive.ubuntu.com/ubuntu/
      Suites: $RELEASE
      Components: main
EOF2
kiln boot >"$T/boot3.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "deb822 sources_list: boot is done (exit $rc)"
check "deb822 content goes to sources.list.d/debian.sources, \$RELEASE replaced" diff "$A/sources.list.d/debian.sources" \
	<(printf 'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: bookworm\nComponents: main\n')
check "... and sources.list is removed (Debian), as cloud-init does" test ! -e "$A/sources.list"

# one-line sources_list with disable_suites and a primary mirror (docs example 1's lines)
imds_data '{"instance-id": "i-0000000000000apt4"}'
user_data <<'EOF2'
#cloud-config
apt:
  primary:
    - arches: [amd64, i386, default]
      uri: http://us.archive.ubuntu.com/ubuntu
  disable_suites: [$RELEASE-updates, backports, $RELEASE, mysuite]
  sources_list: |
      deb $MIRROR $RELEASE main restricted
      deb-src $MIRROR $RELEASE main restricted
      deb $PRIMARY $RELEASE universe restricted
      deb $SECURITY $RELEASE-security multiverse
EOF2
kiln boot >"$T/boot4.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "one-line sources_list: boot is done (exit $rc)"
diag "$T/boot4.log" | grep -iE 'apt|warn' | head -5
check "sources.list rendered, disabled suites commented out as cloud-init does" diff "$A/sources.list" \
	<(printf '# suite disabled by cloud-init: deb http://us.archive.ubuntu.com/ubuntu bookworm main restricted\n# suite disabled by cloud-init: deb-src http://us.archive.ubuntu.com/ubuntu bookworm main restricted\n# suite disabled by cloud-init: deb http://us.archive.ubuntu.com/ubuntu bookworm universe restricted\ndeb http://us.archive.ubuntu.com/ubuntu bookworm-security multiverse\n')
gpgconf --kill all 2>/dev/null # the test keyring's agent
done_testing
