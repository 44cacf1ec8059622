/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme.h"
#include "aws/aws.h"
#include "aws/credentials.h"
#include "clock.h"
#include "cloudwatch/cloudwatch.h"
#include "config.h"
#include "fileio.h"
#include "imds/imds.h"
#include "lifecycle/autoscaling.h"
#include "lifecycle/events.h"
#include "lifecycle/lifecycle.h"
#include "log.h"
#include "module.h"
#include "nginx/site.h"
#include "path.h"
#include "proc.h"
#include "scripts/scripts.h"
#include "state.h"
#include "status.h"
#include "strbuf.h"
#include "system/system.h"
#include "transient.h"

/* Auto Scaling lifecycle hooks, spot interruptions, rebalance
 * recommendations and scheduled events, as IMDS announces them.
 *
 * Polling: a spot instance gets two minutes' notice, and AWS's guidance is
 * to read spot/instance-action every 5 seconds; the target lifecycle state
 * likewise. A GET to IMDS on loopback-like latency with the token reused
 * costs well under a millisecond of CPU, so 5 s (lifecycle.poll_interval)
 * leaves 115 s of the 120 for the hooks and the drain. Only what can come
 * is read: the spot documents on spot instances, the lifecycle state in a
 * group (and once a minute otherwise, as an instance can be attached), the
 * scheduled events (announced days ahead) once a minute. */

#define DEFAULT_POLL_S 5
#define SLOW_EVERY 12 /* ticks: once a minute at 5 s */
#define DEFAULT_HOOK_TIMEOUT_S 60
#define DEFAULT_DRAIN_TIMEOUT_S 30
#define DEFAULT_CERT_WAIT_S 600
#define IMDS_BUDGET_MS 2000
#define HANDLED_FILE KILN_RUN_DIR "/lifecycle-events.json"
#define MAX_HANDLED 64
#define MAX_STATUS_EVENTS 20
#define LAUNCH_MARKER "lifecycle/launch-%s"

struct lc_state {
        struct imds *imds;
        struct aws_creds_provider *creds;
        struct aws_client asg;
        bool asg_ready;
        char *group;
        long heartbeat_s;
        bool in_asg, spot;
        unsigned tick;
        sd_event_source *timer, *heartbeat_timer;
        bool launch_pending;
        char launch_for[64]; /* the target state the launch hook is answered for */
        long launch_deadline_ms;
        bool terminated; /* the termination was handled */
        pid_t heartbeat_child;
};

static struct lc_state *state;
/* The target lifecycle state last read: "" outside a group. */
static char target[64];

bool lifecycle_warmed(void) {
        return strneq(target, "Warmed:", 7);
}

static bool is_launch_state(const char *s) {
        return streq(s, "InService") || (strneq(s, "Warmed:", 7) && !streq(s, "Warmed:Terminated"));
}

static bool is_termination(const char *s) {
        return streq(s, "Terminated") || streq(s, "Warmed:Terminated");
}

static void stop_heartbeat_child(struct lc_state *s) {
        if (s->heartbeat_child <= 0)
                return;
        /* Our own child, not reaped yet: its pid cannot name another process. */
        (void) kill(s->heartbeat_child, SIGKILL);
        (void) waitpid(s->heartbeat_child, NULL, 0);
        s->heartbeat_child = 0;
}

static void lc_state_free(struct lc_state *s) {
        if (!s)
                return;
        stop_heartbeat_child(s);
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->heartbeat_timer);
        aws_client_done(&s->asg);
        aws_creds_provider_free(s->creds);
        imds_free(s->imds);
        free(s->group);
        free(s);
}

static int lc_state_new(struct kiln_context *ctx, struct lc_state **ret) {
        struct lc_state *s = calloc(1, sizeof(*s));
        struct imds_options o;
        int r;

        if (!s)
                return -ENOMEM;
        imds_options_from_config(ctx->config, &o);
        /* A poll must not hold the daemon for IMDS's minute. */
        if (o.budget_ms > IMDS_BUDGET_MS)
                o.budget_ms = IMDS_BUDGET_MS;
        r = imds_new(&o, &s->imds);
        if (r >= 0)
                r = aws_creds_provider_new(s->imds, &s->creds);
        if (r < 0) {
                lc_state_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

static const char *setting(const struct kiln_context *ctx, const char *key) {
        return config_string(ctx->config, key, NULL);
}

/* GET meta-data/PATH: 1 with the body, 0 when absent (404), negative when
 * IMDS could not say. */
static int imds_read(struct imds *c, const char *path, char **ret, size_t *ret_len) {
        _cleanup_free_ char *full = strdup_printf("meta-data/%s", path);
        int r;

        if (!full)
                return -ENOMEM;
        r = imds_get(c, full, ret, ret_len);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? r : 1;
}

/* --- status --- */

static json_t *status_section(struct kiln_context *ctx) {
        json_t *l = json_object_get(ctx->status, "lifecycle");

        if (!l && ctx->status) {
                l = json_object();
                if (json_object_set_new(ctx->status, "lifecycle", l) < 0)
                        return NULL;
        }
        return l;
}

static char *now_iso(void) {
        char buf[32];
        time_t t = time(NULL);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return NULL;
        return strdup(buf);
}

static void status_set(struct kiln_context *ctx, const char *key, json_t *value) {
        json_t *l = status_section(ctx);

        if (!l || !value)
                return (void) json_decref(value);
        json_object_set_new(l, key, value);
        if (ctx->daemon)
                (void) status_write(ctx);
}

static void status_add_event(struct kiln_context *ctx, json_t *item) {
        json_t *l = status_section(ctx), *events;

        if (!l || !item)
                return (void) json_decref(item);
        events = json_object_get(l, "events");
        if (!json_is_array(events)) {
                events = json_array();
                json_object_set_new(l, "events", events);
        }
        json_array_append_new(events, item);
        while (json_array_size(events) > MAX_STATUS_EVENTS)
                json_array_remove(events, 0);
        (void) status_write(ctx);
}

/* --- Auto Scaling --- */

static int asg_ready(struct kiln_context *ctx, struct lc_state *s) {
        const char *region;
        int r;

        if (s->asg_ready)
                return 0;
        region = aws_region(setting(ctx, "lifecycle.region"), ctx->facts.region);
        if (!region)
                return log_error_errno(-ENXIO, "lifecycle: no region for Auto Scaling: set lifecycle.region.");
        r = aws_client_init(&s->asg, &aws_autoscaling, region, setting(ctx, "lifecycle.endpoint"), false, s->creds);
        if (r < 0) {
                aws_client_done(&s->asg);
                return log_error_errno(r, "lifecycle: invalid Auto Scaling endpoint: %m");
        }
        s->asg_ready = true;
        return 0;
}

/* The group: the instance's aws:autoscaling:groupName tag in IMDS (when
 * instance metadata tags are on), else DescribeAutoScalingInstances. */
static int find_group(struct kiln_context *ctx, struct lc_state *s) {
        _cleanup_free_ char *tag = NULL, *group = NULL;
        struct asg_call_result res;
        int r;

        if (s->group)
                return 0;
        r = imds_read(s->imds, "tags/instance/aws:autoscaling:groupName", &tag, NULL);
        if (r > 0 && *strstrip(tag)) {
                s->group = strdup(strstrip(tag));
                return s->group ? 0 : -ENOMEM;
        }
        r = asg_ready(ctx, s);
        if (r < 0)
                return r;
        r = asg_describe_instance(&s->asg, ctx->facts.instance_id, &group, NULL, &res);
        if (r == -ENOENT)
                return log_error_errno(r, "lifecycle: instance %s is in no Auto Scaling group.",
                                       ctx->facts.instance_id);
        if (r < 0)
                return log_error_errno(r, "lifecycle: failed to ask Auto Scaling for the group: %m");
        if (!res.ok)
                return log_error_errno(-EIO, "lifecycle: failed to find the Auto Scaling group: %s", res.error);
        s->group = TAKE_PTR(group);
        return 0;
}

static int hook_heartbeat(struct kiln_context *ctx, struct lc_state *s, const char *hook) {
        struct asg_call_result res;
        int r;

        r = asg_ready(ctx, s);
        if (r >= 0)
                r = asg_describe_hook(&s->asg, s->group, hook, &s->heartbeat_s, NULL, &res);
        if (r == -ENOENT)
                return log_error_errno(r, "lifecycle: group '%s' has no lifecycle hook '%s'.", s->group, hook);
        if (r >= 0 && !res.ok)
                return log_error_errno(-EIO, "lifecycle: failed to read hook '%s': %s", hook, res.error);
        return r;
}

static void send_heartbeat(struct kiln_context *ctx, struct lc_state *s, const char *hook) {
        struct asg_call_result res;
        int r;

        r = asg_heartbeat(&s->asg, s->group, hook, ctx->facts.instance_id, &res);
        if (r < 0)
                log_warning_errno(r, "lifecycle: failed to send a heartbeat for hook '%s', ignoring: %m", hook);
        else if (!res.ok)
                log_warning("lifecycle: heartbeat for hook '%s' refused, ignoring: %s", hook, res.error);
        else
                log_info("lifecycle: heartbeat sent for hook '%s'.", hook);
}

/* While the boot runs (kiln is busy in it, no event loop), a child of
 * kiln's sends the heartbeats: it shares nothing with the boot once forked,
 * and dies with kiln (PR_SET_PDEATHSIG) or when start() ends it. */
static void start_heartbeat_child(struct kiln_context *ctx, struct lc_state *s, const char *hook) {
        long interval = s->heartbeat_s / 2 > 0 ? s->heartbeat_s / 2 : 1;
        pid_t parent = getpid(), pid;

        pid = fork();
        if (pid < 0)
                return (void) log_warning_errno(negative_errno(), "lifecycle: failed to start heartbeats: %m");
        if (pid > 0) {
                s->heartbeat_child = pid;
                log_info("lifecycle: sending heartbeats for hook '%s' every %ld s while the boot runs.", hook,
                         interval);
                return;
        }
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(0);
        for (;;) {
                sleep_ms(interval * 1000);
                send_heartbeat(ctx, s, hook);
        }
}

/* The launch hook answered for a target state, in the instance's state:
 * a restart of the daemon, or a reboot, does not answer it again. */
static bool launch_done(struct kiln_context *ctx, const char *for_state) {
        _cleanup_free_ char *rel = strdup_printf(LAUNCH_MARKER, for_state), *path = NULL;

        return rel && state_instance_path(ctx, rel, &path) >= 0 && file_exists(path) > 0;
}

static void mark_launch_done(struct kiln_context *ctx, const char *for_state, const char *result) {
        _cleanup_free_ char *rel = strdup_printf(LAUNCH_MARKER, for_state), *path = NULL, *line = NULL;
        int r;

        line = strdup_printf("%s\n", result);
        r = rel && line ? state_instance_path(ctx, rel, &path) : -ENOMEM;
        if (r >= 0)
                r = mkdir_parents(path, 0700);
        if (r >= 0)
                r = write_file_atomic(path, line, strlen(line), 0600);
        if (r < 0)
                log_warning_errno(r, "lifecycle: failed to record the launch hook's answer, ignoring: %m");
}

/* 1 when answered (or nothing waited for an answer), 0 to try again. */
static int complete(struct kiln_context *ctx, struct lc_state *s, const char *hook, const char *result) {
        struct asg_call_result res;
        int r;

        r = find_group(ctx, s);
        if (r >= 0)
                r = asg_ready(ctx, s);
        if (r >= 0)
                r = asg_complete(&s->asg, s->group, hook, ctx->facts.instance_id, result, &res);
        if (r < 0)
                return log_error_errno(r, "lifecycle: failed to complete hook '%s': %m", hook), 0;
        if (res.no_action) {
                log_info("lifecycle: no lifecycle action of hook '%s' waits for this instance (%s).", hook, res.error);
                return 1;
        }
        if (!res.ok) {
                log_error("lifecycle: failed to complete hook '%s' with %s%s: %s", hook, result,
                          res.retry ? ", trying again" : "", res.error);
                return res.retry ? 0 : 1;
        }
        log_info("lifecycle: completed hook '%s' of group '%s' with %s.", hook, s->group, result);
        return 1;
}

/* --- launch --- */

/* 1 when every site with tls: acme serves a CA-issued certificate. */
static int certificates_ready(struct kiln_context *ctx) {
        _cleanup_strv_free_ char **errors = NULL;
        struct nginx_sites sites = {0};
        int r;

        r = sites_parse(ctx->config, &sites, &errors);
        for (size_t i = 0; r >= 0 && i < sites.n; i++)
                if (sites.sites[i].tls == SITE_TLS_ACME && acme_site_has_real_certificate(sites.sites[i].name) <= 0)
                        r = -EAGAIN;
        sites_done(&sites);
        return r == -EAGAIN ? 0 : r < 0 ? r : 1;
}

static void answer_launch(struct kiln_context *ctx, struct lc_state *s, const char *result, const char *why) {
        const char *hook = setting(ctx, "lifecycle.launch_hook");
        _cleanup_free_ char *when = now_iso();

        log_info("lifecycle: answering launch hook '%s' with %s: %s.", hook, result, why);
        if (complete(ctx, s, hook, result) == 0)
                return;
        s->launch_pending = false;
        s->heartbeat_timer = sd_event_source_disable_unref(s->heartbeat_timer);
        mark_launch_done(ctx, s->launch_for, result);
        status_set(ctx, "launch_hook",
                   json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "hook", hook, "result", result, "reason", why, "state",
                             s->launch_for, "time", when));
}

static void check_launch(struct kiln_context *ctx, struct lc_state *s) {
        const char *result = json_string_value(json_object_get(ctx->status, "result"));
        int r;

        if (!s->launch_pending)
                return;
        if (result && streq(result, "error"))
                return answer_launch(ctx, s, "ABANDON", "the boot ended in error");
        if (strneq(s->launch_for, "Warmed:", 7))
                return answer_launch(ctx, s, "CONTINUE", "the boot is done; certificates wait for InService");
        r = certificates_ready(ctx);
        if (r > 0)
                return answer_launch(ctx, s, "CONTINUE", "the boot is done and every site serves its certificate");
        if (now_ms() >= s->launch_deadline_ms)
                return answer_launch(ctx, s, "ABANDON", "a site still has no certificate from the CA");
}

static int on_heartbeat(struct kiln_context *ctx, void *userdata) {
        struct lc_state *s = userdata;

        if (!s->launch_pending)
                return 0;
        send_heartbeat(ctx, s, setting(ctx, "lifecycle.launch_hook"));
        return kiln_timer_schedule(ctx, &s->heartbeat_timer, (uint64_t) (s->heartbeat_s / 2) * USEC_PER_SEC,
                                   on_heartbeat, s);
}

static void begin_launch(struct kiln_context *ctx, struct lc_state *s, const char *for_state) {
        const char *hook = setting(ctx, "lifecycle.launch_hook");

        if (!hook || launch_done(ctx, for_state))
                return;
        snprintf(s->launch_for, sizeof(s->launch_for), "%s", for_state);
        s->launch_pending = true;
        s->launch_deadline_ms =
                now_ms() + config_int(ctx->config, "lifecycle.certificate_wait", DEFAULT_CERT_WAIT_S) * 1000L;
        if (find_group(ctx, s) >= 0 && s->heartbeat_s == 0)
                (void) hook_heartbeat(ctx, s, hook);
        if (s->heartbeat_s > 0)
                (void) kiln_timer_schedule(ctx, &s->heartbeat_timer, (uint64_t) (s->heartbeat_s / 2) * USEC_PER_SEC,
                                           on_heartbeat, s);
        check_launch(ctx, s);
}

/* --- hooks and the drain --- */

static int env_add(char ***env, const char *key, const char *value) {
        _cleanup_free_ char *line = NULL;

        if (!value)
                return 0;
        line = strdup_printf("%s=%s", key, value);
        return line ? strv_push(env, line) : -ENOMEM;
}

static int hook_env(struct kiln_context *ctx, const char *kind, const struct lifecycle_event *e, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        int r;

        r = scripts_environment(ctx, &env);
        r = r < 0 ? r : env_add(&env, "KILN_EVENT", kind);
        r = r < 0 || !e ? r : env_add(&env, "KILN_EVENT_TIME", e->time);
        r = r < 0 || !e ? r : env_add(&env, "KILN_EVENT_ACTION", e->action);
        r = r < 0 || !e ? r : env_add(&env, "KILN_EVENT_JSON", e->json);
        r = r < 0 || e ? r : env_add(&env, "KILN_EVENT_ACTION", target);
        r = r < 0 ? r : env_add(&env, "KILN_LIFECYCLE_STATE", target[0] ? target : NULL);
        r = r < 0 || !state ? r : env_add(&env, "KILN_AUTOSCALING_GROUP", state->group);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(env);
        return 0;
}

/* The argv of one planned command: a script item is written under
 * /run/kiln/lifecycle/ and run by /bin/sh, as runcmd's is. */
static int command_argv(const json_t *item, char ***ret) {
        const char *marker = json_string_value(json_object_get(item, "marker"));
        const json_t *script = json_object_get(item, "script"), *w;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *path = NULL;
        size_t i;
        int r = 0;

        if (!json_is_string(script)) {
                json_array_foreach(json_object_get(item, "argv"), i, w)
                        if (r >= 0)
                                r = json_is_string(w) ? strv_push(&argv, json_string_value(w)) : -EINVAL;
        } else {
                r = marker ? root_path(&path, KILN_RUN_DIR "/lifecycle/%s", marker) : -EINVAL;
                r = r < 0 ? r : mkdir_parents(path, 0700);
                r = r < 0 ? r : write_file_atomic(path, json_string_value(script), json_string_length(script), 0700);
                r = r < 0 ? r : strv_push(&argv, "/bin/sh");
                r = r < 0 ? r : strv_push(&argv, path);
        }
        if (r >= 0 && !argv)
                r = -EINVAL;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(argv);
        return 0;
}

static void run_command(const json_t *item, char **env, const char *log_path, long deadline_ms) {
        const char *name = json_string_value(json_object_get(item, "name"));
        _cleanup_strv_free_ char **argv = NULL, **wrapped = NULL;
        _cleanup_free_ char *systemd_run = NULL;
        struct proc_result res = {0};
        long left = deadline_ms - now_ms();
        int r;

        if (left <= 0)
                return (void) log_error("lifecycle: no time left to run %s.", name);
        r = command_argv(item, &argv);
        if (r >= 0 && transient_wanted(&systemd_run)) {
                struct transient_options t = {.systemd_run = systemd_run,
                                              .name = name,
                                              .argv = argv,
                                              .envp = env,
                                              .timeout_ms = left,
                                              .unique = (unsigned long long) now_ms()};
                r = transient_argv(&t, &wrapped);
        }
        if (r < 0)
                return (void) log_error_errno(r, "lifecycle: failed to prepare %s: %m", name);
        log_info("lifecycle: running %s.", name);
        r = proc_run(&(struct proc_options){.argv = wrapped ?: argv,
                                            .envp = env,
                                            .log_name = name,
                                            .log_path = log_path,
                                            .timeout_ms = left},
                     &res);
        if (r < 0)
                return (void) log_error_errno(r, "lifecycle: failed to run %s: %m", name);
        if (res.timed_out)
                log_error("lifecycle: %s was killed at its deadline.", name);
        else if (res.exit_code != 0)
                log_error("lifecycle: %s exited with status %d.", name, res.exit_code);
        else
                log_info("lifecycle: %s finished in %ld ms.", name, res.duration_ms);
        proc_result_done(&res);
}

/* The user's commands for key ("on_terminate", ...), in order, all within
 * deadline_ms. */
static void run_hooks(struct kiln_context *ctx, const char *key, const char *kind, const struct lifecycle_event *e,
                      long deadline_ms) {
        _cleanup_json_ json_t *plan = system_plan_commands(json_object_get(ctx->config, "lifecycle"), key, FREQ_BOOT);
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *log_path = NULL;
        json_t *item;
        size_t i;
        int r;

        if (json_array_size(plan) == 0)
                return;
        r = hook_env(ctx, kind, e, &env);
        r = r < 0 ? r : root_path(&log_path, KILN_LOG_DIR "/lifecycle.log");
        r = r < 0 ? r : mkdir_parents(log_path, 0700);
        if (r < 0)
                return (void) log_error_errno(r, "lifecycle: failed to prepare lifecycle.%s: %m", key);
        json_array_foreach(plan, i, item)
                run_command(item, env, log_path, deadline_ms);
}

/* Every module's drain: nginx stops taking connections, the spools are
 * sent (metrics; logs when a module ships them). */
static void drain(struct kiln_context *ctx) {
        long deadline = now_ms() + config_int(ctx->config, "lifecycle.drain_timeout", DEFAULT_DRAIN_TIMEOUT_S) * 1000L;
        long started = now_ms();

        for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                if ((*m)->drain && (*m)->drain(ctx, deadline) < 0)
                        log_warning("lifecycle: module %s did not drain fully, going on.", (*m)->name);
        log_info("lifecycle: drained in %ld ms.", now_ms() - started);
}

static long hooks_deadline(struct kiln_context *ctx) {
        return now_ms() + config_int(ctx->config, "lifecycle.hook_timeout", DEFAULT_HOOK_TIMEOUT_S) * 1000L;
}

static void terminate(struct kiln_context *ctx, struct lc_state *s) {
        const char *hook = setting(ctx, "lifecycle.terminate_hook");
        _cleanup_free_ char *when = now_iso();

        if (s->terminated)
                return;
        s->terminated = true;
        log_warning("lifecycle: the instance is being terminated (target state %s).", target);
        status_set(ctx, "termination", json_pack("{s:s, s:s?, s:s?}", "state", target, "started", when, "hook", hook));
        run_hooks(ctx, "on_terminate", "autoscaling-termination", NULL, hooks_deadline(ctx));
        drain(ctx);
        if (hook)
                for (int i = 0; i < 3 && complete(ctx, s, hook, "CONTINUE") == 0; i++)
                        sleep_ms(1000);
        free(when);
        when = now_iso();
        status_set(ctx, "termination",
                   json_pack("{s:s, s:s?, s:s?, s:s?}", "state", target, "finished", when, "hook", hook, "result",
                             hook ? "CONTINUE" : NULL));
}

/* --- events --- */

static json_t *handled_load(void) {
        _cleanup_free_ char *path = NULL;
        json_t *j = NULL, *list;

        /* {"handled": [KEY, ...]}: json_read_file() reads objects only. */
        if (root_path(&path, HANDLED_FILE) < 0 || json_read_file(path, 256 * 1024, &j) < 0 ||
            !json_is_array(json_object_get(j, "handled"))) {
                json_decref(j);
                return json_array();
        }
        list = json_incref(json_object_get(j, "handled"));
        json_decref(j);
        return list;
}

static bool handled(const char *key) {
        _cleanup_json_ json_t *list = handled_load();
        json_t *v;
        size_t i;

        json_array_foreach(list, i, v)
                if (json_is_string(v) && streq(json_string_value(v), key))
                        return true;
        return false;
}

static void mark_handled(const char *key) {
        _cleanup_json_ json_t *list = handled_load(), *doc = NULL;
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        if (!list || json_array_append_new(list, json_string(key)) < 0)
                return (void) log_oom();
        while (json_array_size(list) > MAX_HANDLED)
                json_array_remove(list, 0);
        doc = json_pack("{s:O}", "handled", list);
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        r = text ? root_path(&path, HANDLED_FILE) : -ENOMEM;
        r = r < 0 ? r : write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                log_warning_errno(r, "lifecycle: failed to record a handled event, ignoring: %m");
}

static void handle_event(struct kiln_context *ctx, struct lc_state *s, const struct lifecycle_event *e) {
        static const char *const hooks[_EVENT_KIND_MAX] = {
                [EVENT_SPOT_INTERRUPTION] = "on_interruption",
                [EVENT_REBALANCE] = "on_rebalance",
                [EVENT_SCHEDULED] = "on_scheduled",
        };
        static const char *const metrics[_EVENT_KIND_MAX] = {
                [EVENT_SPOT_INTERRUPTION] = "SpotInterruption",
                [EVENT_REBALANCE] = "RebalanceRecommendation",
                [EVENT_SCHEDULED] = "ScheduledEvent",
        };
        const char *kind = event_kind_name(e->kind);
        _cleanup_free_ char *seen = now_iso(), *done = NULL;
        int r;

        if (handled(e->key))
                return;
        log_warning("lifecycle: %s notice: %s%s%s.", kind, e->action ? e->action : "", e->action ? " at " : "at ",
                    e->time);
        r = cloudwatch_count_event(ctx, metrics[e->kind]);
        if (r < 0)
                log_warning_errno(r, "lifecycle: failed to count the event in metrics, ignoring: %m");
        run_hooks(ctx, hooks[e->kind], kind, e, hooks_deadline(ctx));
        /* The instance stops or goes away in two minutes. */
        if (e->kind == EVENT_SPOT_INTERRUPTION)
                drain(ctx);
        mark_handled(e->key);
        done = now_iso();
        status_add_event(ctx, json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b}", "event", kind, "time", e->time, "action",
                                        e->action, "seen", seen, "handled", done, "drained",
                                        e->kind == EVENT_SPOT_INTERRUPTION));
}

static void poll_single(struct kiln_context *ctx, struct lc_state *s, const char *path,
                        int (*parse)(const char *, size_t, struct lifecycle_event *)) {
        _cleanup_free_ char *body = NULL;
        struct lifecycle_event e = {0};
        size_t len = 0;
        int r;

        r = imds_read(s->imds, path, &body, &len);
        if (r <= 0) {
                if (r < 0)
                        log_debug("lifecycle: failed to read %s: %s", path, imds_error(s->imds));
                return;
        }
        r = parse(body, len, &e);
        if (r < 0)
                return (void) log_warning("lifecycle: IMDS %s is not the document expected, ignoring.", path);
        handle_event(ctx, s, &e);
        lifecycle_event_done(&e);
}

static void poll_scheduled(struct kiln_context *ctx, struct lc_state *s) {
        _cleanup_free_ char *body = NULL;
        struct lifecycle_event *events = NULL;
        size_t len = 0, n = 0;

        if (imds_read(s->imds, "events/maintenance/scheduled", &body, &len) <= 0)
                return;
        if (event_parse_scheduled(body, len, &events, &n) < 0)
                return (void) log_warning("lifecycle: IMDS's scheduled events are not the list expected, ignoring.");
        for (size_t i = 0; i < n; i++)
                handle_event(ctx, s, &events[i]);
        lifecycle_events_free(events, n);
}

/* Reads the target lifecycle state into `target`: 1 when it changed. */
static int read_target(struct imds *c, char *old, size_t old_size) {
        _cleanup_free_ char *body = NULL;
        int r;

        snprintf(old, old_size, "%s", target);
        r = imds_read(c, "autoscaling/target-lifecycle-state", &body, NULL);
        if (r < 0)
                return r;
        if (r > 0 && !lifecycle_state_valid(strstrip(body)))
                return -EBADMSG;
        snprintf(target, sizeof(target), "%s", r > 0 ? strstrip(body) : "");
        return !streq(old, target);
}

static void poll_target(struct kiln_context *ctx, struct lc_state *s) {
        char old[sizeof(target)];

        if (read_target(s->imds, old, sizeof(old)) <= 0)
                return;
        s->in_asg = target[0] != 0;
        log_info("lifecycle: target lifecycle state '%s' (was '%s').", target, old);
        status_set(ctx, "target_state", json_string(target));
        if (is_termination(target))
                terminate(ctx, s);
        else if (is_launch_state(target))
                begin_launch(ctx, s, target);
}

static int on_tick(struct kiln_context *ctx, void *userdata) {
        struct lc_state *s = userdata;
        bool slow = s->tick++ % SLOW_EVERY == 0;
        double poll_s = config_number(ctx->config, "lifecycle.poll_interval", DEFAULT_POLL_S);

        if (s->in_asg || slow)
                poll_target(ctx, s);
        if (s->spot) {
                poll_single(ctx, s, "spot/instance-action", event_parse_spot);
                poll_single(ctx, s, "events/recommendations/rebalance", event_parse_rebalance);
        }
        if (slow)
                poll_scheduled(ctx, s);
        check_launch(ctx, s);
        if (poll_s < 1)
                poll_s = 1;
        return kiln_timer_schedule(ctx, &s->timer, (uint64_t) (poll_s * USEC_PER_SEC), on_tick, s);
}

/* --- module hooks --- */

/* configure: the target lifecycle state (a warm pool's instance orders no
 * certificate), and for the daemon with a launch hook, heartbeats while
 * the rest of the boot runs. */
static int lifecycle_boot(struct kiln_context *ctx) {
        const char *hook = setting(ctx, "lifecycle.launch_hook");
        char old[sizeof(target)];
        struct imds *c;
        int r;

        if (!ctx->identified || imds_from_context(ctx, &c) < 0)
                return 0;
        r = read_target(c, old, sizeof(old));
        if (r < 0)
                log_debug("lifecycle: failed to read the target lifecycle state: %s", imds_error(c));
        if (!target[0])
                return 0;
        status_set(ctx, "target_state", json_string(target));
        if (lifecycle_warmed())
                log_info("lifecycle: in a warm pool (%s): no certificate is ordered until the instance goes "
                         "InService.",
                         target);
        if (!ctx->daemon || !hook || !is_launch_state(target) || launch_done(ctx, target))
                return 0;
        if (!state && (r = lc_state_new(ctx, &state)) < 0)
                return kiln_degrade(ctx, "lifecycle: %s", strerror(-r));
        if (find_group(ctx, state) < 0 || hook_heartbeat(ctx, state, hook) < 0)
                return kiln_degrade(ctx, "lifecycle: cannot send heartbeats for hook '%s' during the boot", hook);
        start_heartbeat_child(ctx, state, hook);
        return 0;
}

static int lifecycle_start(struct kiln_context *ctx) {
        _cleanup_free_ char *life = NULL;
        int r;

        if (!config_get(ctx->config, "lifecycle") || !ctx->identified)
                return 0;
        if (!state && (r = lc_state_new(ctx, &state)) < 0)
                return r;
        stop_heartbeat_child(state);
        state->in_asg = target[0] != 0;
        if (imds_read(state->imds, "instance-life-cycle", &life, NULL) > 0)
                state->spot = streq(strstrip(life), "spot");
        log_info("lifecycle: watching IMDS every %g s for%s%s.",
                 config_number(ctx->config, "lifecycle.poll_interval", DEFAULT_POLL_S),
                 state->in_asg ? " the target lifecycle state" : " a group",
                 state->spot ? ", spot interruptions and rebalance recommendations" : "");
        if (is_termination(target))
                terminate(ctx, state);
        else if (is_launch_state(target))
                begin_launch(ctx, state, target);
        /* The first look at once: the slow documents too. */
        state->tick = 1;
        return kiln_timer_schedule(ctx, &state->timer, USEC_PER_SEC, on_tick, state);
}

static void lifecycle_done(struct kiln_context *ctx) {
        lc_state_free(state);
        state = NULL;
}

static void lifecycle_validate(const json_t *config, struct config_report *rep) {
        const json_t *l = json_object_get(config, "lifecycle");
        static const char *const hooks[] = {"on_terminate", "on_interruption", "on_rebalance", "on_scheduled"};
        double poll = config_number(config, "lifecycle.poll_interval", DEFAULT_POLL_S);

        for (size_t i = 0; i < ELEMENTSOF(hooks); i++)
                system_validate_commands(l, rep, hooks[i]);
        if (poll < 1 || poll > 60)
                config_report_error(rep, "lifecycle.poll_interval", "'lifecycle.poll_interval' must be 1 to 60 s");
        if (config_int(config, "lifecycle.hook_timeout", DEFAULT_HOOK_TIMEOUT_S) < 1)
                config_report_error(rep, "lifecycle.hook_timeout", "'lifecycle.hook_timeout' must be positive");
}

static const struct config_key lifecycle_keys[] = {
        {"lifecycle", CONFIG_MAP,
         "Auto Scaling lifecycle hooks and EC2's notices (spot interruptions, rebalance recommendations, "
         "scheduled events), watched in IMDS by the daemon."},
        {"lifecycle.launch_hook", CONFIG_STRING,
         "Launch lifecycle hook answered CONTINUE once the boot is done and every site serves its certificate, "
         "ABANDON when the boot ends in error."},
        {"lifecycle.terminate_hook", CONFIG_STRING,
         "Termination lifecycle hook answered CONTINUE after on_terminate, the nginx drain and the spool flush."},
        {"lifecycle.region", CONFIG_STRING,
         "Region of the Auto Scaling API (default: AWS_REGION, else the instance's)."},
        {"lifecycle.endpoint", CONFIG_STRING,
         "Auto Scaling endpoint URL (default AWS's; AWS_ENDPOINT_URL_AUTO_SCALING wins)."},
        {"lifecycle.on_terminate", CONFIG_LIST, "Commands run when the group terminates the instance, as runcmd's."},
        {"lifecycle.on_terminate[]", CONFIG_COMMAND, "A line of the script, a list of words, or a mapping."},
        {"lifecycle.on_interruption", CONFIG_LIST, "Commands run on a spot interruption notice, before the drain."},
        {"lifecycle.on_interruption[]", CONFIG_COMMAND, "A line of the script, a list of words, or a mapping."},
        {"lifecycle.on_rebalance", CONFIG_LIST, "Commands run on a rebalance recommendation."},
        {"lifecycle.on_rebalance[]", CONFIG_COMMAND, "A line of the script, a list of words, or a mapping."},
        {"lifecycle.on_scheduled", CONFIG_LIST, "Commands run on each new scheduled maintenance event."},
        {"lifecycle.on_scheduled[]", CONFIG_COMMAND, "A line of the script, a list of words, or a mapping."},
        {"lifecycle.hook_timeout", CONFIG_INT,
         "Seconds the commands of one event may run together before they are killed (default 60)."},
        {"lifecycle.drain_timeout", CONFIG_INT,
         "Seconds nginx's graceful stop and the spool flushes may take together (default 30)."},
        {"lifecycle.certificate_wait", CONFIG_INT,
         "Seconds the launch hook waits for sites' certificates before ABANDON (default 600)."},
        {"lifecycle.poll_interval", CONFIG_NUMBER, "Seconds between looks at IMDS, 1 to 60 (default 5)."},
        {},
};

const struct kiln_module lifecycle_module = {
        .name = "lifecycle",
        .stage = STAGE_CONFIGURE,
        .boot = lifecycle_boot,
        .start = lifecycle_start,
        .done = lifecycle_done,
        .validate = lifecycle_validate,
        .config_keys = lifecycle_keys,
};
