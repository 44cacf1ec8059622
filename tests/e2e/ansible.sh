#!/bin/bash
# ansible as cloud-init 22.4's cc_ansible, run for real: a git repository
# made here (file:// URL) holds a playbook; ansible-pull (Debian's
# ansible-core) clones it and runs it, and what the playbook writes (under
# HOME, which the command hook points into the test directory for root; the
# test user's home is there too) is checked, with the exact flags cloud-init
# builds. The commands go through KILN_SYSTEM_COMMAND, a wrapper that
# records them and runs them; packages through KILN_PKG_COMMAND (recorded,
# `ansible` put into the root as if installed). run_user: a user made here
# on this machine (su needs it), removed at the end. Errors: a missing
# playbook, a failing pull, cloud-init's own checks, the version check: the
# boot degraded, the key named, the other keys applied.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

command -v ansible-pull >/dev/null && command -v git >/dev/null || {
	echo "Bail out! ansible-pull (ansible-core) and git are needed: run dev/deps"
	exit 1
}
make_root "$ROOT"
chmod 755 "$T"
U=kilnans$$
mkdir -p "$T/home" "$T/roothome"
chmod 755 "$T/home"
useradd -m -d "$T/home/$U" -s /bin/bash "$U" || { echo "Bail out! useradd $U failed"; exit 1; }
trap 'userdel -r "$U" >/dev/null 2>&1; cleanup' EXIT
# git refuses a repository another user owns unless told
printf '[safe]\n\tdirectory = *\n' >"$T/home/$U/.gitconfig"
chown "$U" "$T/home/$U/.gitconfig"

# The repository: local.yml writes HOME/effect (whoami and a marker).
git init -q -b main "$T/repo"
cat >"$T/repo/local.yml" <<'EOF'
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: the effect
      ansible.builtin.copy:
        dest: "{{ lookup('env', 'HOME') }}/effect"
        content: "played by {{ lookup('pipe', 'id -un') }}\n"
EOF
git -C "$T/repo" add local.yml
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -q -m playbook
chmod -R a+rX "$T/repo"
REPO=file://$T/repo

# Records each command with its HOME and ANSIBLE_CONFIG, then runs it (for
# root with HOME in the test directory). $T/fake-pip: pip list shows no
# ansible and pip install is not run; $T/old: ansible-pull --version says 2.6.0.
cat >"$T/tool" <<EOF
#!/bin/bash
printf '%s\n' "\$*" >>"$T/calls"
printf 'HOME=%s ANSIBLE_CONFIG=%s\n' "\$HOME" "\${ANSIBLE_CONFIG-unset}" >>"$T/env"
if [ -e "$T/fake-pip" ]; then
	case "\$*" in
	*"pip list"*) echo "pip 23.0.1"; exit 0 ;;
	*"pip install"*) exit 0 ;;
	*"import pip"*) [ ! -e "$T/no-pip" ] || exit 1 ;;
	esac
fi
if [ -e "$T/old" ] && [ "\$*" = "ansible-pull --version" ]; then
	printf 'ansible-pull 2.6.0\n  config file = None\n'
	exit 0
fi
[ "\$1" = su ] || export HOME="$T/roothome"
exec "\$@"
EOF
chmod +x "$T/tool"
cat >"$T/pkg" <<EOF
#!/bin/sh
echo "\$*" >>"$T/pkgcalls"
case "\$*" in *install*) mkdir -p "$ROOT/usr/bin" && ln -sf /usr/bin/ansible "$ROOT/usr/bin/ansible" ;; esac
EOF
chmod +x "$T/pkg"
export KILN_SYSTEM_COMMAND=$T/tool KILN_PKG_COMMAND=$T/pkg
start_ec2 imds

n=0
new_instance() { # a new instance id, the user-data from stdin, fresh records
	n=$((n + 1))
	imds_data "{\"instance_id\": \"i-00000000000000a$(printf %02d $n)\"}"
	user_data
	rm -f "$T/calls" "$T/env" "$T/pkgcalls" "$T/roothome/effect" "$T/home/$U/effect"
}
boot() {
	kiln boot >"$T/boot.log" 2>&1
	rc=$?
}
degraded_by() { # the boot exited 2 and status.json names the problem
	[ $rc = 2 ] && grep -F -q "$1" "$ROOT/run/kiln/status.json"
}

# --- distro, the default package name, pull with flags in the given order ----
new_instance <<EOF
#cloud-config
ansible:
  pull:
    url: "$REPO"
    checkout: main
    accept_host_key: true
    full: false
    clean: true
    sleep: "0"
    playbook_name: local.yml
    diff: true
write_files:
  - path: /etc/after-ansible
    content: here
EOF
boot
ok $rc "distro pull: boot exits 0"
[ $rc = 0 ] || { diag "$T/boot.log"; diag "$T/calls"; }
check "distro: apt's index refreshed, then the default package (ansible) installed" \
	grep -qx "apt-get -q -y -o Dpkg::Options::=--force-confold install ansible" "$T/pkgcalls"
check "distro: the update first" test "$(head -n1 "$T/pkgcalls" | grep -c update)" = 1
check "ansible-pull --version asked first (cloud-init's version check)" \
	test "$(head -n1 "$T/calls")" = "ansible-pull --version"
check "ansible-pull with cloud-init's flags, in the order given, false left out, playbook last" \
	grep -qxF "ansible-pull --url=$REPO --checkout=main --accept-host-key --clean --sleep=0 --diff local.yml" "$T/calls"
check "run as root with HOME=/root (before the hook's HOME) and no ANSIBLE_CONFIG" \
	grep -qx "HOME=/root ANSIBLE_CONFIG=unset" "$T/env"
check "the playbook ran: its effect is there" grep -qx "played by root" "$T/roothome/effect"
check "the other keys applied" test -f "$ROOT/etc/after-ansible"

# Once per instance.
rm -f "$T/calls" "$T/roothome/effect"
boot
ok $rc "reboot exits 0"
check "reboot: nothing run again" test ! -e "$T/calls"

# --- package_name, run_user, ansible_config, galaxy, pull, setup_controller --
rm -f "$ROOT/usr/bin/ansible"
new_instance <<EOF
#cloud-config
ansible:
  install_method: distro
  package_name: ansible-core
  run_user: $U
  ansible_config: /etc/ansible/kiln-test.cfg
  galaxy:
    actions:
      - ["ansible-galaxy", "collection", "list"]
  pull:
    url: "$REPO"
    playbook_name: local.yml
  setup_controller:
    repositories:
      - path: $T/home/$U/clone
        source: "$REPO"
    run_ansible:
      - playbook_dir: $T/home/$U/clone
        playbook_name: local.yml
        connection: local
        inventory: localhost,
        forks: 1
        check: false
EOF
boot
ok $rc "run_user: boot exits 0"
[ $rc = 0 ] || { grep -v "kiln: ansible: " "$T/boot.log" | diag; diag "$T/calls"; }
check "package_name: ansible-core installed" grep -q "install ansible-core$" "$T/pkgcalls"
su_call() { printf 'su - %s -c %s' "$U" "$1"; }
cat >"$T/want" <<EOF
$(su_call "env PATH=\$PATH ansible-galaxy collection list")
$(su_call "env PATH=\$PATH ansible-pull --version")
$(su_call "env PATH=\$PATH ansible-pull --url=$REPO local.yml")
$(su_call "env PATH=\$PATH git clone $REPO $T/home/$U/clone")
$(su_call "cd $T/home/$U/clone && env PATH=\$PATH ansible-playbook local.yml --connection=local --inventory=localhost, --forks=1")
EOF
check "run_user: galaxy, version, pull, clone, playbook through su - USER -c, as cloud-init's do_as" \
	diff "$T/want" "$T/calls"
[ $? = 0 ] || diff "$T/want" "$T/calls" | diag
check "ANSIBLE_CONFIG set for the commands (su - drops it for the user, as under cloud-init)" \
	grep -q "ANSIBLE_CONFIG=/etc/ansible/kiln-test.cfg" "$T/env"
check "run_user: the playbooks ran as the user" grep -qx "played by $U" "$T/home/$U/effect"
check "run_user: the controller's clone is there" test -f "$T/home/$U/clone/local.yml"

# --- pip: for real, ansible already in pip list (Debian's ansible-core) -----
new_instance <<EOF
#cloud-config
ansible:
  install_method: pip
  package_name: ansible-core
  run_user: $U
  pull: {url: "$REPO", playbook_name: local.yml}
EOF
boot
ok $rc "pip, ansible already there: boot exits 0"
check "pip: pip list asked as the user, nothing installed" \
	test "$(head -n1 "$T/calls")" = "$(su_call "env PATH=\$PATH /usr/bin/python3 -m pip list")"
check "pip: no pip install" test "$(grep -c "pip install" "$T/calls")" = 0
check "pip: the pull ran as the user" grep -qx "played by $U" "$T/home/$U/effect"

# --- pip: the commands cloud-init runs (pip itself faked) ----------------------
: >"$T/fake-pip"
new_instance <<EOF
#cloud-config
ansible:
  install_method: pip
  package_name: ansible-core
  run_user: $U
EOF
boot
cat >"$T/want" <<EOF
$(su_call "env PATH=\$PATH /usr/bin/python3 -m pip list")
/usr/bin/python3 -c import pip
$(su_call "env PATH=\$PATH /usr/bin/python3 -m pip install --user --upgrade pip")
$(su_call "env PATH=\$PATH /usr/bin/python3 -m pip install --user ansible-core")
$(su_call "env PATH=\$PATH /usr/bin/python3 -m pip list")
EOF
check "pip, run_user: pip list, pip bootstrap check, pip upgraded and the package installed with --user" \
	diff "$T/want" "$T/calls"
[ $? = 0 ] || diff "$T/want" "$T/calls" | diag
check "pip: still not in pip list: 'not installed', degraded" degraded_by "ansible: command: ansible is not installed"
new_instance <<EOF
#cloud-config
ansible: {install_method: pip, package_name: ansible-core}
EOF
boot
check "pip without run_user: no --user" grep -qx "/usr/bin/python3 -m pip install ansible-core" "$T/calls"
: >"$T/no-pip"
new_instance <<EOF
#cloud-config
ansible: {install_method: pip, package_name: ansible-core}
EOF
boot
check "pip missing for python3: python3-pip installed first, as cloud-init" grep -q "install python3-pip$" "$T/pkgcalls"
check "... the probe itself is no failure" test "$(grep -c "import pip" "$ROOT/run/kiln/status.json")" = 0
rm -f "$T/no-pip"
rm -f "$T/fake-pip"

# --- errors ---------------------------------------------------------------------
new_instance <<EOF
#cloud-config
ansible:
  pull: {url: "$REPO", playbook_name: missing.yml}
  setup_controller:
    repositories: [{path: $T/never, source: "$REPO"}]
write_files:
  - path: /etc/still-written
    content: "yes"
EOF
boot
check "a missing playbook: the pull failed, the boot degraded, the key, the command and ansible's error named" \
	degraded_by "ansible: ansible-pull --url=$REPO missing.yml failed (exit 5): ERROR! Could not find a playbook to run."
check "a missing playbook: nothing after the failure (no clone)" test ! -e "$T/never"
check "a missing playbook: the other keys applied" test -f "$ROOT/etc/still-written"
grep -F "ansible:" "$T/boot.log" | diag

new_instance <<EOF
#cloud-config
ansible:
  pull: {url: "file://$T/no-such-repo", playbook_name: local.yml}
hostname: after-failure
EOF
boot
check "a repository that is not there: degraded, named" degraded_by "ansible: ansible-pull --url=file://$T/no-such-repo"
check "... the hostname still set" grep -qx after-failure "$ROOT/etc/hostname"

new_instance <<EOF
#cloud-config
ansible:
  pull: {url: "https://kilnuser:s3cret@127.0.0.1:1/x.git", playbook_name: local.yml}
EOF
boot
check "a URL's password: ansible-pull got it" grep -q "url=https://kilnuser:s3cret@127.0.0.1:1/x.git" "$T/calls"
check "... status names the failing pull with it masked" degraded_by "ansible-pull --url=https://***@127.0.0.1:1/x.git"
check "... and never shows it (status, the log with ansible's output)" test "$(cat "$T/boot.log" "$ROOT/run/kiln/status.json" | grep -c s3cret)" = 0

new_instance <<EOF
#cloud-config
ansible:
  setup_controller: {repositories: []}
EOF
boot
check "setup_controller without repositories or run_ansible: degraded before anything runs" \
	degraded_by "Missing required key from setup_controller"
check "... nothing run" test ! -e "$T/calls"

new_instance <<EOF
#cloud-config
ansible: {install_method: apt}
EOF
"$KILN" --root "$ROOT" validate --no-fetch "$EC2/user-data" >"$T/v.out" 2>&1
check "validate: a bad install_method named" grep -q "install_method is neither distro nor pip" "$T/v.out"
boot
check "a bad install_method: degraded, nothing run" degraded_by "install_method is neither distro nor pip"

new_instance <<EOF
#cloud-config
ansible:
  pull: {url: "$REPO"}
EOF
boot
check "pull without playbook_name: degraded as cloud-init's check" degraded_by "Missing required key 'pull/playbook_name'"

: >"$T/old"
new_instance <<EOF
#cloud-config
ansible:
  pull: {url: "$REPO", playbook_name: local.yml, diff: true}
EOF
boot
check "ansible before 2.7 with diff: refused, as cloud-init" degraded_by "does not support pull.diff"
check "... ansible-pull not run" test "$(grep -c . "$T/calls")" = 1
rm -f "$T/old"

# A module list without ansible: not run, as cloud-init.
new_instance <<EOF
#cloud-config
cloud_final_modules: [scripts-user]
ansible:
  pull: {url: "$REPO", playbook_name: local.yml}
EOF
boot
ok $rc "cloud_final_modules without ansible: boot exits 0"
check "... ansible not run" test ! -e "$T/calls"

# --- kiln validate: cloud-init's own examples --------------------------------
cat >"$T/ex.yaml" <<'EOF'
#cloud-config
ansible:
  package_name: ansible-core
  install_method: pip
  pull:
    url: "https://github.com/holmanb/vmboot.git"
    playbook_name: ubuntu.yml
EOF
"$KILN" --root "$ROOT" validate --no-fetch "$T/ex.yaml" >"$T/v.out" 2>&1
ok $? "validate: cloud-init's pip example is accepted" || diag "$T/v.out"
check "... with no warning" test -z "$(grep -i 'ansible' "$T/v.out")"
done_testing
