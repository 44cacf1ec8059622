libkiln_a_SOURCES += \
	modules/acme/acme.h \
	modules/acme/acme-internal.h \
	modules/acme/acme-module.c \
	modules/acme/client.c \
	modules/acme/order.c \
	modules/acme/cert.c \
	modules/acme/ari.c \
	modules/acme/store.c \
	modules/acme/renew.c \
	modules/acme/commands.c \
	modules/acme/deploy.c

check_PROGRAMS += tests/unit/test-acme
tests_unit_test_acme_SOURCES = tests/unit/test-acme.c tests/unit/tap.h
tests_unit_test_acme_LDADD = $(TEST_UNIT_LDADD)

TESTS += \
	tests/e2e/acme-issue.sh \
	tests/e2e/acme-fail.sh \
	tests/e2e/acme-renew.sh \
	tests/e2e/acme-eab.sh
