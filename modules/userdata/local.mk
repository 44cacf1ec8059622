libkiln_a_SOURCES += \
	modules/userdata/userdata.h \
	modules/userdata/decode.c \
	modules/userdata/userdata-module.c
