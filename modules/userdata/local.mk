libkiln_a_SOURCES += \
	modules/userdata/userdata.h \
	modules/userdata/mime.h \
	modules/userdata/mime.c \
	modules/userdata/jinja.h \
	modules/userdata/jinja.c \
	modules/userdata/instance-data.c \
	modules/userdata/decode.c \
	modules/userdata/cloud-config.c \
	modules/userdata/merge.c \
	modules/userdata/ignored.c \
	modules/userdata/distros.c \
	modules/userdata/module-lists.c \
	modules/userdata/validate.c \
	modules/userdata/userdata-module.c

TESTS += \
	tests/e2e/userdata-cloud-config.sh \
	tests/e2e/userdata-mime.sh \
	tests/e2e/userdata-launch-index.sh \
	tests/e2e/userdata-include.sh \
	tests/e2e/userdata-validate.sh \
	tests/e2e/userdata-golden.sh \
	tests/e2e/userdata-merge.sh \
	tests/e2e/userdata-jinja.sh
EXTRA_DIST += tests/e2e/userdata-jinja.sh

# libFuzzer targets (MIME splitter, YAML config loader, cloud-config
# mapping), built with clang and run a few seconds each: tests/fuzz/check.sh,
# in TESTS from Makefile.am (the slow tests go first).
EXTRA_DIST += tests/fuzz

# kiln validate on cloud-init's documentation examples (not run by make check)
EXTRA_DIST += bench/cloudinit-examples

# the jinja subset against jinja2 (test-userdata)
EXTRA_DIST += tests/data/userdata/jinja/cases.txt tests/data/userdata/jinja/expected.py \
	tests/data/userdata/jinja/expected.json

check_PROGRAMS += tests/unit/test-userdata
tests_unit_test_userdata_SOURCES = tests/unit/test-userdata.c tests/unit/tap.h
tests_unit_test_userdata_LDADD = $(TEST_UNIT_LDADD)
