#!/bin/bash
# puppet as cloud-init 22.4's cc_puppet does it, under --root on a Debian
# root: the package installed through the package manager, `puppet config
# print` asked for the paths, puppet.conf merged as ConfigParser merges it
# (the old one kept as .old, after each section as cloud-init does),
# ca_cert and csr_attributes written, the service enabled, the agent run
# and the service started (tools recorded through KILN_SYSTEM_COMMAND,
# packages through KILN_PKG_COMMAND); failures degrade the boot.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
printf 'puppet:x:110:115::/var/lib/puppet:/usr/sbin/nologin\n' >>"$ROOT/etc/passwd"
printf 'puppet:x:115:\n' >>"$ROOT/etc/group"
make_pkg_recorder "$T/pkg" "$T/pkg.log"
export KILN_PKG_COMMAND=$T/pkg
# The tools: recorded; `puppet config print` answers as Debian's puppet 7 does.
cat >"$T/tool" <<EOF2
#!/bin/sh
echo "\$*" >>"$T/tools.log"
[ -e "$T/no-puppet" ] && [ "\$1" = puppet ] && { echo "puppet: not found" >&2; exit 127; }
case "\$1" in */puppet-install)
	cp "$ROOT\$1" "$T/script.copy"; stat -c %a "$ROOT\$1" >>"$T/script.copy"; ls -ld "$ROOT/var/tmp/cloud-init" >"$T/tmp.ls";;
esac
case "\$*" in
"/opt/puppetlabs/bin/puppet config print config") echo /etc/puppetlabs/puppet/puppet.conf ;;
"/opt/puppetlabs/bin/puppet config print ssldir") echo /etc/puppetlabs/puppet/ssl ;;
"/opt/puppetlabs/bin/puppet config print csr_attributes") echo /etc/puppetlabs/puppet/csr_attributes.yaml ;;
"puppet config print config") echo "warning: on stderr, not in the path" >&2; echo /etc/puppet/puppet.conf ;;
"puppet config print ssldir") echo /var/lib/puppet/ssl ;;
"puppet config print csr_attributes") printf '/etc/puppet/csr_attributes.yaml  \n\n' ;;
esac
exit 0
EOF2
chmod 755 "$T/tool"
export KILN_SYSTEM_COMMAND=$T/tool
mkdir -p "$ROOT/etc/puppet" "$ROOT/etc/default"
cat >"$ROOT/etc/puppet/puppet.conf" <<'EOF2'
# puppet.conf as Debian ships it
[main]
ssldir = /var/lib/puppet/ssl
  vardir = /var/lib/puppet

[agent]
server = old.example.org
EOF2
printf '# Defaults for puppet\nSTART=no\nDAEMON_OPTS=""\n' >"$ROOT/etc/default/puppet"
chmod 640 "$ROOT/etc/default/puppet"
start_ec2 imds
imds_data '{"instance-id": "i-0123456789ABCDEF0"}'
fqdn=$($PYTHON -c 'import socket; print(socket.getfqdn())')

# cloud-init's docs example (its conf, ca_cert and csr_attributes) with
# install_type packages, a version, and exec_args as a string.
user_data <<'EOF2'
#cloud-config
puppet:
    install: true
    version: "7.23.0"
    install_type: "packages"
    exec: true
    exec_args: "--test   --noop"
    conf:
        agent:
            server: "puppetserver.example.org"
            certname: "%i.%f"
        main:
            Runinterval: 1800
            usecacheonfailure: false
        ca_cert: |
            -----BEGIN CERTIFICATE-----
            MIICCTCCAXKgAwIBAgIBATANBgkqhkiG9w0BAQUFADANMQswCQYDVQQDDAJjYTAe
            -----END CERTIFICATE-----
    csr_attributes:
        custom_attributes:
            1.2.840.113549.1.9.7: 342thbjkt82094y0uthhor289jnqthpc2290
        extension_requests:
            pp_uuid: ED803750-E3C7-44F5-BB08-41A04433FE2E
            pp_image_name: my_ami_image
            pp_preshared_key: 342thbjkt82094y0uthhor289jnqthpc2290
EOF2
"$KILN" --root "$ROOT" validate --no-fetch "$EC2/user-data" >"$T/validate.log" 2>&1
ok $? "validate: the puppet example is valid"
diag "$T/validate.log"
check "... with no warning" grep -q ': valid: 0 error(s), 0 warning(s)' "$T/validate.log"
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'puppet|warn|error|degrad' | head -20
check "the package index is refreshed, then puppet=VERSION installed" \
	diff <(grep -E 'update|install' "$T/pkg.log" | sed 's/.* \(update\)$/\1/; s/.* install /install /') \
	<(printf 'update\ninstall puppet=7.23.0\n')
# What cloud-init's DefaultingConfigParser writes for this file and conf
# (made with cloud-init 22.4.2's helpers; certname: %i, %f, lowercased).
check "puppet.conf merged as cloud-init writes it" diff "$ROOT/etc/puppet/puppet.conf" <(printf '%s\n' \
	'[main]' 'ssldir = /var/lib/puppet/ssl' 'vardir = /var/lib/puppet' 'runinterval = 1800' \
	'usecacheonfailure = False' '' '[agent]' 'server = puppetserver.example.org' \
	"certname = i-0123456789abcdef0.$fqdn" '')
check "... 0644 root's" test "$(stat -c '%a %U' "$ROOT/etc/puppet/puppet.conf")" = "644 root"
# cloud-init renames and writes after each section: with ca_cert last, the
# .old is the merged file of the sections before it.
check "puppet.conf.old: the file before the last section (ca_cert), as cloud-init leaves it" \
	cmp "$ROOT/etc/puppet/puppet.conf" "$ROOT/etc/puppet/puppet.conf.old"
S=$ROOT/var/lib/puppet/ssl
check "ca_cert in <ssl_dir>/certs/ca.pem" diff "$S/certs/ca.pem" <(printf '%s\n' '-----BEGIN CERTIFICATE-----' \
	MIICCTCCAXKgAwIBAgIBATANBgkqhkiG9w0BAQUFADANMQswCQYDVQQDDAJjYTAe '-----END CERTIFICATE-----')
check "... ssl_dir 0771 puppet:root (uid 110 in the root)" test "$(stat -c "%a %u:%g" "$S")" = "771 110:0"
check "... certs/ puppet:root" test "$(stat -c %u:%g "$S/certs")" = "110:0"
check "... ca.pem 0644 puppet:root" test "$(stat -c "%a %u:%g" "$S/certs/ca.pem")" = "644 110:0"
check "csr_attributes as PyYAML's yaml.dump writes them (keys sorted)" \
	diff "$ROOT/etc/puppet/csr_attributes.yaml" <(printf '%s\n' 'custom_attributes:' \
	'  1.2.840.113549.1.9.7: 342thbjkt82094y0uthhor289jnqthpc2290' 'extension_requests:' \
	'  pp_image_name: my_ami_image' '  pp_preshared_key: 342thbjkt82094y0uthhor289jnqthpc2290' \
	'  pp_uuid: ED803750-E3C7-44F5-BB08-41A04433FE2E')
check "START=yes in /etc/default/puppet (the rest, mode and owner kept)" \
	diff <(cat "$ROOT/etc/default/puppet"; stat -c %a "$ROOT/etc/default/puppet") \
	<(printf '# Defaults for puppet\nSTART=yes\nDAEMON_OPTS=""\n640\n')
check "the tools cloud-init runs, in its order (no systemctl enable with /etc/default/puppet)" \
	diff "$T/tools.log" <(printf '%s\n' 'puppet config print config' 'puppet config print ssldir' \
	'puppet config print csr_attributes' 'puppet agent --test --noop' 'service puppet start')
: >"$T/tools.log"
: >"$T/pkg.log"
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ] && [ ! -s "$T/tools.log" ] && [ ! -s "$T/pkg.log" ]; echo $?) \
	"the next boot of the instance does nothing again (exit $rc)"

# A new instance: no /etc/default/puppet, systemctl in the root; install
# false with a version (warned, nothing installed); exec_args a list.
imds_data '{"instance-id": "i-00000000000000002"}'
rm -f "$ROOT/etc/default/puppet" "$ROOT/etc/puppet/csr_attributes.yaml"
mkdir -p "$ROOT/usr/bin"
printf '#!/bin/sh\n' >"$ROOT/usr/bin/systemctl"
chmod 755 "$ROOT/usr/bin/systemctl"
user_data <<'EOF2'
#cloud-config
puppet:
    install: false
    version: 7
    exec: yes
    exec_args: [--onetime, --no-daemonize]
    conf_file: /etc/puppet/other.conf
EOF2
kiln boot >"$T/boot3.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot with install false is done (exit $rc)"
check "... warned about the version" grep -q 'Puppet install set to false but version supplied' "$T/boot3.log"
check "... nothing installed" test ! -s "$T/pkg.log"
check "... systemctl enable puppet.service without /etc/default/puppet; config print still run" \
	diff "$T/tools.log" <(printf '%s\n' 'puppet config print config' 'puppet config print ssldir' \
	'puppet config print csr_attributes' 'systemctl enable puppet.service' \
	'puppet agent --onetime --no-daemonize' 'service puppet start')
check "... no conf: conf_file not needed nor made" test ! -e "$ROOT/etc/puppet/other.conf"

# An install_type cloud-init does not know (its schema says packages or
# aio): validate warns, so the boot is degraded; nothing installed, exec
# not done, as cloud-init does.
imds_data '{"instance-id": "i-00000000000000003"}'
: >"$T/tools.log"
printf '#cloud-config\npuppet: {install_type: gem, exec: true, start_service: false}\n' | user_data
kiln boot >"$T/boot4.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "an unknown install_type is warned about, the boot degraded (exit $rc)"
check "... warned about" grep -q "Unknown puppet install type 'gem'" "$T/boot4.log"
check "... no agent run, no service" diff "$T/tools.log" <(printf '%s\n' 'puppet config print config' \
	'puppet config print ssldir' 'puppet config print csr_attributes')

# The package cannot be installed: degraded, nothing configured.
imds_data '{"instance-id": "i-00000000000000004"}'
: >"$T/tools.log"
printf '#!/bin/sh\necho "$*" >>%s\ncase "$*" in *install*) echo "E: Unable to locate package puppet" >&2; exit 100;; esac\n' \
	"$T/pkg.log" >"$T/pkg"
printf '#cloud-config\npuppet: {conf: {main: {a: b}}}\n' | user_data
cp "$ROOT/etc/puppet/puppet.conf" "$T/before.conf"
kiln boot >"$T/boot5.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a package that cannot be installed makes the boot degraded (exit $rc)"
check "... saying so" grep -q 'puppet: installing the package puppet failed' "$ROOT/run/kiln/status.json"
check "... nothing else run or written" test ! -s "$T/tools.log" -a "$(cat "$ROOT/etc/puppet/puppet.conf")" = "$(cat "$T/before.conf")"
make_pkg_recorder "$T/pkg" "$T/pkg.log"

# puppet is not there (install: false): `puppet config print` fails, as in cloud-init.
imds_data '{"instance-id": "i-00000000000000005"}'
touch "$T/no-puppet"
printf '#cloud-config\npuppet: {install: false, conf_file: /etc/puppet/puppet.conf, conf: {main: {a: b}}}\n' | user_data
kiln boot >"$T/boot6.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "without puppet the boot is degraded, conf_file given or not (exit $rc)"
check "... saying so" grep -q 'puppet config print config. failed' "$ROOT/run/kiln/status.json"
check "... puppet.conf untouched" cmp "$ROOT/etc/puppet/puppet.conf" "$T/before.conf"
rm -f "$T/no-puppet"

# A puppet.conf ConfigParser refuses (an option before any section).
imds_data '{"instance-id": "i-00000000000000006"}'
printf 'server = x\n[main]\n' >"$ROOT/etc/puppet/puppet.conf"
printf '#cloud-config\npuppet: {install: false, conf: {main: {a: b}}}\n' | user_data
kiln boot >"$T/boot7.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a puppet.conf ConfigParser cannot read makes the boot degraded (exit $rc)"
check "... saying why" grep -q 'an option before any \[section\]' "$ROOT/run/kiln/status.json"
check "... and leaves it alone" diff "$ROOT/etc/puppet/puppet.conf" <(printf 'server = x\n[main]\n')

# A link planted where csr_attributes goes is not followed.
imds_data '{"instance-id": "i-00000000000000007"}'
mkdir -p "$ROOT/home/u"
chown 1000:1000 "$ROOT/home/u"
ln -s /etc/shadow-target "$ROOT/home/u/link"
printf '#cloud-config\npuppet: {install: false, start_service: false, csr_attributes_path: /home/u/link/x.yaml, csr_attributes: {a: 1}}\n' | user_data
kiln boot >"$T/boot8.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ] && [ ! -e "$ROOT/etc/shadow-target" ] && [ ! -e /etc/shadow-target ]; echo $?) \
	"a user's link on the csr_attributes path is not followed; degraded (exit $rc)"

# install_type aio: cloud-init's first docs example, its script served by a
# local server behind a redirect (aio_install_url is configurable).
cat >"$T/aio-server.py" <<'EOF2'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/JBhoQ":
            self.send_response(302); self.send_header("Location", "/install.sh"); self.end_headers()
        elif self.path == "/install.sh":
            body = b"#!/bin/sh\necho installing puppet-agent\n"
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
        open(sys.argv[2], "a").write(self.path + "\n")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
EOF2
$PYTHON "$T/aio-server.py" "$T/aio.port" "$T/aio.log" &
track $!
for _ in $(seq 50); do [ -s "$T/aio.port" ] && break; sleep 0.1; done
port=$(cat "$T/aio.port")
imds_data '{"instance-id": "i-0000000000000aio1"}'
: >"$T/tools.log"
: >"$T/pkg.log"
mkdir -p "$ROOT/etc/puppetlabs/puppet"
printf '[main]\n' >"$ROOT/etc/puppetlabs/puppet/puppet.conf"
user_data <<EOF2
#cloud-config
puppet:
    install: true
    version: "7.7.0"
    install_type: "aio"
    collection: "puppet7"
    aio_install_url: 'http://127.0.0.1:$port/JBhoQ'
    cleanup: true
    conf_file: "/etc/puppet/puppet.conf"
    ssl_dir: "/var/lib/puppet/ssl"
    csr_attributes_path: "/etc/puppet/csr_attributes.yaml"
    exec: true
    exec_args: ['--test']
    conf:
        agent:
            server: "puppetserver.example.org"
            certname: "%i.%f"
        ca_cert: |
            -----BEGIN CERTIFICATE-----
            MIICCTCCAXKgAwIBAgIBATANBgkqhkiG9w0BAQUFADANMQswCQYDVQQDDAJjYTAe
            -----END CERTIFICATE-----
    csr_attributes:
        custom_attributes:
            1.2.840.113549.1.9.7: 342thbjkt82094y0uthhor289jnqthpc2290
        extension_requests:
            pp_uuid: ED803750-E3C7-44F5-BB08-41A04433FE2E
            pp_image_name: my_ami_image
            pp_preshared_key: 342thbjkt82094y0uthhor289jnqthpc2290
EOF2
printf 'server = x\n[main]\n' >"$T/bad.conf"
printf '[main]\nvardir = /var/lib/puppet\n' >"$ROOT/etc/puppet/puppet.conf"
rm -rf "$ROOT/var/tmp/cloud-init" "$ROOT/var/lib/puppet/ssl"
"$KILN" --root "$ROOT" validate --no-fetch "$EC2/user-data" >"$T/validate-aio.log" 2>&1
ok $? "validate: cloud-init's aio docs example is valid"
check "... with no warning" grep -q ': valid: 0 error(s), 0 warning(s)' "$T/validate-aio.log"
kiln boot >"$T/boot9.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "aio: boot is done (exit $rc)"
diag "$T/boot9.log" | grep -iE 'puppet|warn|error|degrad' | head -20
check "... the script fetched through the redirect" diff "$T/aio.log" <(printf '/JBhoQ\n/install.sh\n')
check "... written 0700 and run as cloud-init runs it" diff "$T/script.copy" \
	<(printf '#!/bin/sh\necho installing puppet-agent\n700\n')
check "... from /var/tmp/cloud-init, made 1777" grep -q '^drwxrwxrwt' "$T/tmp.ls"
check "... its directory removed afterwards" test -z "$(ls -A "$ROOT/var/tmp/cloud-init")"
check "... no package installed" test ! -s "$T/pkg.log"
check "... the commands: script -v -c --cleanup, /opt/puppetlabs/bin/puppet's config, agent, service" \
	diff <(sed 's#^/var/tmp/cloud-init/tmp[0-9a-f]*/puppet-install#SCRIPT#' "$T/tools.log") <(printf '%s\n' \
	'SCRIPT -v 7.7.0 -c puppet7 --cleanup' '/opt/puppetlabs/bin/puppet config print config' \
	'/opt/puppetlabs/bin/puppet config print ssldir' '/opt/puppetlabs/bin/puppet config print csr_attributes' \
	'systemctl enable puppet.service' '/opt/puppetlabs/bin/puppet agent --test' 'service puppet start')
check "... conf_file given: /etc/puppet/puppet.conf merged" diff "$ROOT/etc/puppet/puppet.conf" <(printf '%s\n' \
	'[main]' 'vardir = /var/lib/puppet' '' '[agent]' 'server = puppetserver.example.org' \
	"certname = i-0000000000000aio1.$fqdn" '')
check "... ca.pem root's with aio" test "$(stat -c "%a %u:%g" "$ROOT/var/lib/puppet/ssl/certs/ca.pem")" = "644 0:0"
check "... csr_attributes written" grep -qx 'extension_requests:' "$ROOT/etc/puppet/csr_attributes.yaml"

# The script cannot be fetched (404 six times, a second apart): degraded, nothing run.
imds_data '{"instance-id": "i-0000000000000aio2"}'
: >"$T/tools.log"
: >"$T/aio.log"
printf '#cloud-config\npuppet: {install_type: aio, aio_install_url: "http://127.0.0.1:%s/missing"}\n' "$port" | user_data
kiln boot >"$T/boot10.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "aio: a script that cannot be fetched makes the boot degraded (exit $rc)"
check "... saying so" grep -q 'fetching the aio install script failed: .*/missing: HTTP status 404' "$ROOT/run/kiln/status.json"
check "... tried 6 times, as readurl(retries=5)" test "$(grep -c missing "$T/aio.log")" = 6
check "... nothing run" test ! -s "$T/tools.log"
done_testing
