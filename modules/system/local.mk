libkiln_a_SOURCES += \
	modules/system/system.h \
	modules/system/plan.c \
	modules/system/validate.c \
	modules/system/host.c \
	modules/system/users.c \
	modules/system/files.c \
	modules/system/passwords.c \
	modules/system/root-keys.c \
	modules/system/groups.c \
	modules/system/power.c \
	modules/system/validate-keys.c \
	modules/system/system-module.c

TESTS += tests/e2e/users-attack.sh tests/e2e/files-crash.sh tests/e2e/cloud-config-keys.sh
EXTRA_DIST += tests/e2e/users-attack.sh tests/e2e/files-crash.sh tests/e2e/cloud-config-keys.sh tests/e2e/kill-after.c
