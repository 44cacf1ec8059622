libkiln_a_SOURCES += \
	modules/imds/imds.c modules/imds/imds.h \
	modules/imds/imds-module.c
