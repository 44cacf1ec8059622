libkiln_a_SOURCES += \
	modules/aws/aws.c modules/aws/aws.h \
	modules/aws/xml.c \
	modules/aws/sigv4.c modules/aws/sigv4.h \
	modules/aws/credentials.c modules/aws/credentials.h \
	modules/aws/s3.c modules/aws/s3.h \
	modules/aws/commands.c modules/aws/commands.h

check_PROGRAMS += tests/unit/test-aws
tests_unit_test_aws_SOURCES = tests/unit/test-aws.c tests/unit/tap.h tests/unit/fake.h tests/unit/fake.c
tests_unit_test_aws_LDADD = $(TEST_UNIT_LDADD)

TESTS += tests/e2e/aws-s3.sh
EXTRA_DIST += tests/fakes/s3-redirect.py
