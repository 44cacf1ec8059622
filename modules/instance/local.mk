libkiln_a_SOURCES += \
	modules/instance/instance.h \
	modules/instance/hostkeys.c \
	modules/instance/growpart.c \
	modules/instance/mounts.c \
	modules/instance/disk.c \
	modules/instance/instance-module.c

TESTS += tests/e2e/ssh-quiet-keygen.sh
EXTRA_DIST += tests/e2e/ssh-quiet-keygen.sh
TESTS += tests/e2e/instance-hostkeys.sh tests/e2e/instance-growpart.sh tests/e2e/instance-mounts.sh tests/e2e/instance-mounts-imds.sh
EXTRA_DIST += tests/e2e/instance-hostkeys.sh tests/e2e/instance-growpart.sh tests/e2e/instance-mounts.sh tests/e2e/instance-mounts-imds.sh

check_PROGRAMS += tests/unit/test-instance
tests_unit_test_instance_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_instance_SOURCES = tests/unit/test-instance.c tests/unit/tap.h

TESTS += tests/e2e/instance-disks.sh
EXTRA_DIST += tests/e2e/instance-disks.sh
