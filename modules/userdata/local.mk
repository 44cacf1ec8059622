libkiln_a_SOURCES += \
	modules/userdata/userdata.h \
	modules/userdata/mime.h \
	modules/userdata/mime.c \
	modules/userdata/decode.c \
	modules/userdata/cloud-config.c \
	modules/userdata/validate.c \
	modules/userdata/userdata-module.c
