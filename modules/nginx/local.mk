libkiln_a_SOURCES += \
	modules/nginx/nginx.h \
	modules/nginx/site.c modules/nginx/site.h \
	modules/nginx/render.c modules/nginx/render.h \
	modules/nginx/layout.c modules/nginx/layout.h \
	modules/nginx/control.c modules/nginx/control.h \
	modules/nginx/apply.c \
	modules/nginx/nginx-module.c

check_PROGRAMS += \
	tests/unit/test-nginx-site \
	tests/unit/test-nginx-render \
	tests/unit/test-nginx-layout
tests_unit_test_nginx_site_SOURCES = tests/unit/test-nginx-site.c tests/unit/tap.h
tests_unit_test_nginx_site_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_nginx_render_SOURCES = tests/unit/test-nginx-render.c tests/unit/tap.h
tests_unit_test_nginx_render_LDADD = $(TEST_UNIT_LDADD)
tests_unit_test_nginx_layout_SOURCES = tests/unit/test-nginx-layout.c tests/unit/tap.h
tests_unit_test_nginx_layout_LDADD = $(TEST_UNIT_LDADD)

TESTS += \
	tests/e2e/nginx-proxy.sh \
	tests/e2e/nginx-files.sh \
	tests/e2e/nginx-rollback.sh \
	tests/e2e/nginx-version.sh \
	tests/e2e/nginx-rhel.sh \
	tests/e2e/nginx-install.sh \
	tests/e2e/nginx-slash.sh \
	tests/e2e/nginx-signal.sh

EXTRA_DIST += \
	tests/local-ec2.d/nginx.sh \
	tests/e2e/nginx-lib.sh \
	tests/e2e/nginx-proxy.sh tests/e2e/nginx-files.sh tests/e2e/nginx-rollback.sh \
	tests/e2e/nginx-rhel.sh tests/e2e/nginx-install.sh tests/e2e/nginx-version.sh \
	tests/e2e/nginx-slash.sh tests/e2e/nginx-signal.sh \
	tests/data/nginx/upstream.py tests/data/nginx/ws-client.py \
	tests/data/nginx/tutorial.yaml tests/data/nginx/tutorial.conf \
	tests/data/nginx/tutorial-redirect.yaml tests/data/nginx/tutorial-redirect.conf \
	tests/data/nginx/features.yaml tests/data/nginx/features.conf \
	tests/data/nginx/plain.yaml tests/data/nginx/plain.conf \
	tests/data/nginx/common-status.yaml tests/data/nginx/common-status.conf \
	bench/nginx
