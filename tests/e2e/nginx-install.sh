#!/bin/bash
# nginx missing: installed with the package manager (a stand-in here, via
# KILN_PKG_COMMAND), or, when it cannot be, a recorded failure that leaves
# the rest of the boot going.
# shellcheck source=/dev/null
. "$top_srcdir/tests/e2e/nginx-lib.sh"

start_ec2 imds nginx
nginx_settings
mkdir -p "$T/bin"
# The stand-in package manager: records its arguments, "installs" nginx.
cat >"$T/fake-pkg" <<EOF
#!/bin/sh
echo "\$@" >>"$T/pkg.log"
ln -sf /usr/sbin/nginx "$T/bin/nginx"
EOF
chmod +x "$T/fake-pkg"
echo "nginx: { binary: $T/bin/nginx }" >"$ROOT/etc/kiln/kiln.d/40-binary.yaml"
cat <<EOF | sites_config
sites:
  - name: app
    domains: [app.test]
    locations: { /: { return: 200, body: installed } }
EOF

# Under --root, packages are never installed unless a stand-in is named.
kiln nginx apply >/dev/null 2>"$T/err"
is "$?" "1" "missing nginx under --root fails"
check "saying packages are not installed under --root" grep -q "nginx is not installed, and packages are not installed under --root" "$T/err"

echo "nginx: { install: false }" >"$ROOT/etc/kiln/kiln.d/50-test.yaml"
KILN_PKG_COMMAND=$T/fake-pkg kiln nginx apply >/dev/null 2>"$T/err"
is "$?" "1" "with nginx.install false, nothing is installed"
check "and it says so" grep -q "nginx.install is false" "$T/err"
check "the package manager did not run" test ! -e "$T/pkg.log"
rm "$ROOT/etc/kiln/kiln.d/50-test.yaml"

# A boot with nginx missing: the failure is recorded, the boot goes on.
kiln boot >"$T/boot.log" 2>&1
is "$?" "2" "the boot ends degraded (applying failed, the rest went on)"
is "$(status_field '[s["result"] for s in d["stages"]]')" "['ok', 'ok', 'ok', 'failed']" \
	"only the apply stage failed"
is "$(status_field '[e for s in d["stages"] for e in s.get("errors", []) if "nginx is not installed" in e][:1] != []')" \
	"True" "status.json says why"

export KILN_PKG_COMMAND=$T/fake-pkg
is "$(kiln nginx apply 2>"$T/err")" "applied" "nginx installed, then the sites applied"
diag "$T/err"
is "$(cat "$T/pkg.log")" "apt-get -q -y -o Dpkg::Options::=--force-confold install nginx" \
	"installed with apt-get, non-interactively"
is "$(get app.test /)" "installed" "and served"

done_testing
