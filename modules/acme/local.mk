libkiln_a_SOURCES += \
	modules/acme/acme.h \
	modules/acme/acme-internal.h \
	modules/acme/acme-module.c \
	modules/acme/client.c \
	modules/acme/order.c \
	modules/acme/dns01.c \
	modules/acme/cert.c \
	modules/acme/ari.c \
	modules/acme/store.c \
	modules/acme/renew.c \
	modules/acme/fleet.c \
	modules/acme/commands.c \
	modules/acme/deploy.c

check_PROGRAMS += tests/unit/test-acme
tests_unit_test_acme_SOURCES = tests/unit/test-acme.c tests/unit/tap.h tests/unit/fake.h tests/unit/fake.c
tests_unit_test_acme_LDADD = $(TEST_UNIT_LDADD)

TESTS += \
	tests/e2e/acme-issue.sh \
	tests/e2e/acme-fail.sh \
	tests/e2e/acme-ca-down.sh \
	tests/e2e/acme-renew.sh \
	tests/e2e/acme-eab.sh \
	tests/e2e/acme-demo.sh \
	tests/e2e/acme-dns01.sh \
	tests/e2e/fleet-harness.sh \
	tests/e2e/acme-fleet.sh

EXTRA_DIST += \
	tests/local-ec2.d/pebble.sh tests/fakes/acme-faults.py tests/fakes/closing-server.py tests/fakes/r53-front.py \
	tests/data/acme/lib.sh tests/e2e/fleet-lib.bash tests/e2e/fleet-harness.sh \
	tests/data/acme/account-p256.key tests/data/acme/rsa2048.key tests/data/acme/ca.pem \
	tests/data/acme/leaf-high-serial.pem tests/data/acme/leaf-low-serial.pem \
	tests/data/acme/expected.json tests/data/acme/gen-expected.py \
	bench/acme
