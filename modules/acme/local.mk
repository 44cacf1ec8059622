libkiln_a_SOURCES += \
	modules/acme/acme.h \
	modules/acme/acme-module.c
