libkiln_a_SOURCES += \
	modules/cloudwatch/cloudwatch-module.c
