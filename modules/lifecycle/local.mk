libkiln_a_SOURCES += \
	modules/lifecycle/lifecycle.h \
	modules/lifecycle/autoscaling.c modules/lifecycle/autoscaling.h \
	modules/lifecycle/events.c modules/lifecycle/events.h \
	modules/lifecycle/lifecycle-module.c

TESTS += \
	tests/e2e/lifecycle-hooks.sh \
	tests/e2e/lifecycle-spot.sh

EXTRA_DIST += \
	tests/e2e/lifecycle-lib.bash tests/e2e/lifecycle-asg.py tests/fakes/moto-lifecycle.py
