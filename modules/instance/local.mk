libkiln_a_SOURCES += \
	modules/instance/instance.h \
	modules/instance/hostkeys.c \
	modules/instance/instance-module.c

TESTS += tests/e2e/instance-hostkeys.sh
EXTRA_DIST += tests/e2e/instance-hostkeys.sh
