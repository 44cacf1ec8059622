#!/bin/bash
# apt.debconf_selections, ppa:/add_apt_repo_match sources and grub_dpkg,
# under --root on a Debian root, with the real tools: debconf-set-selections
# into a private debconf database (DEBCONF_SYSTEMRC: this machine's own is
# never touched), checked with debconf-get-selections; dpkg-query against
# the root's dpkg status; add-apt-repository writing under the root
# (APT_CONFIG). dpkg-reconfigure, grub-probe and udevadm are recorded or
# faked. All through KILN_SYSTEM_COMMAND.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

for t in debconf-set-selections debconf-get-selections dpkg-query add-apt-repository; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t is not installed (dev/deps)"; exit 0; }
done
make_root "$ROOT"
printf 'ID=debian\nVERSION_CODENAME=bookworm\n' >"$ROOT/etc/os-release"
make_pkg_recorder "$T/pkg" "$T/pkg.log"
export KILN_PKG_COMMAND=$T/pkg
mkdir -p "$ROOT/etc/apt/sources.list.d" "$ROOT/etc/apt/apt.conf.d" "$ROOT/etc/apt/trusted.gpg.d" \
	"$ROOT/var/lib/dpkg" "$ROOT/etc/cloud/cloud.cfg.d" "$T/debconf" "$ROOT/dev"
: >"$ROOT/etc/apt/sources.list"
# installed: cloud-init and openssh-server (held); not installed: the-package
cat >"$ROOT/var/lib/dpkg/status" <<'EOF'
Package: cloud-init
Status: install ok installed
Architecture: all
Version: 22.4.2-1

Package: openssh-server
Status: hold ok installed
Architecture: amd64
Version: 1:9.2p1-2

Package: the-package
Status: deinstall ok config-files
Architecture: all
Version: 1.0

EOF
printf 'datasource_list: [ NoCloud ]\n' >"$ROOT/etc/cloud/cloud.cfg.d/90_dpkg.cfg"
printf 'keep: me\n' >"$ROOT/etc/cloud/cloud.cfg.d/10_other.cfg"
cat >"$T/debconf.conf" <<EOF
Config: configdb
Templates: templatedb

Name: configdb
Driver: File
Filename: $T/debconf/config.dat

Name: templatedb
Driver: File
Mode: 644
Filename: $T/debconf/templates.dat
EOF
printf 'Dir "%s/";\n' "$ROOT" >"$T/apt.conf"
: >"$T/grub-probe.out"
cat >"$T/tool" <<EOF
#!/bin/bash
printf '%s\n' "\$*" >>"$T/tools.log"
case "\$1" in
debconf-set-selections) tee -a "$T/selections.in" | DEBCONF_SYSTEMRC="$T/debconf.conf" "\$@" ;;
dpkg-query) shift; exec dpkg-query --admindir="$ROOT/var/lib/dpkg" "\$@" ;;
add-apt-repository) exec env APT_CONFIG="$T/apt.conf" timeout 60 "\$@" </dev/null ;;
dpkg-reconfigure) exit 0 ;;
grub-probe) [ -s "$T/grub-probe.out" ] || { echo "grub-probe: error: failed to get canonical path of \\\`overlay'." >&2; exit 1; }
	cat "$T/grub-probe.out" ;;
udevadm) echo "/dev/disk/by-path/pci-0000:00:04.0-nvme-1 /dev/disk/by-id/nvme-nvme.1d0f-766f6c-Amazon /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123" ;;
*) exit 127 ;;
esac
EOF
chmod +x "$T/tool"
export KILN_SYSTEM_COMMAND=$T/tool
get_sel() { DEBCONF_SYSTEMRC="$T/debconf.conf" debconf-get-selections 2>/dev/null | grep -v '^#'; }
start_ec2 imds

# 1. debconf_selections (cloud-init's schema example, plus cloud-init's own
# question and a held package), a ppa: source (Launchpad is unreachable
# here: it fails) and a plain source after it, which still applies.
user_data <<'EOF2'
#cloud-config
apt:
  debconf_selections:
    set2: |
      openssh-server openssh-server/permit-root-login boolean false
      # a comment line
      cloud-init cloud-init/datasources multiselect Ec2
    set1: the-package the-package/some-flag boolean true
  sources:
    a-ppa:
      source: ppa:kiln-test/does-not-exist
    plain:
      source: deb http://example.com/debian $RELEASE main
EOF2
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a ppa: that add-apt-repository cannot add makes the boot degraded, not failed (exit $rc)"
diag "$T/boot.log" | grep -iE 'apt|debconf|warn|error' | head -20
check "the selections are in the debconf database (debconf-get-selections)" \
	diff <(get_sel | sort) <(printf 'cloud-init\tcloud-init/datasources\tmultiselect\tEc2\nopenssh-server\topenssh-server/permit-root-login\tboolean\tfalse\nthe-package\tthe-package/some-flag\tboolean\ttrue\n')
check "... fed in the order of the sets' sorted names, newline-joined, newline-ended" diff "$T/selections.in" \
	<(printf 'the-package the-package/some-flag boolean true\nopenssh-server openssh-server/permit-root-login boolean false\n# a comment line\ncloud-init cloud-init/datasources multiselect Ec2\n')
check "debconf-set-selections ran before add-apt-repository" \
	awk '/^debconf-set-selections/ {d=NR} /^add-apt-repository/ {a=NR} END {exit !(d && a && d < a)}' "$T/tools.log"
check "installed cloud-init is reconfigured as cloud-init does it" grep -qx 'dpkg-reconfigure --frontend=noninteractive cloud-init' "$T/tools.log"
check "... after its dpkg config files are removed" test ! -e "$ROOT/etc/cloud/cloud.cfg.d/90_dpkg.cfg"
check "... and only those" test -e "$ROOT/etc/cloud/cloud.cfg.d/10_other.cfg"
check "an installed package cloud-init cannot unconfigure gets a warning, not a reconfigure" \
	grep -q 'cannot be unconfigured.*openssh-server' "$T/boot.log"
check "... a package not installed is neither" sh -c "! grep -q 'the-package' '$T/boot.log' && ! grep -q 'reconfigure.*openssh' '$T/tools.log'"
check "the ppa: went to add-apt-repository --no-update" grep -qx 'add-apt-repository --no-update ppa:kiln-test/does-not-exist' "$T/tools.log"
check "its failure names the source" grep -q "a-ppa: add-apt-repository --no-update 'ppa:kiln-test/does-not-exist' failed" "$T/boot.log"
check "the plain source after it is written" diff "$ROOT/etc/apt/sources.list.d/plain.list" \
	<(printf 'deb http://example.com/debian bookworm main\n')
check "apt-get update still ran" grep -qx 'apt-get -q update' "$T/pkg.log"
check "kiln status records the failure" grep -q '"source": *"ppa:kiln-test/does-not-exist"' "$ROOT/run/kiln/status.json"

# 2. add_apt_repo_match sending a full deb line to add-apt-repository:
# it works without the network.
imds_data '{"instance-id": "i-000000000000deb2"}'
: >"$T/tools.log"
user_data <<'EOF2'
#cloud-config
apt:
  add_apt_repo_match: '^deb\s'
  sources:
    viaaar:
      source: deb http://127.0.0.1:9/debian $RELEASE main
    ppa-not-matched:
      source: ppa:x/y
      filename: ppa.list
EOF2
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "add-apt-repository with a deb line: boot is done (exit $rc)"
diag "$T/boot2.log" | grep -iE 'apt|warn|error' | head
check "add-apt-repository ran with the rendered line" grep -qx 'add-apt-repository --no-update deb http://127.0.0.1:9/debian bookworm main' "$T/tools.log"
check "... which made its file under the root" test -e "$ROOT/etc/apt/sources.list.d/archive_uri-http_127_0_0_1_9_debian-bookworm.list"
check "no .list of kiln's own for it" test ! -e "$ROOT/etc/apt/sources.list.d/viaaar.list"
check "a source the custom match does not take is written as a line" diff "$ROOT/etc/apt/sources.list.d/ppa.list" <(printf 'ppa:x/y\n')
check "no debconf-set-selections without debconf_selections" sh -c "! grep -q debconf '$T/tools.log'"

# 3. grub_dpkg: the docs example, then probing.
imds_data '{"instance-id": "i-000000000000grb1"}'
: >"$T/tools.log"
user_data <<'EOF2'
#cloud-config
grub_dpkg:
  enabled: true
  grub-pc/install_devices: /dev/sda
  grub-pc/install_devices_empty: false
EOF2
kiln boot >"$T/boot3.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "grub_dpkg docs example: boot is done (exit $rc)"
check "install_devices and install_devices_empty in debconf" \
	sh -c "$(declare -f get_sel); T='$T'; get_sel | grep -qx 'grub-pc	grub-pc/install_devices	string	/dev/sda' && get_sel | grep -qx 'grub-pc	grub-pc/install_devices_empty	boolean	false'"
check "no probing when the device is given" sh -c "! grep -q grub-probe '$T/tools.log'"

imds_data '{"instance-id": "i-000000000000grb2"}'
: >"$T/tools.log"
echo /dev/nvme0n1 >"$T/grub-probe.out"
: >"$ROOT/dev/nvme0n1"
user_data <<'EOF2'
#cloud-config
grub-dpkg: {}
EOF2
kiln boot >"$T/boot4.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "grub-dpkg probing: boot is done (exit $rc)"
diag "$T/boot4.log" | grep -iE 'grub|warn|error' | head
check "grub-probe -t disk /boot, then udevadm for its links" \
	diff "$T/tools.log" <(printf 'grub-probe -t disk /boot\nudevadm info --root --query=symlink /dev/nvme0n1\ndebconf-set-selections\n')
check "the first /dev/disk/by-id link (sorted) is the install device" \
	sh -c "$(declare -f get_sel); T='$T'; get_sel | grep -qx 'grub-pc	grub-pc/install_devices	string	/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123' && get_sel | grep -qx 'grub-pc	grub-pc/install_devices_empty	boolean	false'"
kiln boot >"$T/boot4b.log" 2>&1
check "once per instance" sh -c "[ \$(grep -c grub-probe '$T/tools.log') -eq 1 ]"

imds_data '{"instance-id": "i-000000000000grb3"}'
: >"$T/tools.log"
: >"$T/grub-probe.out"
user_data <<'EOF2'
#cloud-config
grub_dpkg:
  grub-pc/install_devices_empty: "yes"
EOF2
kiln boot >"$T/boot5.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "grub-probe cannot see /boot (a container): boot is done (exit $rc)"
check "an empty device, install_devices_empty from the string yes" \
	sh -c "$(declare -f get_sel); T='$T'; get_sel | grep -qx 'grub-pc	grub-pc/install_devices	string	' && get_sel | grep -qx 'grub-pc	grub-pc/install_devices_empty	boolean	true'"

imds_data '{"instance-id": "i-000000000000grb4"}'
: >"$T/tools.log"
user_data <<'EOF2'
#cloud-config
grub_dpkg:
  enabled: "off"
EOF2
kiln boot >"$T/boot6.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "grub_dpkg enabled: off: boot is done (exit $rc)"
check "nothing run" test ! -s "$T/tools.log"

# 4. debconf-set-selections failing (a malformed line) is reported, the rest of apt applies
imds_data '{"instance-id": "i-000000000000dcf3"}'
user_data <<'EOF2'
#cloud-config
apt:
  debconf_selections:
    bad: "justoneword"
  conf: |
    APT::Get::Assume-Yes "true";
EOF2
kiln boot >"$T/boot7.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a selection debconf-set-selections refuses: degraded (exit $rc)"
diag "$T/boot7.log" | grep -iE 'debconf|apt' | head -5
check "... naming debconf_selections" grep -q 'apt: debconf_selections: debconf-set-selections failed' "$T/boot7.log"
check "... and the rest of apt still applied" test -s "$ROOT/etc/apt/apt.conf.d/94cloud-init-config"
# 5. primary without sources_list: on Debian, cloud-init's cloud.cfg makes
# preserve_sources_list true, so neither rewrites sources.list (done); on
# Ubuntu cloud-init would, kiln does not (degraded, said).
imds_data '{"instance-id": "i-000000000000prs1"}'
printf 'deb http://image/ bookworm main\n' >"$ROOT/etc/apt/sources.list"
user_data <<'EOF2'
#cloud-config
apt:
  primary:
    - arches: [default]
      uri: http://mirror.example.com/debian
EOF2
kiln boot >"$T/boot8.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "Debian, primary without sources_list or preserve_sources_list: done (exit $rc)"
check "... sources.list left as the image had it" diff "$ROOT/etc/apt/sources.list" <(printf 'deb http://image/ bookworm main\n')
imds_data '{"instance-id": "i-000000000000prs2"}'
printf 'ID=ubuntu\nVERSION_CODENAME=jammy\n' >"$ROOT/etc/os-release"
kiln boot >"$T/boot9.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "Ubuntu, the same: degraded, as cloud-init would rewrite sources.list (exit $rc)"
check "... saying so" grep -q "kiln does not rewrite sources.list from cloud-init's built-in template" "$T/boot9.log"
printf 'ID=debian\nVERSION_CODENAME=bookworm\n' >"$ROOT/etc/os-release"

# 6. kiln validate: the keys are known, bad values refused
cat >"$T/v1.yaml" <<'EOF2'
#cloud-config
apt:
  debconf_selections:
    set1: [not, a, string]
  add_apt_repo_match: '(?i)^ppa:'
grub_dpkg: /dev/sda
EOF2
kiln validate "$T/v1.yaml" >"$T/v1.out" 2>&1
rc=$?
ok $([ $rc -ne 0 ]; echo $?) "kiln validate refuses bad debconf_selections, add_apt_repo_match and grub_dpkg (exit $rc)"
check "... each named" sh -c "grep -q 'apt.debconf_selections.set1' '$T/v1.out' && grep -q 'add_apt_repo_match' '$T/v1.out' && grep -q \"'grub_dpkg' must be a map\" '$T/v1.out'"
printf '#cloud-config\ndebconf_selections:\n  set1: debconf debconf/priority select critical\n' >"$T/v2.yaml"
kiln validate "$T/v2.yaml" >"$T/v2.out" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "a top-level debconf_selections (cloud-init's old example) is valid (exit $rc)"
check "... accepted and ignored, as cloud-init 22.4 ignores it" grep -q "note: .*'debconf_selections' (cloud-init 22.4 reads only apt.debconf_selections" "$T/v2.out"
printf '#cloud-config\napt:\n  sources_list: |\n    deb $MIRROR $RELEASE main\n' >"$T/v3.yaml"
kiln validate "$T/v3.yaml" >"$T/v3.out" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "sources_list without preserve_sources_list is valid (exit $rc)"
check "... with a note on cloud-init's Debian difference" grep -q "note: kiln writes apt.sources_list; cloud-init on Debian ignores it" "$T/v3.out"
kiln validate --keys >"$T/keys.out" 2>&1
check "kiln validate --keys lists grub_dpkg and grub-dpkg" sh -c "grep -qw 'grub_dpkg' '$T/keys.out' && grep -qw 'grub-dpkg' '$T/keys.out'"
done_testing
