/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the nginx renderer, checked against nginx itself.
 *
 * The input is a kiln config (YAML). Every config whose sites kiln accepts
 * (sites_parse() finds no problem) is rendered, as `kiln nginx apply`
 * would: each site, with a certificate when it has TLS, and kiln_common.
 * Rendering must not fail, and its text must be nginx syntax that no value
 * escaped from: closed quotes, balanced braces, every statement ended, and
 * no variable but the renderer's own; and no location may have the
 * off-by-slash (an alias or proxy path whose trailing '/' disagrees).
 *
 * The differential part: with FUZZ_NGINX=/path/to/nginx (and FUZZ_CERT,
 * FUZZ_KEY naming a certificate and key nginx can load), an accepted
 * config is also written with a main config into a scratch directory and
 * put through `nginx -t`. A config kiln accepts and nginx refuses is a
 * renderer (or validation) bug, and aborts with both shown. While fuzzing,
 * at most one such run each FUZZ_NGINX_MS milliseconds (default 100), so
 * the fuzzer keeps its speed; FUZZ_NGINX_ALL=1 runs nginx on every
 * accepted input: `fuzz-nginx-render -runs=0 CORPUS` then replays a whole
 * corpus. The process moves into a network namespace of its own first
 * (it must be root), so nginx looks no upstream name up on a real network:
 * "host not found in upstream" is the one refusal not blamed on kiln.
 * FUZZ_NGINX_HTTP2=1 when that nginx takes "http2 on;" (1.25.1 and later).
 * At exit the target prints how many configs it accepted and how many
 * nginx checked. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "nginx/control.h"
#include "nginx/render.h"
#include "nginx/site.h"
#include "path.h"
#include "strbuf.h"
#include "yaml-json.h"

#define THUMBPRINT "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"

extern char **environ;

static const char *nginx_bin, *cert_file, *key_file;
static char scratch[] = "/tmp/fuzz-nginx-render-XXXXXX";
static bool nginx_all, http2;
static long nginx_every_ms = 100, last_nginx_ms;
static unsigned long n_inputs, n_accepted, n_nginx, n_unresolved, n_renamed;

static long mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void report(void) {
        fprintf(stderr,
                "fuzz-nginx-render: %lu inputs, %lu accepted by kiln, %lu put through nginx -t (%lu upstream names "
                "made 127.0.0.1; %lu refused only for a name not found)\n",
                n_inputs, n_accepted, n_nginx, n_renamed, n_unresolved);
}

/* At a normal exit; after a refusal (abort) the directory stays, to look at. */
static void remove_scratch(void) {
        static const char *const files[] = {"nginx.conf", "sites.conf", "out", "error.log", "nginx.pid"};

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *path = strdup_printf("%s/%s", scratch, files[i]);
                if (path)
                        (void) unlink(path);
        }
        (void) rmdir(scratch);
}

static int put(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", dir, name);
        return path ? write_file_atomic(path, text, strlen(text), 0644) : -ENOMEM;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
        const char *every = getenv("FUZZ_NGINX_MS");
        _cleanup_free_ char *main_conf = NULL;

        (void) argc;
        (void) argv;
        root_set("/");
        atexit(report);
        nginx_bin = getenv("FUZZ_NGINX");
        cert_file = getenv("FUZZ_CERT");
        key_file = getenv("FUZZ_KEY");
        nginx_all = getenv("FUZZ_NGINX_ALL") && streq(getenv("FUZZ_NGINX_ALL"), "1");
        http2 = getenv("FUZZ_NGINX_HTTP2") && streq(getenv("FUZZ_NGINX_HTTP2"), "1");
        if (every)
                nginx_every_ms = atol(every);
        if (!nginx_bin || !*nginx_bin)
                return 0;
        if (!cert_file || !key_file) {
                fprintf(stderr, "fuzz-nginx-render: FUZZ_NGINX needs FUZZ_CERT and FUZZ_KEY\n");
                exit(1);
        }
        if (unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr,
                        "fuzz-nginx-render: cannot enter a network namespace of its own (%s): not running "
                        "nginx, whose upstream names would be looked up on the network\n",
                        strerror(errno));
                exit(1);
        }
        if (!mkdtemp(scratch)) {
                perror("mkdtemp");
                exit(1);
        }
        atexit(remove_scratch);
        main_conf = strdup_printf("pid %s/nginx.pid;\n"
                                  "error_log %s/error.log;\n"
                                  "events {\n    worker_connections 64;\n}\n"
                                  "http {\n    include %s/sites.conf;\n}\n",
                                  scratch, scratch, scratch);
        if (!main_conf || put(scratch, "nginx.conf", main_conf) < 0) {
                fprintf(stderr, "fuzz-nginx-render: cannot write into %s\n", scratch);
                exit(1);
        }
        fprintf(stderr, "fuzz-nginx-render: nginx -t with %s in %s, %s\n", nginx_bin, scratch,
                nginx_all ? "on every accepted input" : "sampled");
        return 0;
}

/* --- the syntax oracle --- */

/* "$" not followed by a name is literal to nginx (a regex's end). */
static bool known_variable(const char *s, size_t n) {
        static const char *const names[] = {"host",
                                            "request_uri",
                                            "remote_addr",
                                            "proxy_add_x_forwarded_for",
                                            "scheme",
                                            "http_upgrade",
                                            "kiln_connection_upgrade",
                                            "1",
                                            NULL};
        if (n == 0)
                return true;
        for (size_t i = 0; names[i]; i++)
                if (strlen(names[i]) == n && strneq(s, names[i], n))
                        return true;
        return false;
}

/* nginx's tokens as ngx_conf_read_token reads them, loosely: words,
 * "quoted" and 'quoted' strings with \ escapes, ';', '{', '}' and comments.
 * Returns NULL when the text is well formed, or what is wrong. */
static const char *syntax_problem(const char *s) {
        int depth = 0;
        size_t words = 0; /* in the statement being read */

        while (*s) {
                if (strchr(" \t\r\n", *s)) {
                        s++;
                        continue;
                }
                if (*s == '#') {
                        s += strcspn(s, "\n");
                        continue;
                }
                if (*s == ';') {
                        if (words == 0)
                                return "an empty statement";
                        words = 0;
                        s++;
                        continue;
                }
                if (*s == '{') {
                        if (words == 0)
                                return "a block without a directive";
                        depth++;
                        words = 0;
                        s++;
                        continue;
                }
                if (*s == '}') {
                        if (words != 0)
                                return "a statement not ended before '}'";
                        if (--depth < 0)
                                return "an unbalanced '}'";
                        s++;
                        continue;
                }
                if (*s == '"' || *s == '\'') {
                        char q = *s++;
                        while (*s && *s != q) {
                                if (*s == '$' &&
                                    !known_variable(s + 1, strspn(s + 1, "abcdefghijklmnopqrstuvwxyz_0123456789")))
                                        return "an unknown variable in a string";
                                s += (*s == '\\' && s[1]) ? 2 : 1;
                        }
                        if (!*s)
                                return "an unclosed quote";
                        s++;
                        if (*s && !strchr(" \t\r\n;{}", *s))
                                return "a quoted string followed by more of a word";
                } else {
                        while (*s && !strchr(" \t\r\n;{}\"'", *s)) {
                                if (*s == '$' &&
                                    !known_variable(s + 1, strspn(s + 1, "abcdefghijklmnopqrstuvwxyz_0123456789")))
                                        return "an unknown variable";
                                if (*s == '\\')
                                        return "a backslash outside quotes";
                                s++;
                        }
                        if (*s == '"' || *s == '\'')
                                return "a quote inside a word";
                }
                words++;
        }
        if (words != 0)
                return "a statement not ended at the end";
        return depth == 0 ? NULL : "an unclosed block";
}

/* The off-by-slash (docs/CONFIG.md): in each prefix location, an alias
 * ends in '/' as the location does, and a proxy_pass URL with a path ends
 * in '/' exactly when the location does. NULL when that holds. */
static const char *slash_problem(const char *text) {
        for (const char *p = strstr(text, "\n    location /"); p; p = strstr(p + 1, "\n    location /")) {
                const char *path = p + strlen("\n    location "), *body = strchr(path, '\n'), *next, *d;
                size_t n = strcspn(path, " ");
                bool loc_slash = n > 0 && path[n - 1] == '/';
                if (!body)
                        return "a location without a body";
                next = strstr(body, "\n    }");
                if ((d = strstr(body, "\n        alias ")) && (!next || d < next)) {
                        const char *end = strchr(d + 1, ';');
                        if (!loc_slash || !end || end[-1] != '/')
                                return "an alias whose location or directory does not end in '/'";
                }
                if ((d = strstr(body, "\n        proxy_pass http")) && (!next || d < next)) {
                        const char *url = strstr(d, "://"), *end = strchr(d + 1, ';');
                        const char *upath = url ? strchr(url + 3, '/') : NULL;
                        if (upath && end && upath < end && strneq(url + 3, "unix:", 5))
                                upath = NULL; /* the socket's path */
                        if (upath && end && upath < end && (end[-1] == '/') != loc_slash)
                                return "a proxy_pass path whose trailing '/' disagrees with its location's";
                }
        }
        return NULL;
}

/* --- nginx -t --- */

static int spawn_wait(char **argv, const char *out) {
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status, r;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* nginx resolves an upstream's name while loading the config, and nothing
 * resolves in the empty network namespace: each name after "proxy_pass
 * http(s)://" becomes 127.0.0.1. Only names: nginx takes any of them as
 * one to look up, while IP literals (which nginx parses) stay as rendered. */
static char *names_to_loopback(const char *text) {
        struct strbuf b = STRBUF_INIT;
        const char *p = text, *hit;

        while ((hit = strstr(p, "proxy_pass http"))) {
                const char *host = strstr(hit, "://");
                size_t n;
                char ip[64];
                struct in_addr a;
                if (!host)
                        break;
                host += 3;
                n = strcspn(host, ":/;");
                (void) strbuf_append(&b, p, (size_t) (host - p));
                p = host;
                if (host[0] == '[' || strneq(host, "unix:", 5))
                        continue;
                if (n < sizeof(ip)) {
                        memcpy(ip, host, n);
                        ip[n] = 0;
                        if (inet_pton(AF_INET, ip, &a) == 1)
                                continue;
                }
                (void) strbuf_puts(&b, "127.0.0.1");
                n_renamed++;
                p = host + n;
        }
        (void) strbuf_puts(&b, p);
        return strbuf_steal(&b);
}

static void nginx_check(const char *rendered) {
        _cleanup_free_ char *sites = names_to_loopback(rendered);
        _cleanup_free_ char *conf = strdup_printf("%s/nginx.conf", scratch), *out = strdup_printf("%s/out", scratch);
        _cleanup_free_ char *msg = NULL;
        char *argv[] = {(char *) nginx_bin, (char *) "-t", (char *) "-q", (char *) "-p", scratch,
                        (char *) "-e",      NULL,          (char *) "-c", conf,          NULL};
        _cleanup_free_ char *err = strdup_printf("%s/error.log", scratch);
        int rc;

        if (!conf || !out || !err || !sites)
                abort();
        argv[6] = err;
        if (put(scratch, "sites.conf", sites) < 0)
                abort();
        n_nginx++;
        rc = spawn_wait(argv, out);
        if (rc == 0)
                return;
        (void) read_file(out, 1 << 20, &msg, NULL);
        if (rc == 1 && msg && strstr(msg, "host not found in upstream")) {
                n_unresolved++;
                return;
        }
        fprintf(stderr,
                "\n=== kiln accepted and rendered this (upstream names made 127.0.0.1), nginx -t refused it (exit "
                "%d):\n%s\n=== nginx said:\n%s\n",
                rc, sites, msg ? msg : "(nothing)");
        abort();
}

/* --- one input --- */

static char *render_all(const struct nginx_sites *sites, const struct render_options *o, bool in_place) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        _cleanup_free_ char *common = NULL;

        for (size_t i = 0; i < sites->n; i++) {
                const struct nginx_site *s = &sites->sites[i];
                _cleanup_free_ char *text = NULL;
                struct site_cert c = {
                        .cert = (char *) (cert_file ? cert_file : "/etc/ssl/fuzz.pem"),
                        .key = (char *) (key_file ? key_file : "/etc/ssl/fuzz.key"),
                        .fingerprint = (char *) "0123456789abcdef0123456789abcdef",
                        .in_place = in_place || s->tls != SITE_TLS_ACME,
                };
                const char *problem;
                if (render_site(s, s->tls == SITE_TLS_NONE ? NULL : &c, o, &text) < 0) {
                        fprintf(stderr, "render_site() failed on an accepted site '%s'\n", s->name);
                        abort();
                }
                if ((problem = syntax_problem(text)) || (problem = slash_problem(text))) {
                        fprintf(stderr, "site '%s' rendered with %s:\n%s\n", s->name, problem, text);
                        abort();
                }
                if (strbuf_puts(&b, text) < 0)
                        abort();
        }
        if (render_common(o, &common) < 0 || syntax_problem(common) || strbuf_puts(&b, common) < 0)
                abort();
        return strbuf_steal(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *err = NULL, *text = NULL;
        struct nginx_sites sites = {0};
        struct nginx_settings st = {0};
        struct render_options o;
        json_t *config = NULL;

        n_inputs++;
        if (yaml_parse((const char *) data, size, "fuzz", &config, &err) < 0 || !json_is_object(config))
                goto out;
        if (sites_parse(config, &sites, &errors) != 0 || sites.n == 0)
                goto out;
        if (nginx_settings_load(config, &st) < 0)
                goto out;
        n_accepted++;
        o = (struct render_options){
                .http_port = st.http_port,
                .https_port = st.https_port,
                .status_port = st.status_port,
                .ipv6 = size & 1,
                .http2_directive = http2,
                .thumbprint = size & 2 ? THUMBPRINT : NULL,
        };
        text = render_all(&sites, &o, size & 4);
        if (nginx_bin && (nginx_all || mono_ms() - last_nginx_ms >= nginx_every_ms)) {
                nginx_check(text);
                last_nginx_ms = mono_ms();
        }
out:
        nginx_settings_done(&st);
        sites_done(&sites);
        json_decref(config);
        return 0;
}
