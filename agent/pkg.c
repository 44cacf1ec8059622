/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "log.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "strbuf.h"

#define PKG_ATTEMPTS 3
#define PKG_TIMEOUT_MS (20L * 60 * 1000)

static const char *const search_path[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                          "/usr/bin",        "/sbin",          "/bin"};

bool pkg_have_program(const char *name, char **ret_path) {
        for (size_t i = 0; i < ELEMENTSOF(search_path); i++) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", search_path[i], name);
                if (p && access(p, X_OK) == 0) {
                        if (ret_path)
                                *ret_path = TAKE_PTR(p);
                        return true;
                }
        }
        return false;
}

enum pkg_manager pkg_detect(void) {
        if (pkg_have_program("apt-get", NULL))
                return PKG_APT;
        if (pkg_have_program("dnf", NULL))
                return PKG_DNF;
        if (pkg_have_program("yum", NULL))
                return PKG_YUM;
        return PKG_NONE;
}

const char *pkg_manager_name(enum pkg_manager m) {
        static const char *const names[] = {
                [PKG_NONE] = "none", [PKG_APT] = "apt-get", [PKG_DNF] = "dnf", [PKG_YUM] = "yum"};
        return names[m];
}

static char *const pkg_env[] = {
        (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        (char *) "DEBIAN_FRONTEND=noninteractive",
        (char *) "LANG=C.UTF-8",
        NULL,
};

/* Runs argv with retries; 0 when it exited 0. */
static int run_with_retries(char **argv) {
        struct proc_options o = {.argv = argv, .envp = pkg_env, .log_name = argv[0], .timeout_ms = PKG_TIMEOUT_MS};
        int r = -EIO;

        for (unsigned attempt = 1; attempt <= PKG_ATTEMPTS; attempt++) {
                struct proc_result res;
                r = proc_run(&o, &res);
                if (r < 0)
                        return r;
                r = res.exit_code == 0 ? 0 : -EIO;
                proc_result_done(&res);
                if (r == 0)
                        return 0;
                if (attempt < PKG_ATTEMPTS) {
                        struct timespec ts = {attempt * 5, 0};
                        log_warning("%s failed (attempt %u of %u), retrying in %ld s.", argv[0], attempt, PKG_ATTEMPTS,
                                    (long) ts.tv_sec);
                        kiln_keepalive();
                        nanosleep(&ts, NULL);
                }
        }
        return r;
}

/* argv = [tool, fixed args..., names...]; tool resolved on PATH, or the
 * KILN_PKG_COMMAND override prepended when testing under --root (only
 * there: root_test_hook()). */
static int run_pkg(const char *const *fixed, char *const *names) {
        const char *override = root_test_hook("KILN_PKG_COMMAND");
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *tool = NULL;
        int r = 0;

        if (override)
                r = strv_push(&argv, override);
        else if (!streq(root_get(), "/"))
                return -EROFS;
        else if (!pkg_have_program(fixed[0], &tool))
                return -ENOENT;
        else
                r = strv_push(&argv, tool);
        if (override && r >= 0)
                r = strv_push(&argv, fixed[0]);
        for (size_t i = 1; r >= 0 && fixed[i]; i++)
                r = strv_push(&argv, fixed[i]);
        for (size_t i = 0; r >= 0 && names && names[i]; i++)
                r = strv_push(&argv, names[i]);
        if (r < 0)
                return r;
        return run_with_retries(argv);
}

int pkg_update(void) {
        static const char *const apt[] = {"apt-get", "-q", "update", NULL};
        static const char *const dnf[] = {"dnf", "-q", "makecache", NULL};
        static const char *const yum[] = {"yum", "-q", "makecache", NULL};

        switch (pkg_detect()) {
        case PKG_APT: return run_pkg(apt, NULL);
        case PKG_DNF: return run_pkg(dnf, NULL);
        case PKG_YUM: return run_pkg(yum, NULL);
        case PKG_NONE: break;
        }
        return -ENOENT;
}

int pkg_upgrade(void) {
        /* cloud-init's package_upgrade on Debian and Ubuntu is dist-upgrade
         * (its apt_get_upgrade_subcommand default): new dependencies come
         * in, as kernel and security updates need. */
        static const char *const apt[] = {"apt-get",      "-q", "-y", "-o", "Dpkg::Options::=--force-confold",
                                          "dist-upgrade", NULL};
        static const char *const dnf[] = {"dnf", "-q", "-y", "upgrade", NULL};
        static const char *const yum[] = {"yum", "-q", "-y", "update", NULL};

        switch (pkg_detect()) {
        case PKG_APT: return run_pkg(apt, NULL);
        case PKG_DNF: return run_pkg(dnf, NULL);
        case PKG_YUM: return run_pkg(yum, NULL);
        case PKG_NONE: break;
        }
        return -ENOENT;
}

int pkg_install(char *const *names) {
        static const char *const apt[] = {"apt-get", "-q", "-y", "-o", "Dpkg::Options::=--force-confold",
                                          "install", NULL};
        static const char *const dnf[] = {"dnf", "-q", "-y", "install", NULL};
        static const char *const yum[] = {"yum", "-q", "-y", "install", NULL};

        if (!names || !names[0])
                return 0;
        switch (pkg_detect()) {
        case PKG_APT: return run_pkg(apt, names);
        case PKG_DNF: return run_pkg(dnf, names);
        case PKG_YUM: return run_pkg(yum, names);
        case PKG_NONE: break;
        }
        return -ENOENT;
}
