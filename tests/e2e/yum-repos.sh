#!/bin/bash
# yum_repos from cloud-init's own documentation examples, in three
# #cloud-config parts joined with merge_how, applied under --root on a
# RHEL-family root: each <id>.repo as cloud-init's ConfigParser writes it.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
printf 'NAME="Rocky Linux"\nID="rocky"\n' >"$ROOT/etc/os-release"
mkdir -p "$ROOT/etc/yum.repos.d"
printf 'mine\n' >"$ROOT/etc/yum.repos.d/epel-testing.repo"
start_ec2 imds

user_data <<'EOF2'
Content-Type: multipart/mixed; boundary="b"
MIME-Version: 1.0

--b
Content-Type: text/cloud-config

#cloud-config
yum_repos:
  cloud-init-daily:
    name: Copr repo for cloud-init-dev owned by @cloud-init
    baseurl: https://download.copr.fedorainfracloud.org/results/@cloud-init/cloud-init-dev/epel-8-$basearch/
    type: rpm-md
    skip_if_unavailable: true
    gpgcheck: true
    gpgkey: https://download.copr.fedorainfracloud.org/results/@cloud-init/cloud-init-dev/pubkey.gpg
    enabled_metadata: 1
--b
Content-Type: text/cloud-config

#cloud-config
merge_how: "dict(recurse_array,no_replace)+list(append)"
yum_repos:
# The name of the repository
 epel-testing:
   baseurl: https://download.copr.fedorainfracloud.org/results/@cloud-init/cloud-init-dev/pubkey.gpg
   enabled: false
   failovermethod: priority
   gpgcheck: true
   gpgkey: file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL
   name: Extra Packages for Enterprise Linux 5 - Testing
--b
Content-Type: text/cloud-config
Merge-Type: dict(no_replace)

#cloud-config
yum_repos:
  my package stream:
    baseurl: http://blah.org/pub/epel/testing/5/$basearch/
    mirrorlist: http://some-url-to-list-of-baseurls
    repo_gpgcheck: 1
    enable_gpgcheck: true
    gpgkey: https://url.to.ascii-armored-gpg-key
    Multi-Line: [a, b]
  no-url:
    name: nothing to fetch
--b--
EOF2

kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "boot ends degraded: one repository has no URL (exit $rc)"
diag "$T/boot.log" | grep -iE 'yum|warn|error' | head

D=$ROOT/etc/yum.repos.d
check "the first line is cloud-init's, with an RFC 2822 date" \
	grep -qE '^# Created by cloud-init on [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} \+0000$' "$D/cloud-init-daily.repo"
cat >"$T/daily.expected" <<'EOF2'
[cloud-init-daily]
name = Copr repo for cloud-init-dev owned by @cloud-init
baseurl = https://download.copr.fedorainfracloud.org/results/@cloud-init/cloud-init-dev/epel-8-$basearch/
type = rpm-md
skip_if_unavailable = 1
gpgcheck = 1
gpgkey = https://download.copr.fedorainfracloud.org/results/@cloud-init/cloud-init-dev/pubkey.gpg
enabled_metadata = 1

EOF2
check "cloud-init-daily.repo as ConfigParser writes it (booleans 1/0)" diff <(tail -n +2 "$D/cloud-init-daily.repo") "$T/daily.expected"
printf '[my-package-stream]\nbaseurl = http://blah.org/pub/epel/testing/5/$basearch/\nmirrorlist = http://some-url-to-list-of-baseurls\nrepo_gpgcheck = 1\nenable_gpgcheck = 1\ngpgkey = https://url.to.ascii-armored-gpg-key\nmulti_line = a\n\tb\n\n' >"$T/stream.expected"
check "a space in the id is '-'; keys lowercased with '_'; a list one item a line, tab-indented" \
	diff <(tail -n +2 "$D/my-package-stream.repo") "$T/stream.expected"
check "an existing file is left alone, as cloud-init leaves it" grep -qx mine "$D/epel-testing.repo"
check "a repository without baseurl/metalink/mirrorlist is not written" test ! -e "$D/no-url.repo"
check "the skipped repository is named" grep -q 'no-url has none of baseurl' "$T/boot.log"
check "mode 0644" test "$(stat -c %a "$D/cloud-init-daily.repo")" = 644

# Debian: cloud-init does not run the module there.
rm -rf "$D"
printf 'ID=debian\n' >"$ROOT/etc/os-release"
imds_data '{"instance-id": "i-0000000000000yum2"}'
kiln boot >"$T/boot2.log" 2>&1
check "on Debian nothing is written" test ! -e "$D"
check "... and it says why" grep -q 'not a yum/dnf distribution' "$T/boot2.log"
done_testing
