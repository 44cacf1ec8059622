libkiln_a_SOURCES += \
	modules/system/system.h \
	modules/system/plan.c \
	modules/system/validate.c \
	modules/system/host.c \
	modules/system/users.c \
	modules/system/files.c \
	modules/system/repos.c \
	modules/system/apt.c \
	modules/system/ca.c \
	modules/system/locale.c \
	modules/system/run.c \
	modules/system/authkey-fp.c \
	modules/system/ec2-metadata.c \
	modules/system/byobu.c \
	modules/system/cm-render.c \
	modules/system/puppet.c \
	modules/system/salt.c \
	modules/system/ansible.c \
	modules/system/ntp.c \
	modules/system/misc.c \
	modules/system/phone-home.c \
	modules/system/ssh-import-id.c \
	modules/system/output.c \
	modules/system/passwords.c \
	modules/system/root-keys.c \
	modules/system/groups.c \
	modules/system/power.c \
	modules/system/validate-keys.c \
	modules/system/system-module.c

TESTS += tests/e2e/users-attack.sh tests/e2e/files-crash.sh tests/e2e/yum-repos.sh tests/e2e/apt-sources.sh tests/e2e/ca-locale.sh tests/e2e/ntp.sh tests/e2e/ssh-keys.sh tests/e2e/phone-home.sh tests/e2e/ssh-import-id.sh tests/e2e/output.sh tests/e2e/cloud-config-keys.sh tests/e2e/apt-pipelining.sh tests/e2e/rsyslog.sh tests/e2e/random-seed.sh tests/e2e/resolv-conf.sh tests/e2e/keyboard.sh tests/e2e/apt-debconf.sh
EXTRA_DIST += tests/e2e/output.sh tests/e2e/ssh-import-id.sh tests/e2e/phone-home.sh tests/e2e/yum-repos.sh tests/e2e/apt-sources.sh tests/e2e/ca-locale.sh tests/e2e/ntp.sh tests/e2e/ssh-keys.sh tests/e2e/users-attack.sh tests/e2e/files-crash.sh tests/e2e/kill-after.c tests/e2e/cloud-config-keys.sh tests/e2e/apt-pipelining.sh tests/e2e/rsyslog.sh tests/e2e/random-seed.sh tests/e2e/resolv-conf.sh tests/e2e/keyboard.sh tests/e2e/apt-debconf.sh
TESTS += tests/e2e/ssh-authkey-fingerprints.sh
EXTRA_DIST += tests/e2e/ssh-authkey-fingerprints.sh
TESTS += tests/e2e/disable-ec2-metadata.sh
EXTRA_DIST += tests/e2e/disable-ec2-metadata.sh
TESTS += tests/e2e/byobu.sh
EXTRA_DIST += tests/e2e/byobu.sh

# The configuration-management keys' Python renderers against what
# cloud-init and PyYAML output (tests/unit/cm-gen.py made the expectations).
check_PROGRAMS += tests/unit/test-cm
tests_unit_test_cm_SOURCES = tests/unit/test-cm.c tests/unit/tap.h
tests_unit_test_cm_LDADD = $(TEST_UNIT_LDADD)
EXTRA_DIST += tests/unit/cm-gen.py
TESTS += tests/e2e/puppet.sh tests/e2e/salt-minion.sh
EXTRA_DIST += tests/e2e/puppet.sh tests/e2e/salt-minion.sh
EXTRA_DIST += tests/data/fuzz/fuzz-ini/debian-puppet.conf tests/data/fuzz/fuzz-ini/odd.conf \
	tests/data/fuzz/fuzz-ini/leak-error-then-duplicate.conf
TESTS += tests/e2e/ansible.sh
EXTRA_DIST += tests/e2e/ansible.sh
