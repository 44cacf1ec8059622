libkiln_a_SOURCES += \
	modules/userdata/userdata.h \
	modules/userdata/mime.h \
	modules/userdata/mime.c \
	modules/userdata/decode.c \
	modules/userdata/cloud-config.c \
	modules/userdata/validate.c \
	modules/userdata/userdata-module.c

TESTS += \
	tests/e2e/userdata-cloud-config.sh \
	tests/e2e/userdata-mime.sh \
	tests/e2e/userdata-include.sh \
	tests/e2e/userdata-validate.sh \
	tests/e2e/userdata-golden.sh
