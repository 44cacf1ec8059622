# Unit tests (TAP, one program per unit of code) and end-to-end tests
# against the local EC2 (tests/local-ec2).

LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
TEST_EXTENSIONS = .sh
SH_LOG_DRIVER = $(LOG_DRIVER)
AM_TESTS_ENVIRONMENT = \
	KILN=$(abs_top_builddir)/kiln; export KILN; \
	top_srcdir=$(abs_top_srcdir); export top_srcdir; \
	top_builddir=$(abs_top_builddir); export top_builddir;

TEST_UNIT_LDADD = libkiln.a $(KILN_LIBS) $(OPENSSL_LIBS)

check_PROGRAMS += \
	tests/unit/test-strbuf \
	tests/unit/test-yaml \
	tests/unit/test-fileio \
	tests/unit/test-proc \
	tests/unit/test-http \
	tests/unit/test-imds \
	tests/unit/test-keys \
	tests/unit/test-sha256 \
	tests/unit/test-gzip \
	tests/unit/test-path \
	tests/unit/test-transient \
	tests/unit/test-console
tests_unit_test_strbuf_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_yaml_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_fileio_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_proc_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_http_LDADD = $(TEST_UNIT_LDADD)
# A send() that fails with EINTR on demand (tests/unit/test-http.c).
tests_unit_test_http_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=send
tests_unit_test_imds_LDADD = $(TEST_UNIT_LDADD)
# Its test_wipe() sees every free() and realloc() of kiln's code.
tests_unit_test_imds_LDFLAGS = -Wl,--wrap=free -Wl,--wrap=realloc
tests_unit_test_keys_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_keys_SOURCES = tests/unit/test-keys.c tests/unit/tap.h
tests_unit_test_sha256_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_sha256_SOURCES = tests/unit/test-sha256.c tests/unit/tap.h
tests_unit_test_gzip_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_gzip_SOURCES = tests/unit/test-gzip.c tests/unit/tap.h
tests_unit_test_path_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_path_SOURCES = tests/unit/test-path.c tests/unit/tap.h
tests_unit_test_transient_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_transient_SOURCES = tests/unit/test-transient.c tests/unit/tap.h
tests_unit_test_console_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_console_SOURCES = tests/unit/test-console.c tests/unit/tap.h
tests_unit_test_strbuf_SOURCES = tests/unit/test-strbuf.c tests/unit/tap.h
tests_unit_test_yaml_SOURCES = tests/unit/test-yaml.c tests/unit/tap.h
tests_unit_test_fileio_SOURCES = tests/unit/test-fileio.c tests/unit/tap.h
tests_unit_test_proc_SOURCES = tests/unit/test-proc.c tests/unit/tap.h
tests_unit_test_http_SOURCES = tests/unit/test-http.c tests/unit/tap.h tests/unit/fake.h tests/unit/fake.c
tests_unit_test_imds_SOURCES = tests/unit/test-imds.c tests/unit/tap.h tests/unit/fake.h tests/unit/fake.c

TESTS += $(check_PROGRAMS)

TESTS += \
	tests/fakes/test-fake-imds.sh \
	tests/e2e/boot.sh \
	tests/e2e/boot-stack.sh \
	tests/e2e/status-wait.sh \
	tests/e2e/status-secrets.sh \
	tests/e2e/status-owner.sh \
	tests/e2e/cli.sh \
	tests/e2e/unit.sh \
	tests/e2e/http-transports.sh \
	tests/e2e/libsystemd-lazy.sh
# tests/e2e/crash-points.sh is in TESTS from Makefile.am (slow tests first).

# Files, not folders: a folder in EXTRA_DIST is copied from the build tree
# when one of that name exists there, test logs and all.
EXTRA_DIST += \
	tests/lib.sh tests/pid.sh tests/local-ec2 \
	tests/local-ec2.d/imds.sh tests/local-ec2.d/cloudwatch.sh \
	tests/fakes/imds.py tests/fakes/cloudwatch.py \
	tests/fakes/test-fake-imds.sh tests/fakes/test-fake-cloudwatch.sh \
	tests/e2e/boot.sh tests/e2e/boot-stack.sh tests/e2e/status-wait.sh tests/e2e/status-secrets.sh tests/e2e/status-owner.sh \
	tests/e2e/cli.sh tests/e2e/unit.sh \
	tests/e2e/http-transports.sh tests/e2e/libsystemd-lazy.sh \
	tests/data/fuzz/http/chunked.http tests/data/fuzz/http/continue.http tests/data/fuzz/http/close.http \
	tests/data/fuzz/http/date.retry tests/data/fuzz/http/delta.retry tests/data/fuzz/http/rfc850.retry \
	tests/data/fuzz/http/asctime.retry tests/data/fuzz/http/ipv6.url \
	tests/data/fuzz/fuzz-aws-xml/s3-error.xml tests/data/fuzz/fuzz-aws-xml/route53-zones.xml \
	tests/data/fuzz/fuzz-aws-xml/query-error.xml \
	tests/e2e/crash-points.sh tests/e2e/crash-points.py tests/e2e/crash-shim.c tests/e2e/crash-run.c \
	bench/boot
