libkiln_a_SOURCES += \
	modules/acme/acme-module.c
