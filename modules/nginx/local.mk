libkiln_a_SOURCES += \
	modules/nginx/nginx-module.c
