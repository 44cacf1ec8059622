/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "strbuf.h"
#include "system/system.h"

/* What the boot would refuse among the keys of passwords.c, power.c and the
 * users' cloud-init rules (no home with keys, ssh_redirect_user), found by
 * building their plans as the boot does: `kiln validate` says it first. */
void system_validate_keys(const json_t *config, struct config_report *rep) {
        _cleanup_json_ json_t *plan = system_plan(config, NULL, 0, system_default_user_name());
        const json_t *pw = json_object_get(plan, "passwords"), *ssh_pwauth = json_object_get(config, "ssh_pwauth");
        const char *power_err = json_string_value(json_object_get(json_object_get(plan, "power_state"), "error"));
        json_t *e;
        size_t i;

        json_array_foreach(json_object_get(pw, "errors"), i, e)
                config_report_warning(rep, "chpasswd.list", "%s", json_string_value(e));
        if (power_err)
                config_report_warning(rep, "power_state", "'power_state': %s", power_err);
        json_array_foreach(json_object_get(plan, "users"), i, e)
                if (json_is_string(json_object_get(e, "error")))
                        config_report_warning(rep, "users", "'users': not creating '%s': %s",
                                              json_string_value(json_object_get(e, "name")),
                                              json_string_value(json_object_get(e, "error")));
        /* cloud-init leaves sshd alone for these, with a warning. */
        if (ssh_pwauth && !json_is_null(ssh_pwauth) && !json_object_get(pw, "ssh_pwauth") &&
            !(json_is_string(ssh_pwauth) && strcasecmp(json_string_value(ssh_pwauth), "unchanged") == 0))
                config_report_warning(rep, "ssh_pwauth",
                                      "'ssh_pwauth': not true or false, sshd's config left unchanged");
}
