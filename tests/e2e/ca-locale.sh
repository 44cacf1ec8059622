#!/bin/bash
# ca_certs and locale from cloud-init's documentation examples, applied
# under --root on a Debian root as cloud-init's cc_ca_certs and cc_locale
# do them; the tools they run (update-ca-certificates, debconf,
# locale-gen, update-locale) recorded through KILN_SYSTEM_COMMAND.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
printf 'ID=debian\nVERSION_CODENAME=bookworm\n' >"$ROOT/etc/os-release"
printf '#!/bin/sh\necho "$*" >>%s\nif [ "$1" = debconf-set-selections ]; then cat >>%s; echo >>%s; fi\n' \
	"$T/tools.log" "$T/tools.log" "$T/tools.log" >"$T/tool"
chmod 755 "$T/tool"
export KILN_SYSTEM_COMMAND=$T/tool
printf '# comment\nmozilla/A.crt\n!mozilla/B.crt\n\nmozilla/C.crt' >"$ROOT/etc/ca-certificates.conf"
mkdir -p "$ROOT/usr/share/i18n" "$ROOT/etc/default"
printf 'ar_AE.UTF-8 UTF-8\nar_AE ISO-8859-6\nfr_CA.UTF-8 UTF-8\nfr_CA ISO-8859-1\n' >"$ROOT/usr/share/i18n/SUPPORTED"
printf '# This file lists locales\n\n# ar_AE.UTF-8 UTF-8\n# fr_CA.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n' >"$ROOT/etc/locale.gen"
printf 'LANG=en_US.UTF-8\n' >"$ROOT/etc/default/locale"
start_ec2 imds

user_data <<'EOF2'
#cloud-config
locale: ar_AE
ca_certs:
  remove_defaults: true
  trusted:
  - single_line_cert
  - |
    -----BEGIN CERTIFICATE-----
    YOUR-ORGS-TRUSTED-CA-CERT-HERE
    -----END CERTIFICATE-----
EOF2

kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'ca_|locale|warn|error' | head

check "remove_defaults: each entry '!'ed under cloud-init's header" diff "$ROOT/etc/ca-certificates.conf" \
	<(printf '# comment\n# Modified by cloud-init to deselect certs due to user-data\n!mozilla/A.crt\n!mozilla/B.crt\n\n!mozilla/C.crt\n')
check "... and debconf told not to trust new ones" \
	grep -qx 'ca-certificates ca-certificates/trust_new_crts select no' "$T/tools.log"
check "the first trusted cert is cloud-init-ca-cert-1.crt, as given" \
	diff "$ROOT/usr/local/share/ca-certificates/cloud-init-ca-cert-1.crt" <(printf 'single_line_cert')
check "the second is cloud-init-ca-cert-2.crt" \
	diff "$ROOT/usr/local/share/ca-certificates/cloud-init-ca-cert-2.crt" \
	<(printf -- '-----BEGIN CERTIFICATE-----\nYOUR-ORGS-TRUSTED-CA-CERT-HERE\n-----END CERTIFICATE-----\n')
check "certs are 0644" test "$(stat -c %a "$ROOT/usr/local/share/ca-certificates/cloud-init-ca-cert-1.crt")" = 644
check "update-ca-certificates ran after them" grep -qx 'update-ca-certificates' "$T/tools.log"
check "locale: its SUPPORTED line is uncommented in /etc/locale.gen, the others left" diff "$ROOT/etc/locale.gen" \
	<(printf '# This file lists locales\n\n ar_AE.UTF-8 UTF-8\n# fr_CA.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n' | sed 's/^ //')
check "locale-gen --keep-existing ran" grep -qx 'locale-gen --keep-existing' "$T/tools.log"
check "update-locale set LANG in /etc/default/locale" \
	grep -qx 'update-locale --locale-file=/etc/default/locale LANG=ar_AE' "$T/tools.log"

# The second docs example, on a new instance: another config file, a
# locale not in locale.gen (added); the certs are not done again... they are
# per instance, so they are.
: >"$T/tools.log"
imds_data '{"instance-id": "i-00000000000locale2"}'
user_data <<'EOF2'
#cloud-config
locale: fr_CA
locale_configfile: /etc/alternate_path/locale
EOF2
printf 'en_US.UTF-8 UTF-8\n' >"$ROOT/etc/locale.gen"
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "second boot is done (exit $rc)"
check "a locale missing from locale.gen is added" diff "$ROOT/etc/locale.gen" \
	<(printf 'en_US.UTF-8 UTF-8\nfr_CA.UTF-8 UTF-8\n')
check "update-locale writes locale_configfile" \
	grep -qx 'update-locale --locale-file=/etc/alternate_path/locale LANG=fr_CA' "$T/tools.log"
check "no ca_certs without the key" test "$(grep -c update-ca "$T/tools.log")" = 0

# locale already the system's: nothing runs (cloud-init: no regeneration).
: >"$T/tools.log"
imds_data '{"instance-id": "i-00000000000locale3"}'
printf '#cloud-config\nlocale: en_us.utf-8\n' | user_data
kiln boot >"$T/boot3.log" 2>&1
check "the system's locale (in another case) is left alone" test ! -s "$T/tools.log"
done_testing
