libkiln_a_SOURCES += \
	modules/cloudwatch/metric.c modules/cloudwatch/metric-parse.c modules/cloudwatch/metric.h \
	modules/cloudwatch/spool.c modules/cloudwatch/spool.h \
	modules/cloudwatch/putmetric.c modules/cloudwatch/putmetric.h \
	modules/cloudwatch/collect.c modules/cloudwatch/collect.h \
	modules/cloudwatch/settings.c modules/cloudwatch/cloudwatch.h \
	modules/cloudwatch/commands.c \
	modules/cloudwatch/cloudwatch-module.c \
	modules/cloudwatch/logs.h modules/cloudwatch/logs-batch.c modules/cloudwatch/logs-spool.c \
	modules/cloudwatch/logs.c

TESTS += \
	tests/fakes/test-fake-cloudwatch.sh
TESTS += \
	tests/e2e/cloudwatch-sigv4.sh \
	tests/e2e/cloudwatch-push.sh \
	tests/e2e/cloudwatch-outage.sh \
	tests/e2e/cloudwatch-creds.sh \
	tests/e2e/cloudwatch-skew.sh \
	tests/e2e/cloudwatch-enospc.sh \
	tests/e2e/cloudwatch-dims.sh \
	tests/e2e/logs-ship.sh \
	tests/e2e/logs-sources.sh

check_PROGRAMS += tests/unit/test-cloudwatch
tests_unit_test_cloudwatch_SOURCES = tests/unit/test-cloudwatch.c tests/unit/tap.h tests/unit/fake.h tests/unit/fake.c
tests_unit_test_cloudwatch_LDADD = $(TEST_UNIT_LDADD)

check_PROGRAMS += tests/unit/test-logs
tests_unit_test_logs_SOURCES = tests/unit/test-logs.c tests/unit/tap.h
tests_unit_test_logs_LDADD = $(TEST_UNIT_LDADD)

EXTRA_DIST += \
	tests/e2e/cloudwatch-lib.bash tests/e2e/cloudwatch-sigv4.py \
	tests/e2e/logs-lib.bash tests/e2e/logs-moto.py tests/fakes/fault-proxy.py \
	tests/data/metrics/incoming.json tests/data/metrics/count-infinite.json \
	tests/data/fuzz
