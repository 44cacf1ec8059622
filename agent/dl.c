/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dl.h"
#include "log.h"

int dl_load(const char *soname, const struct dl_symbol *symbols, size_t n, void *table, void **ret_handle,
            const char **ret_error) {
        static char error[512];
        void *dl;

        dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
                snprintf(error, sizeof(error), "Failed to load %s: %s", soname, dlerror());
                *ret_error = error;
                return -ENOPKG;
        }
        for (size_t i = 0; i < n; i++) {
                void *f = dlsym(dl, symbols[i].name);
                if (!f) {
                        snprintf(error, sizeof(error), "%s has no %s", soname, symbols[i].name);
                        *ret_error = error;
                        dlclose(dl);
                        return -ENOPKG;
                }
                memcpy((char *) table + symbols[i].offset, &f, sizeof(f));
        }
        *ret_handle = dl;
        return 0;
}

void dl_load_failed(const char *error) {
        log_error("%s.", error);
        abort();
}
