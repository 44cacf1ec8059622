libkiln_a_SOURCES += \
	modules/scripts/scripts.h \
	modules/scripts/scripts-module.c
