libkiln_a_SOURCES += \
	modules/aws/aws.c modules/aws/aws.h \
	modules/aws/xml.c \
	modules/aws/sigv4.c modules/aws/sigv4.h \
	modules/aws/credentials.c modules/aws/credentials.h \
	modules/aws/route53.c modules/aws/route53.h \
	modules/aws/s3.c modules/aws/s3.h \
	modules/aws/commands.c modules/aws/commands.h

check_PROGRAMS += tests/unit/test-aws
tests_unit_test_aws_SOURCES = tests/unit/test-aws.c tests/unit/tap.h tests/unit/fake.h tests/unit/fake.c
tests_unit_test_aws_LDADD = $(TEST_UNIT_LDADD)

check_PROGRAMS += tests/unit/test-route53
tests_unit_test_route53_SOURCES = tests/unit/test-route53.c tests/unit/tap.h
tests_unit_test_route53_LDADD = $(TEST_UNIT_LDADD)

EXTRA_DIST += \
	tests/data/fuzz/fuzz-route53/zones.xml tests/data/fuzz/fuzz-route53/error.xml

# The AWS test harness: moto with IAM auth (tests/e2e/aws-lib.bash).
TESTS += tests/fakes/test-moto-harness.sh
EXTRA_DIST += \
	tests/e2e/aws-lib.bash tests/fakes/moto-server.py tests/fakes/aws-admin.py \
	tests/fakes/r53-bridge.py tests/fakes/test-moto-harness.sh

TESTS += tests/e2e/aws-s3.sh
EXTRA_DIST += tests/fakes/s3-redirect.py
