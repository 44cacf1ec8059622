/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle/autoscaling.h"
#include "lifecycle/events.h"
#include "tap.h"

static void test_form(void) {
        const char *const params[] = {"AutoScalingGroupName", "web group", "InstanceId", "i-1", "Skipped", NULL, NULL};
        char *f = asg_form("CompleteLifecycleAction", params);

        is_str(f, "Action=CompleteLifecycleAction&AutoScalingGroupName=web%20group&InstanceId=i-1&Version=2011-01-01",
               "form body: encoded, NULL values left out, Version last");
        free(f);
}

static void test_answers(void) {
        static const char inst[] =
                "<DescribeAutoScalingInstancesResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">"
                "<DescribeAutoScalingInstancesResult><AutoScalingInstances><member>"
                "<AutoScalingGroupName>web</AutoScalingGroupName><LifecycleState>Pending:Wait</LifecycleState>"
                "</member></AutoScalingInstances></DescribeAutoScalingInstancesResult>"
                "</DescribeAutoScalingInstancesResponse>";
        static const char none[] =
                "<DescribeAutoScalingInstancesResponse><DescribeAutoScalingInstancesResult><AutoScalingInstances/>"
                "</DescribeAutoScalingInstancesResult></DescribeAutoScalingInstancesResponse>";
        static const char hook[] =
                "<DescribeLifecycleHooksResponse><DescribeLifecycleHooksResult><LifecycleHooks><member>"
                "<HeartbeatTimeout>300</HeartbeatTimeout>"
                "<LifecycleTransition>autoscaling:EC2_INSTANCE_LAUNCHING</LifecycleTransition>"
                "</member></LifecycleHooks></DescribeLifecycleHooksResult></DescribeLifecycleHooksResponse>";
        char *group = NULL, *state = NULL, *transition = NULL;
        long hb = 0;

        is_int(asg_parse_instance(inst, strlen(inst), &group, &state), 0, "instance answer parses");
        is_str(group, "web", "its group");
        is_str(state, "Pending:Wait", "its state");
        is_int(asg_parse_instance(none, strlen(none), NULL, NULL), -ENOENT, "no group: -ENOENT");
        is_int(asg_parse_hook(hook, strlen(hook), &hb, &transition), 0, "hook answer parses");
        is_int(hb, 300, "HeartbeatTimeout");
        is_str(transition, "autoscaling:EC2_INSTANCE_LAUNCHING", "LifecycleTransition");
        free(group);
        free(state);
        free(transition);
}

static void test_events(void) {
        static const char spot[] = "{\"action\": \"terminate\", \"time\": \"2017-09-18T08:22:00Z\"}";
        static const char reb[] = "{\"noticeTime\": \"2020-10-27T08:22:00Z\"}";
        static const char sched[] =
                "[{\"NotBefore\": \"21 Jan 2019 09:00:43 GMT\", \"Code\": \"system-reboot\", \"Description\": "
                "\"scheduled reboot\", \"EventId\": \"instance-event-0d59937288b749b32\", \"NotAfter\": \"21 Jan "
                "2019 09:17:23 GMT\", \"State\": \"active\"}, {\"NotBefore\": \"x\", \"Code\": \"instance-stop\", "
                "\"EventId\": \"instance-event-2\", \"State\": \"completed\"}]";
        struct lifecycle_event e = {0}, *list = NULL;
        size_t n = 0;

        is_int(event_parse_spot(spot, strlen(spot), &e), 0, "spot notice parses");
        is_str(e.action, "terminate", "its action");
        is_str(e.time, "2017-09-18T08:22:00Z", "its time");
        is_str(e.json, "{\"action\":\"terminate\",\"time\":\"2017-09-18T08:22:00Z\"}", "its document");
        lifecycle_event_done(&e);
        is_int(event_parse_spot("{\"action\": 1}", 13, &e), -EBADMSG, "a spot notice without strings is refused");
        is_int(event_parse_spot("{\"action\": \"terminate\", \"time\": \"a\\nb\"}", 39, &e), -EBADMSG,
               "control characters are refused");
        is_int(event_parse_rebalance(reb, strlen(reb), &e), 0, "rebalance parses");
        is_str(e.time, "2020-10-27T08:22:00Z", "its notice time");
        lifecycle_event_done(&e);
        is_int(event_parse_scheduled(sched, strlen(sched), &list, &n), 0, "scheduled events parse");
        is_int((long) n, 1, "only the active one");
        is_str(n ? list[0].action : NULL, "system-reboot", "its code");
        lifecycle_events_free(list, n);
        ok(lifecycle_state_valid("Warmed:Stopped") && !lifecycle_state_valid("In Service") &&
                   !lifecycle_state_valid(""),
           "target lifecycle states");
}

int main(void) {
        test_form();
        test_answers();
        test_events();
        return tap_done();
}
