/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake.h"
#include "fileio.h"
#include "http.h"
#include "strbuf.h"

static int wait_port(struct fake *f, const char *port_file) {
        for (int i = 0; i < 200; i++) { /* 10 s */
                _cleanup_free_ char *buf = NULL;
                struct timespec ts = {0, 50 * 1000000L};
                if (read_file(port_file, 64, &buf, NULL) == 0 && safe_atoi(strstrip(buf), &f->port) == 0)
                        return 0;
                if (waitpid(f->pid, NULL, WNOHANG) == f->pid)
                        return -ECHILD;
                nanosleep(&ts, NULL);
        }
        return -ETIMEDOUT;
}

int fake_start(struct fake *f, const char *script, const char *const *args) {
        const char *srcdir = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
        _cleanup_free_ char *prog = strdup_printf("%s/tests/fakes/%s", srcdir, script);
        _cleanup_free_ char *port_file = NULL;
        char *argv[64];
        size_t n = 0;

        snprintf(f->dir, sizeof(f->dir), "/tmp/kiln-fake-XXXXXX");
        if (!prog || !mkdtemp(f->dir))
                return -errno;
        port_file = strdup_printf("%s/port", f->dir);
        argv[n++] = (char *) "/usr/bin/python3";
        argv[n++] = prog;
        argv[n++] = (char *) "--port";
        argv[n++] = (char *) "0";
        argv[n++] = (char *) "--port-file";
        argv[n++] = port_file;
        for (const char *const *a = args; a && *a && n < ELEMENTSOF(argv) - 1; a++)
                argv[n++] = (char *) *a;
        argv[n] = NULL;
        f->pid = fork();
        if (f->pid < 0)
                return -errno;
        if (f->pid == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        if (wait_port(f, port_file) < 0) {
                fake_stop(f);
                return -ETIMEDOUT;
        }
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
        return 0;
}

void fake_stop(struct fake *f) {
        if (f->pid > 0) {
                kill(f->pid, SIGTERM);
                waitpid(f->pid, NULL, 0);
                f->pid = 0;
        }
        if (f->dir[0])
                rm_rf(f->dir);
}

int fake_post(struct fake *f, const char *path, const char *json) {
        _cleanup_free_ char *url = strdup_printf("%s%s", f->url, path);
        const char *headers[] = {"Content-Type: application/json", NULL};
        struct http_request req = {
                .method = "POST", .url = url, .headers = headers, .body = json, .body_len = strlen(json)};
        _cleanup_http_response_ struct http_response *resp = NULL;
        int r = http_request(&req, &resp);

        if (r < 0)
                return r;
        return resp->status == 200 ? 0 : -EINVAL;
}

json_t *fake_get(struct fake *f, const char *path) {
        _cleanup_free_ char *url = strdup_printf("%s%s", f->url, path);
        struct http_request req = {.url = url};
        _cleanup_http_response_ struct http_response *resp = NULL;

        if (http_request(&req, &resp) < 0)
                return NULL;
        return json_loads(resp->body, 0, NULL);
}
