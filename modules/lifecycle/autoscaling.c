/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "lifecycle/autoscaling.h"
#include "strbuf.h"

#define ASG_VERSION "2011-01-01"
#define ASG_MAX_ANSWER (256 * 1024)

char *asg_form(const char *action, const char *const *params) {
        struct strbuf b = STRBUF_INIT;
        int r;

        r = strbuf_printf(&b, "Action=%s", action);
        for (const char *const *p = params; r >= 0 && p && p[0]; p += 2) {
                _cleanup_free_ char *v = NULL;
                if (!p[1])
                        continue;
                v = http_urlencode(p[1]);
                r = v ? strbuf_printf(&b, "&%s=%s", p[0], v) : -ENOMEM;
        }
        if (r >= 0)
                r = strbuf_printf(&b, "&Version=%s", ASG_VERSION);
        if (r < 0) {
                strbuf_done(&b);
                return NULL;
        }
        return strbuf_steal(&b);
}

static void judge(const struct aws_result *res, struct asg_call_result *ret) {
        *ret = (struct asg_call_result){.ok = aws_ok(res), .retry = res->retry};
        if (ret->ok)
                return;
        snprintf(ret->error, sizeof(ret->error), "%s", res->error);
        /* "No active Lifecycle Action found with instance ID i-..." */
        ret->no_action = streq(res->code, "ValidationError") && strstr(res->message, "No active Lifecycle Action");
}

/* One action; the answer's XML in *ret_root when it succeeded and one is
 * wanted. */
static int call(struct aws_client *c, const char *action, const char *const *params, struct xml_node **ret_root,
                struct asg_call_result *ret) {
        static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
        _cleanup_free_ char *body = asg_form(action, params);
        struct aws_result res = {0};
        int r;

        if (!body)
                return -ENOMEM;
        r = aws_call(c,
                     &(struct aws_call){.method = "POST",
                                        .path = "/",
                                        .headers = headers,
                                        .body = body,
                                        .body_len = strlen(body),
                                        .max_body = ASG_MAX_ANSWER},
                     &res);
        if (r < 0 && r != -ENOKEY) {
                aws_result_done(&res);
                return r;
        }
        judge(&res, ret);
        if (r == -ENOKEY)
                ret->retry = true;
        if (ret->ok && ret_root) {
                r = xml_parse(res.response->body, res.response->body_len, ret_root);
                if (r < 0) {
                        snprintf(ret->error, sizeof(ret->error), "Auto Scaling %s: the answer is not XML", action);
                        ret->ok = false;
                }
        }
        aws_result_done(&res);
        return 0;
}

int asg_complete(struct aws_client *c, const char *group, const char *hook, const char *instance_id, const char *result,
                 struct asg_call_result *ret) {
        const char *const params[] = {
                "AutoScalingGroupName", group, "InstanceId", instance_id, "LifecycleActionResult", result,
                "LifecycleHookName",    hook,  NULL};

        return call(c, "CompleteLifecycleAction", params, NULL, ret);
}

int asg_heartbeat(struct aws_client *c, const char *group, const char *hook, const char *instance_id,
                  struct asg_call_result *ret) {
        const char *const params[] = {"AutoScalingGroupName", group, "InstanceId", instance_id,
                                      "LifecycleHookName",    hook,  NULL};

        return call(c, "RecordLifecycleActionHeartbeat", params, NULL, ret);
}

static int dup_text(const struct xml_node *n, const char *path, char **ret) {
        const char *t = xml_text(n, path);

        if (!ret)
                return 0;
        *ret = NULL;
        if (!t || !*t)
                return 0;
        *ret = strdup(t);
        return *ret ? 0 : -ENOMEM;
}

static int parse_instance(const struct xml_node *root, char **ret_group, char **ret_state) {
        const struct xml_node *m = xml_path(root, "DescribeAutoScalingInstancesResult/AutoScalingInstances/member");
        _cleanup_free_ char *group = NULL, *state = NULL;
        int r;

        if (!m)
                return -ENOENT;
        r = dup_text(m, "AutoScalingGroupName", &group);
        if (r >= 0)
                r = dup_text(m, "LifecycleState", &state);
        if (r < 0)
                return r;
        if (!group)
                return -EBADMSG;
        if (ret_group)
                *ret_group = TAKE_PTR(group);
        if (ret_state)
                *ret_state = TAKE_PTR(state);
        return 0;
}

int asg_parse_instance(const char *xml, size_t len, char **ret_group, char **ret_state) {
        _cleanup_(xml_freep) struct xml_node *root = NULL;
        int r = xml_parse(xml, len, &root);

        return r < 0 ? r : parse_instance(root, ret_group, ret_state);
}

int asg_describe_instance(struct aws_client *c, const char *instance_id, char **ret_group, char **ret_state,
                          struct asg_call_result *ret) {
        const char *const params[] = {"InstanceIds.member.1", instance_id, NULL};
        _cleanup_(xml_freep) struct xml_node *root = NULL;
        int r;

        r = call(c, "DescribeAutoScalingInstances", params, &root, ret);
        if (r < 0 || !ret->ok)
                return r;
        return parse_instance(root, ret_group, ret_state);
}

/* HeartbeatTimeout: 30..7200 s as Auto Scaling takes it. */
static int parse_hook(const struct xml_node *root, long *ret_heartbeat_s, char **ret_transition) {
        const struct xml_node *m = xml_path(root, "DescribeLifecycleHooksResult/LifecycleHooks/member");
        const char *t;
        int v, r;

        if (!m)
                return -ENOENT;
        t = xml_text(m, "HeartbeatTimeout");
        if (!t || safe_atoi(t, &v) < 0 || v <= 0 || v > 172800)
                return -EBADMSG;
        r = dup_text(m, "LifecycleTransition", ret_transition);
        if (r < 0)
                return r;
        *ret_heartbeat_s = v;
        return 0;
}

int asg_parse_hook(const char *xml, size_t len, long *ret_heartbeat_s, char **ret_transition) {
        _cleanup_(xml_freep) struct xml_node *root = NULL;
        int r = xml_parse(xml, len, &root);

        return r < 0 ? r : parse_hook(root, ret_heartbeat_s, ret_transition);
}

int asg_describe_hook(struct aws_client *c, const char *group, const char *hook, long *ret_heartbeat_s,
                      char **ret_transition, struct asg_call_result *ret) {
        const char *const params[] = {"AutoScalingGroupName", group, "LifecycleHookNames.member.1", hook, NULL};
        _cleanup_(xml_freep) struct xml_node *root = NULL;
        int r;

        r = call(c, "DescribeLifecycleHooks", params, &root, ret);
        if (r < 0 || !ret->ok)
                return r;
        return parse_hook(root, ret_heartbeat_s, ret_transition);
}
