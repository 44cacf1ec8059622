libkiln_a_SOURCES += \
	modules/lifecycle/lifecycle.h \
	modules/lifecycle/autoscaling.c modules/lifecycle/autoscaling.h \
	modules/lifecycle/events.c modules/lifecycle/events.h \
	modules/lifecycle/lifecycle-module.c
