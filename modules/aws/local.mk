libkiln_a_SOURCES += \
	modules/aws/aws.c modules/aws/aws.h \
	modules/aws/xml.c \
	modules/aws/sigv4.c modules/aws/sigv4.h \
	modules/aws/credentials.c modules/aws/credentials.h \
	modules/aws/route53.c modules/aws/route53.h

check_PROGRAMS += tests/unit/test-aws
tests_unit_test_aws_SOURCES = tests/unit/test-aws.c tests/unit/tap.h tests/unit/fake.h tests/unit/fake.c
tests_unit_test_aws_LDADD = $(TEST_UNIT_LDADD)

check_PROGRAMS += tests/unit/test-route53
tests_unit_test_route53_SOURCES = tests/unit/test-route53.c tests/unit/tap.h
tests_unit_test_route53_LDADD = $(TEST_UNIT_LDADD)

EXTRA_DIST += \
	tests/data/fuzz/fuzz-route53/zones.xml tests/data/fuzz/fuzz-route53/error.xml
