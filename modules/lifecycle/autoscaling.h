/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "aws/aws.h"

/* The few Auto Scaling calls an instance makes about itself: its group,
 * its hook's heartbeat, and the answer to a lifecycle action. The Query
 * protocol (a form body, Version 2011-01-01, XML answers) on aws_call().
 * Nothing here logs: *ret_error (a fixed buffer of ASG_ERROR_MAX) says what
 * went wrong. */

#define ASG_ERROR_MAX 768

struct asg_call_result {
        bool ok;
        bool retry; /* network, 5xx, throttling: worth another try */
        bool no_action; /* ValidationError: no lifecycle action is waiting for this instance */
        char error[ASG_ERROR_MAX];
};

/* The form body of one action: "Action=A&K1=V1&...&Version=2011-01-01",
 * params as NULL-terminated name/value pairs (a NULL value is left out),
 * every value percent-encoded. */
char *asg_form(const char *action, const char *const *params);

/* CompleteLifecycleAction with result "CONTINUE" or "ABANDON". */
int asg_complete(struct aws_client *c, const char *group, const char *hook, const char *instance_id, const char *result,
                 struct asg_call_result *ret);
int asg_heartbeat(struct aws_client *c, const char *group, const char *hook, const char *instance_id,
                  struct asg_call_result *ret);
/* DescribeAutoScalingInstances for one instance: its group's name and its
 * lifecycle state (either may be NULL). -ENOENT when the instance is in no
 * group. */
int asg_describe_instance(struct aws_client *c, const char *instance_id, char **ret_group, char **ret_state,
                          struct asg_call_result *ret);
/* DescribeLifecycleHooks for one hook: its HeartbeatTimeout (seconds) and
 * LifecycleTransition (may be NULL). -ENOENT when the group has no such
 * hook. */
int asg_describe_hook(struct aws_client *c, const char *group, const char *hook, long *ret_heartbeat_s,
                      char **ret_transition, struct asg_call_result *ret);

/* The answers' parts, for the tests: the first member of
 * DescribeAutoScalingInstances, and of DescribeLifecycleHooks. */
int asg_parse_instance(const char *xml, size_t len, char **ret_group, char **ret_state);
int asg_parse_hook(const char *xml, size_t len, long *ret_heartbeat_s, char **ret_transition);
