libkiln_a_SOURCES += \
	modules/instance/instance.h \
	modules/instance/hostkeys.c \
	modules/instance/growpart.c \
	modules/instance/mounts.c \
	modules/instance/instance-module.c

TESTS += tests/e2e/instance-hostkeys.sh tests/e2e/instance-growpart.sh tests/e2e/instance-mounts.sh
EXTRA_DIST += tests/e2e/instance-hostkeys.sh tests/e2e/instance-growpart.sh tests/e2e/instance-mounts.sh
