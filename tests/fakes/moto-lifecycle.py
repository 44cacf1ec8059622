#!/usr/bin/env python3
"""moto's server, with the two Auto Scaling actions moto 5.2 lacks.

moto answers CompleteLifecycleAction and RecordLifecycleActionHeartbeat
with a 500 "not implemented". This adds them to moto's own AutoScaling
responses, so the request still goes through moto's signature and IAM
policy checks (INITIAL_NO_AUTH_ACTION_COUNT) before them, and checks what
AWS checks: the group, the hook in it, the instance in the group, and an
action waiting (an instance is Pending:Wait from the moment a launching
hook is put, Terminating:Wait once the test sets it so). Every accepted
call is appended, one JSON object a line, to $KILN_TEST_ASG_LOG:
  {"action": "complete"|"heartbeat", "group", "hook", "instance",
   "result", "time"}
and a CONTINUE moves the instance InService (launch) or Terminating:Proceed.

Run:  moto-lifecycle.py -H 127.0.0.1 -p PORT   (moto.server's arguments)
SetInstanceHealth Unhealthy moves the instance to Terminating:Wait; putting a
launching hook again puts the group's instances back in Pending:Wait.
"""

import json
import os
import sys
import time

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import EmptyResult

LOG = os.environ.get("KILN_TEST_ASG_LOG")


def record(entry):
    entry["time"] = round(time.time(), 3)
    if LOG:
        with open(LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")


def waiting_instance(resp):
    backend = resp.autoscaling_backend
    group_name = resp._get_param("AutoScalingGroupName")
    hook = resp._get_param("LifecycleHookName")
    instance = resp._get_param("InstanceId")
    group = backend.autoscaling_groups.get(group_name)
    if group is None:
        raise ValidationError(f"Group {group_name} not found")
    if f"{group_name}_{hook}" not in backend.lifecycle_hooks:
        raise ValidationError(f"No Lifecycle Hook found with name {hook} for group {group_name}")
    for st in group.instance_states:
        if st.instance.id == instance:
            if not st.lifecycle_state.endswith(":Wait"):
                raise ValidationError(f"No active Lifecycle Action found with instance ID {instance}")
            return group_name, hook, instance, st
    raise ValidationError(f"No active Lifecycle Action found with instance ID {instance}")


def complete_lifecycle_action(self):
    group, hook, instance, st = waiting_instance(self)
    result = self._get_param("LifecycleActionResult")
    if result not in ("CONTINUE", "ABANDON"):
        raise ValidationError("LifecycleActionResult must be CONTINUE or ABANDON")
    record({"action": "complete", "group": group, "hook": hook, "instance": instance, "result": result})
    if st.lifecycle_state.startswith("Pending"):
        st.lifecycle_state = "InService" if result == "CONTINUE" else "Terminating"
    else:
        st.lifecycle_state = "Terminating:Proceed"
    return EmptyResult()


def record_lifecycle_action_heartbeat(self):
    group, hook, instance, _ = waiting_instance(self)
    record({"action": "heartbeat", "group": group, "hook": hook, "instance": instance, "result": None})
    return EmptyResult()


_set_health = AutoScalingResponse.set_instance_health


def set_instance_health(self):
    """An instance set Unhealthy is replaced: with a terminating hook it
    waits in Terminating:Wait, as in AWS."""
    out = _set_health(self)
    if self._get_param("HealthStatus") == "Unhealthy":
        instance = self._get_param("InstanceId")
        for group in self.autoscaling_backend.autoscaling_groups.values():
            for st in group.instance_states:
                if st.instance.id == instance:
                    st.lifecycle_state = "Terminating:Wait"
    return out


_put_hook = AutoScalingResponse.put_lifecycle_hook


def put_lifecycle_hook(self):
    out = _put_hook(self)
    if self._get_param("LifecycleTransition") == "autoscaling:EC2_INSTANCE_LAUNCHING":
        group = self.autoscaling_backend.autoscaling_groups.get(self._get_param("AutoScalingGroupName"))
        for st in group.instance_states if group else []:
            st.lifecycle_state = "Pending:Wait"
    return out


AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat
AutoScalingResponse.set_instance_health = set_instance_health
AutoScalingResponse.put_lifecycle_hook = put_lifecycle_hook

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
