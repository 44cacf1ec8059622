libkiln_a_SOURCES += \
	modules/lifecycle/lifecycle.h \
	modules/lifecycle/autoscaling.c modules/lifecycle/autoscaling.h \
	modules/lifecycle/events.c modules/lifecycle/events.h \
	modules/lifecycle/lifecycle-module.c

TESTS += \
	tests/e2e/lifecycle-hooks.sh \
	tests/e2e/lifecycle-spot.sh \
	tests/e2e/lifecycle-more.sh

EXTRA_DIST += \
	tests/e2e/lifecycle-lib.bash tests/e2e/lifecycle-asg.py tests/fakes/moto-lifecycle.py

check_PROGRAMS += tests/unit/test-lifecycle
tests_unit_test_lifecycle_SOURCES = tests/unit/test-lifecycle.c tests/unit/tap.h
tests_unit_test_lifecycle_LDADD = $(TEST_UNIT_LDADD)
