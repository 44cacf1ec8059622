/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "fileio.h"
#include "log.h"
#include "nginx/control.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "strbuf.h"

#define NGINX_CONF "/etc/nginx/nginx.conf"
#define NGINX_PID_FILE "/run/nginx.pid"
#define TEST_TIMEOUT_MS (60L * 1000)
#define SYSTEMCTL_TIMEOUT_MS (90L * 1000)
#define MAX_CHILDREN 512
#define VERSION_CACHE KILN_RUN_DIR "/nginx-version"

/* A kernel without IPv6 (ipv6.disable=1, or built without it) has no
 * if_inet6 and refuses AF_INET6 sockets: nginx could not listen on [::]. */
static bool have_ipv6(void) {
        return access("/proc/net/if_inet6", F_OK) == 0;
}

int nginx_settings_load(const json_t *config, struct nginx_settings *ret) {
        struct nginx_settings s = {
                .http_port = (int) config_int(config, "nginx.http_port", 80),
                .https_port = (int) config_int(config, "nginx.https_port", 443),
                .status_port = (int) config_int(config, "nginx.status_port", 0),
                .install = config_bool(config, "nginx.install", true),
                .ipv6 = config_bool(config, "nginx.ipv6", have_ipv6()),
                .reload_timeout_ms = (long) (config_number(config, "nginx.reload_timeout", 10) * 1000),
        };
        const char *binary = config_string(config, "nginx.binary", NULL);
        int r;

        if (binary && !(s.binary_config = strdup(binary)))
                return -ENOMEM;
        r = root_path(&s.conf, "%s", config_string(config, "nginx.conf", NGINX_CONF));
        if (r >= 0)
                r = root_path(&s.pid_file, "%s", config_string(config, "nginx.pid_file", NGINX_PID_FILE));
        if (r < 0) {
                nginx_settings_done(&s);
                return r;
        }
        if (s.reload_timeout_ms <= 0)
                s.reload_timeout_ms = 10000;
        *ret = s;
        return 0;
}

void nginx_settings_done(struct nginx_settings *s) {
        free(s->binary_config);
        free(s->binary);
        free(s->conf);
        free(s->pid_file);
        *s = (struct nginx_settings){0};
}

static bool under_systemd(void) {
        return streq(root_get(), "/") && access("/run/systemd/system", F_OK) == 0 &&
               pkg_have_program("systemctl", NULL);
}

/* `systemctl enable --now nginx`: nginx started by systemd runs in its own
 * unit, not in kiln's cgroup, and starts again at the next boot. */
static int systemctl_enable_now(void) {
        char *argv[] = {NULL, (char *) "enable", (char *) "--now", (char *) "nginx", NULL};
        _cleanup_free_ char *path = NULL;

        if (!pkg_have_program("systemctl", &path))
                return -ENOENT;
        argv[0] = path;
        return proc_run_simple(argv, SYSTEMCTL_TIMEOUT_MS);
}

static int find_binary(const struct nginx_settings *s, char **ret) {
        if (s->binary_config) {
                if (access(s->binary_config, X_OK) < 0)
                        return -ENOENT;
                *ret = strdup(s->binary_config);
                return *ret ? 0 : -ENOMEM;
        }
        return pkg_have_program("nginx", ret) ? 0 : -ENOENT;
}

int nginx_find(struct kiln_context *ctx, struct nginx_settings *s) {
        char *const names[] = {(char *) "nginx", NULL};
        int r;

        if (s->binary)
                return 0;
        if (find_binary(s, &s->binary) >= 0)
                return 0;
        if (!s->install)
                return kiln_fail(ctx, -ENOENT, "nginx is not installed and nginx.install is false.");
        log_info("nginx is not installed, installing it with %s.", pkg_manager_name(pkg_detect()));
        r = pkg_install(names);
        if (r == -EROFS)
                return kiln_fail(ctx, r, "nginx is not installed, and packages are not installed under --root %s.",
                                 root_get());
        if (r < 0)
                return kiln_fail(ctx, r, "nginx is not installed and installing it failed: %s", strerror(-r));
        if (find_binary(s, &s->binary) < 0)
                return kiln_fail(ctx, -ENOENT, "nginx was installed but %s is not there.",
                                 s->binary_config ? s->binary_config : "an nginx program");
        if (under_systemd() && systemctl_enable_now() < 0)
                log_warning("Failed to enable and start nginx with systemctl, ignoring.");
        return 0;
}

/* "nginx version: nginx/1.25.1" -> 1025001. */
static long parse_version(const char *out) {
        const char *p = strstr(out, "nginx/");
        long major = 0, minor = 0, patch = 0;
        char *end;

        if (!p)
                return -1;
        major = strtol(p + 6, &end, 10);
        if (*end == '.')
                minor = strtol(end + 1, &end, 10);
        if (*end == '.')
                patch = strtol(end + 1, &end, 10);
        return major * 1000000 + minor * 1000 + patch;
}

static bool any_tls(const struct nginx_sites *sites) {
        for (size_t i = 0; i < sites->n; i++)
                if (sites->sites[i].tls != SITE_TLS_NONE)
                        return true;
        return false;
}

/* The binary as a file: a package upgrade or a copy over it changes one of
 * these, so a version recorded with them is still the binary's. */
static int binary_identity(const char *binary, char **ret) {
        struct stat st;

        if (stat(binary, &st) < 0)
                return negative_errno();
        *ret = strdup_printf("%llu %llu %lld %lld.%09ld %lld.%09ld %s", (unsigned long long) st.st_dev,
                             (unsigned long long) st.st_ino, (long long) st.st_size, (long long) st.st_mtim.tv_sec,
                             st.st_mtim.tv_nsec, (long long) st.st_ctim.tv_sec, st.st_ctim.tv_nsec, binary);
        return *ret ? 0 : -ENOMEM;
}

/* VERSION_CACHE holds "VERSION IDENTITY\n" for the last binary asked. */
static long cached_version(const char *path, const char *identity) {
        _cleanup_free_ char *buf = NULL;
        char *end;
        long v;

        if (read_file(path, 4096, &buf, NULL) < 0)
                return -1;
        v = strtol(buf, &end, 10);
        if (end == buf || *end != ' ' || v <= 0 || strncmp(end + 1, identity, strlen(identity)) != 0 ||
            !streq(end + 1 + strlen(identity), "\n"))
                return -1;
        return v;
}

/* nginx's version, as 1025001 for 1.25.1. `nginx -v` costs a spawn of nginx
 * (about 1.5 ms), so its answer is kept in the program and, for the next
 * kiln run, in VERSION_CACHE (under /run: gone at reboot) with the binary's
 * identity: while the binary stays the same file, nginx is not asked. */
static int nginx_version(const char *binary, long *ret) {
        static char *known_identity;
        static long known;
        char *argv[] = {(char *) binary, (char *) "-v", NULL};
        struct proc_options o = {.argv = argv, .quiet = true, .timeout_ms = TEST_TIMEOUT_MS};
        _cleanup_free_ char *identity = NULL, *cache = NULL, *line = NULL;
        struct proc_result res;
        long v;
        int r;

        r = binary_identity(binary, &identity);
        if (r < 0)
                return r;
        if (known_identity && streq(known_identity, identity)) {
                *ret = known;
                return 0;
        }
        r = root_path(&cache, VERSION_CACHE);
        if (r < 0)
                return r;
        v = cached_version(cache, identity);
        if (v < 0) {
                r = proc_run(&o, &res);
                if (r < 0)
                        return r;
                v = parse_version(res.output);
                if (v <= 0)
                        log_warning("nginx: '%s -v' printed no version ('%.200s'), taking it for one before 1.25.1.",
                                    binary, strstrip(res.output));
                proc_result_done(&res);
                if (v <= 0)
                        return -EPROTO;
                line = strdup_printf("%ld %s\n", v, identity);
                if (!line || (r = write_file_atomic(cache, line, strlen(line), 0644)) < 0)
                        log_debug_errno(line ? r : -ENOMEM, "Failed to write %s, ignoring: %m", cache);
        }
        free(known_identity);
        known_identity = TAKE_PTR(identity);
        known = v;
        *ret = v;
        return 0;
}

/* Asked only when a TLS server will be rendered: the directive is in no
 * other. An nginx whose -v says no version is taken to be older. */
int nginx_has_http2_directive(const struct nginx_settings *s, const struct nginx_sites *sites) {
        long v = 0;
        int r;

        if (!any_tls(sites))
                return 0;
        r = nginx_version(s->binary, &v);
        if (r == -EPROTO)
                return 0;
        return r < 0 ? r : v >= 1025001;
}

int nginx_test(const struct nginx_settings *s, const char *conf, char **ret_output, long *ret_ms) {
        char *argv[] = {s->binary, (char *) "-t", (char *) "-q", (char *) "-c", (char *) conf, NULL};
        struct proc_options o = {.argv = argv, .quiet = true, .timeout_ms = TEST_TIMEOUT_MS};
        struct proc_result res;
        int r;

        r = proc_run(&o, &res);
        if (r < 0)
                return r;
        *ret_ms = res.duration_ms;
        if (res.exit_code == 0 && !res.timed_out) {
                proc_result_done(&res);
                return 0;
        }
        *ret_output = res.timed_out ? strdup("nginx -t timed out") : TAKE_PTR(res.output);
        proc_result_done(&res);
        return *ret_output ? -EINVAL : -ENOMEM;
}

/* --- the running master --- */

/* pidfds (Linux 5.3, 5.1 for the signal): a pid names whichever process
 * has it now; a pidfd names the process it was opened for, so a check made
 * through /proc after opening it, and a signal sent through it, cannot
 * reach a process that took the pid since. -1 where the kernel has none. */
static int pidfd_open_pid(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0); /* close-on-exec always */
}

static int signal_master(pid_t pid, int pidfd, int sig) {
        if (pidfd >= 0)
                return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? negative_errno() : 0;
        return kill(pid, sig) < 0 ? negative_errno() : 0;
}

/* Whether a program file is a "#!" script: a wrapper around nginx. */
static bool is_script(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        char head[2];

        return fd >= 0 && read(fd, head, 2) == 2 && head[0] == '#' && head[1] == '!';
}

/* Whether process pid runs binary: the same file (device and inode) as
 * /proc/PID/exe; or the file that was at binary's path when it started,
 * since replaced by a package upgrade (the link then reads "PATH
 * (deleted)"). A wrapper script never is a process's program: then the
 * program must be a file named nginx. */
static bool runs_binary(pid_t pid, const char *binary, char **ret_why) {
        _cleanup_free_ char *link = strdup_printf("/proc/%d/exe", (int) pid), *real = NULL;
        char target[PATH_MAX];
        struct stat a, b;
        const char *base;
        ssize_t n;

        if (!link)
                return false;
        if (stat(binary, &b) == 0 && stat(link, &a) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                return true;
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0) {
                *ret_why = strdup_printf("its program cannot be read: %s", strerror(errno));
                return false;
        }
        target[n] = 0;
        if (n > 10 && streq(target + n - 10, " (deleted)")) {
                target[n - 10] = 0;
                real = realpath(binary, NULL);
                if (real && streq(real, target))
                        return true;
        }
        base = strrchr(target, '/');
        if (is_script(binary) && base && streq(base + 1, "nginx"))
                return true;
        *ret_why = strdup_printf("it runs %s, not %s", target, binary);
        return false;
}

/* Whether process pid is an nginx master started from binary. */
static bool is_nginx_master(pid_t pid, const char *binary, char **ret_why) {
        _cleanup_free_ char *path = strdup_printf("/proc/%d/cmdline", (int) pid), *buf = NULL;
        size_t len;

        if (!path || read_file(path, 4096, &buf, &len) < 0) {
                *ret_why = strdup("it is gone");
                return false;
        }
        /* nginx writes its title over its arguments. */
        if (len < 21 || !strneq(buf, "nginx: master process", 21)) {
                for (size_t i = 0; i + 1 < len; i++)
                        if (buf[i] == 0)
                                buf[i] = ' ';
                *ret_why = strdup_printf("its command line is '%.80s'", buf);
                return false;
        }
        return runs_binary(pid, binary, ret_why);
}

/* The nginx master the pid file names: its pid, with a pidfd for it in
 * *ret_pidfd (-1 on kernels without). 0 when there is none: no pid file, a
 * dead pid, or a live process that is not that master (a stale pid file
 * whose pid was taken again), which must never be signalled; warn says
 * whether to log that. */
static pid_t open_master(const struct nginx_settings *s, bool warn, int *ret_pidfd) {
        _cleanup_free_ char *buf = NULL, *why = NULL;
        _cleanup_close_ int pidfd = -1;
        int pid;

        *ret_pidfd = -1;
        if (read_file(s->pid_file, 64, &buf, NULL) < 0 || safe_atoi(strstrip(buf), &pid) < 0 || pid <= 1)
                return 0;
        pidfd = pidfd_open_pid(pid);
        if (pidfd < 0 && errno == ESRCH)
                return 0;
        /* No pidfd (ENOSYS before 5.3): the checks below, and kill(). */
        if (pidfd < 0 && kill(pid, 0) < 0 && errno == ESRCH)
                return 0;
        if (!s->binary || !is_nginx_master(pid, s->binary, &why)) {
                if (warn)
                        log_warning("nginx: %s names pid %d, which is not the nginx master (%s): not signalling "
                                    "it, taking nginx for not running.",
                                    s->pid_file, pid, why ? why : "no nginx program known");
                return 0;
        }
        /* /proc/PID was read after the pidfd was opened: if the process the
         * pidfd names still lives, /proc/PID was that process. */
        if (signal_master(pid, pidfd, 0) == -ESRCH)
                return 0;
        *ret_pidfd = TAKE_FD(pidfd);
        return (pid_t) pid;
}

struct pids {
        pid_t p[MAX_CHILDREN];
        size_t n;
};

static bool pids_has(const struct pids *l, pid_t pid) {
        for (size_t i = 0; i < l->n; i++)
                if (l->p[i] == pid)
                        return true;
        return false;
}

/* The parent of a process, from /proc/PID/stat ("pid (comm) state ppid"). */
static pid_t parent_of(const char *pid) {
        _cleanup_free_ char *path = strdup_printf("/proc/%s/stat", pid), *buf = NULL;
        char *close;
        int ppid;

        if (!path || read_file(path, 4096, &buf, NULL) < 0)
                return 0;
        close = strrchr(buf, ')');
        if (!close || strlen(close) < 4)
                return 0;
        close[4 + strcspn(close + 4, " ")] = 0;
        return safe_atoi(close + 4, &ppid) < 0 ? 0 : (pid_t) ppid;
}

/* From /proc/PID/task/PID/children: one read rather than a scan of /proc. */
static int children_from_task(pid_t master, struct pids *ret) {
        _cleanup_free_ char *path = strdup_printf("/proc/%d/task/%d/children", (int) master, (int) master);
        _cleanup_free_ char *buf = NULL;
        char *p, *end;

        if (!path)
                return -ENOMEM;
        if (read_file(path, 65536, &buf, NULL) < 0)
                return -ENOENT;
        ret->n = 0;
        for (p = buf; *p && ret->n < MAX_CHILDREN; p = end) {
                long pid = strtol(p, &end, 10);
                if (end == p)
                        break;
                ret->p[ret->n++] = (pid_t) pid;
        }
        return 0;
}

/* The master's children: workers, cache manager and loader. */
static int children_of(pid_t master, struct pids *ret) {
        DIR *d;

        if (children_from_task(master, ret) >= 0)
                return 0;
        /* Kernels without CONFIG_PROC_CHILDREN: every process's parent. */
        d = opendir("/proc");
        struct dirent *e;

        if (!d)
                return negative_errno();
        ret->n = 0;
        while ((e = readdir(d)) && ret->n < MAX_CHILDREN) {
                int pid;
                if (safe_atoi(e->d_name, &pid) < 0)
                        continue;
                if (parent_of(e->d_name) == master)
                        ret->p[ret->n++] = pid;
        }
        closedir(d);
        return 0;
}

/* Whether an old worker may still accept connections: nginx renames a
 * worker "worker process is shutting down" when it closes its listening
 * sockets, in the same turn of its loop. */
static bool still_serving(pid_t pid) {
        _cleanup_free_ char *path = strdup_printf("/proc/%d/cmdline", (int) pid), *buf = NULL;
        size_t len;

        if (!path || read_file(path, 4096, &buf, &len) < 0)
                return false; /* gone */
        for (size_t i = 0; i < len; i++)
                if (buf[i] == 0)
                        buf[i] = ' ';
        return strstr(buf, "worker process") && !strstr(buf, "shutting down");
}

static bool any_still_serving(const struct pids *old) {
        for (size_t i = 0; i < old->n; i++)
                if (still_serving(old->p[i]))
                        return true;
        return false;
}

static bool any_new(const struct pids *before, const struct pids *now) {
        for (size_t i = 0; i < now->n; i++)
                if (!pids_has(before, now->p[i]))
                        return true;
        return false;
}

/* A pidfd for each old worker that still serves, in fds: poll() on them
 * sleeps until one exits. Returns how many were opened; kernels before 5.3
 * have none, and the wait then falls back to a timer. */
static size_t watch_exits(const struct pids *old, struct pollfd *fds) {
        size_t n = 0;

        for (size_t i = 0; i < old->n; i++) {
                int fd;
                if (!still_serving(old->p[i]))
                        continue;
                fd = (int) syscall(SYS_pidfd_open, old->p[i], 0);
                if (fd >= 0)
                        fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        }
        return n;
}

/* Sleeps until an old worker exits or ms pass; the exited ones are
 * dropped, since their pidfds stay readable. */
static void wait_exits(struct pollfd *fds, size_t *n, long ms) {
        size_t kept = 0;

        if (poll(fds, *n, (int) (ms < 0 ? 0 : ms)) <= 0)
                return;
        for (size_t i = 0; i < *n; i++)
                if (fds[i].revents)
                        close(fds[i].fd);
                else
                        fds[kept++] = fds[i];
        *n = kept;
}

/* A reload took when the master runs new worker processes (on a config it
 * cannot load it logs the error and keeps its old ones) and the old ones
 * no longer accept connections: from then on only the new config answers. */
static int wait_new_workers(pid_t master, int pidfd, const struct pids *before, long load_ms, long timeout_ms,
                            char **ret_error) {
        long deadline = now_ms() + timeout_ms;
        struct pollfd exits[MAX_CHILDREN];
        size_t n_exits = 0;
        long nap = 100;
        bool started = false;
        struct pids now;
        int r = -ETIMEDOUT;

        /* No new worker comes before the master has loaded the config:
         * three quarters of nginx -t's time leaves room for it being
         * faster. */
        if (load_ms > 0 && load_ms * 3 / 4 < timeout_ms)
                sleep_ms(load_ms * 3 / 4);
        do {
                if (signal_master(master, pidfd, 0) == -ESRCH) {
                        r = -ESRCH;
                        break;
                }
                if (!started && children_of(master, &now) >= 0 && any_new(before, &now)) {
                        started = true;
                        n_exits = watch_exits(before, exits);
                }
                if (started && !any_still_serving(before)) {
                        r = 0;
                        break;
                }
                /* New workers come within milliseconds. The old ones are told
                 * to stop about 100 ms later (the master sleeps that long in
                 * between), and an idle one exits as it stops serving: so
                 * that wait sleeps until an exit, at first for as long as
                 * the master's pause, then looking at the names every 25 ms
                 * for a busy worker that lingers to finish its requests. */
                if (n_exits > 0) {
                        long left = deadline - now_ms();
                        wait_exits(exits, &n_exits, left < nap ? left : nap);
                        nap = 25;
                } else
                        sleep_ms(started ? 10 : 5);
        } while (now_ms() < deadline);
        for (size_t i = 0; i < n_exits; i++)
                close(exits[i].fd);
        if (r == -ESRCH)
                *ret_error = strdup_printf("the nginx master (pid %d) exited", (int) master);
        else if (r == -ETIMEDOUT)
                *ret_error =
                        started ? strdup_printf("nginx's old workers still accept connections after %ld ms", timeout_ms)
                                : strdup_printf("nginx kept its old configuration: no new worker processes "
                                                "within %ld ms (see nginx's error log)",
                                                timeout_ms);
        return r;
}

static int wait_started(const struct nginx_settings *s, char **ret_error) {
        long deadline = now_ms() + s->reload_timeout_ms;

        do {
                int pidfd;
                if (open_master(s, false, &pidfd) > 0) {
                        close(pidfd);
                        return 0;
                }
                sleep_ms(20);
        } while (now_ms() < deadline);
        *ret_error = strdup_printf("nginx did not start: %s names no nginx master", s->pid_file);
        return -ETIMEDOUT;
}

static int start_master(const struct nginx_settings *s, char **ret_error) {
        char *argv[] = {s->binary, (char *) "-c", s->conf, NULL};
        struct proc_options o = {.argv = argv, .quiet = true, .timeout_ms = TEST_TIMEOUT_MS};
        struct proc_result res = {0};
        int r;

        log_info("nginx is not running, starting it.");
        if (under_systemd())
                r = systemctl_enable_now();
        else {
                /* nginx forks its master into the background and exits. */
                r = proc_run(&o, &res);
                if (r >= 0 && res.exit_code != 0) {
                        *ret_error = strdup_printf("nginx failed to start: %s", strstrip(res.output));
                        r = -EIO;
                }
                proc_result_done(&res);
        }
        if (r < 0) {
                if (!*ret_error)
                        *ret_error = strdup_printf("nginx failed to start: %s", strerror(-r));
                return r;
        }
        return wait_started(s, ret_error);
}

static int check_port(int port, char **ret_error) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                int r = negative_errno();
                *ret_error = strdup_printf("nginx does not answer on port %d: %s", port, strerror(-r));
                return r;
        }
        return 0;
}

int nginx_reload_and_verify(const struct nginx_settings *s, bool check_http, long load_ms, char **ret_error) {
        _cleanup_close_ int pidfd = -1;
        pid_t master = open_master(s, true, &pidfd);
        struct pids before = {.n = 0};
        int r;

        *ret_error = NULL;
        if (master <= 0) {
                /* A new master is seen only in its pid file: the port
                 * answering shows it took the config. A reload needs no
                 * such look, since a master that cannot load the config,
                 * or bind its ports, keeps its old workers. */
                r = start_master(s, ret_error);
                if (r >= 0 && check_http)
                        r = check_port(s->http_port, ret_error);
        } else {
                /* SIGHUP is all nginx.service's ExecReload does (Debian's and
                 * Amazon Linux's run `nginx -s reload`, which sends it to the
                 * pid file's master), so a running master is signalled
                 * directly, under systemd too: no systemctl process and D-Bus
                 * round trip for each apply, and the wait below checks that
                 * the reload took either way. */
                r = children_of(master, &before);
                if (r >= 0)
                        r = signal_master(master, pidfd, SIGHUP);
                if (r < 0)
                        *ret_error = strdup_printf("failed to reload nginx: %s", strerror(-r));
                else
                        r = wait_new_workers(master, pidfd, &before, load_ms, s->reload_timeout_ms, ret_error);
        }
        return r;
}

/* Sleeps until the master exits or the deadline passes: poll() on its
 * pidfd, or a look every 20 ms without one. */
static bool wait_master_gone(pid_t master, int pidfd, long deadline) {
        while (now_ms() < deadline) {
                long left = deadline - now_ms();
                if (pidfd >= 0) {
                        struct pollfd p = {.fd = pidfd, .events = POLLIN};
                        if (poll(&p, 1, (int) (left > 1000 ? 1000 : left)) > 0)
                                return true;
                } else if (kill(master, 0) < 0 && errno == ESRCH)
                        return true;
                else
                        sleep_ms(left < 20 ? left : 20);
        }
        return signal_master(master, pidfd, 0) == -ESRCH;
}

int nginx_graceful_stop(struct nginx_settings *s, long timeout_ms, char **ret_error) {
        _cleanup_close_ int pidfd = -1;
        pid_t master;
        int r;

        *ret_error = NULL;
        if (!s->binary && find_binary(s, &s->binary) < 0)
                return 0;
        master = open_master(s, true, &pidfd);
        if (master <= 0)
                return 0;
        /* SIGQUIT, as nginx.service's ExecStop (start-stop-daemon --retry
         * QUIT/5): the listening sockets close at once, the requests in
         * flight finish, then the workers and the master exit. */
        r = signal_master(master, pidfd, SIGQUIT);
        if (r < 0) {
                *ret_error =
                        strdup_printf("failed to signal the nginx master (pid %d): %s", (int) master, strerror(-r));
                return r;
        }
        if (!wait_master_gone(master, pidfd, now_ms() + timeout_ms)) {
                *ret_error = strdup_printf("the nginx master (pid %d) still runs %ld ms after SIGQUIT", (int) master,
                                           timeout_ms);
                return -ETIMEDOUT;
        }
        return 1;
}
