/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "module.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* Top-level `groups` as cloud-init 22.4's users-groups module reads it
 * (ug_util._normalize_groups): "a, b", a list of names and {group: members}
 * mappings, or one mapping; members a list or "x, y", merged, unique and
 * sorted. Once per instance and before the users, as cloud-init: each group
 * made if missing, each member added that exists then; a member that does
 * not exist (yet) is named in the log and left out, as cloud-init does. */

#define MARKER "groups"

static int add_members(json_t *groups, const char *name, const json_t *members) {
        json_t *list = json_object_get(groups, name), *m;
        size_t i;

        if (!list) {
                list = json_array();
                if (!list || json_object_set_new(groups, name, list) < 0)
                        return -ENOMEM;
        }
        if (json_is_string(members)) {
                const char *s = json_string_value(members);
                while (*s) {
                        size_t n = strcspn(s, ",");
                        _cleanup_free_ char *one = strndup(s, n);
                        char *t = one ? strstrip(one) : NULL;
                        if (!t)
                                return -ENOMEM;
                        if (*t)
                                json_array_append_new(list, json_string(t));
                        s += n + (s[n] == ',');
                }
        }
        json_array_foreach(json_is_array(members) ? members : NULL, i, m)
                if (json_is_string(m))
                        json_array_append(list, m);
        return 0;
}

static int cmp_strings(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Unique and sorted, as util.uniq_merge_sorted(). */
static json_t *sorted_unique(const json_t *list) {
        _cleanup_free_ const char **v = calloc(json_array_size(list) + 1, sizeof(char *));
        json_t *out = json_array(), *m;
        size_t i, n = 0;

        if (!v || !out)
                return json_decref(out), NULL;
        json_array_foreach(list, i, m)
                v[n++] = json_string_value(m);
        qsort(v, n, sizeof(char *), cmp_strings);
        for (i = 0; i < n; i++)
                if (i == 0 || !streq(v[i], v[i - 1]))
                        json_array_append_new(out, json_string(v[i]));
        return out;
}

json_t *system_groups_plan(const json_t *config) {
        const json_t *g = json_object_get(config, "groups"), *item, *members;
        _cleanup_json_ json_t *groups = json_object(), *names = json_array();
        json_t *out = json_array(), *n;
        const char *name;
        size_t i;
        int r = 0;

        if (!groups || !names || !out)
                return json_decref(out), NULL;
        /* "a, b": a list of names. */
        if (json_is_string(g)) {
                r = add_members(groups, "", g);
                json_array_extend(names, json_object_get(groups, ""));
                json_object_del(groups, "");
                g = names;
        }
        json_array_foreach(json_is_array(g) ? g : NULL, i, item) {
                if (r >= 0 && json_is_string(item) && *json_string_value(item))
                        r = add_members(groups, json_string_value(item), NULL);
                else if (json_is_object(item))
                        json_object_foreach((json_t *) item, name, members)
                                if (r >= 0)
                                        r = add_members(groups, name, members);
        }
        if (json_is_object(g))
                json_object_foreach((json_t *) g, name, members)
                        if (r >= 0)
                                r = add_members(groups, name, members);
        if (r < 0)
                return json_decref(out), NULL;
        json_object_foreach(groups, name, n)
                json_array_append_new(out, json_pack("{s:s, s:o}", "name", name, "members", sorted_unique(n)));
        return out;
}

static int apply_group(struct kiln_context *ctx, const json_t *g) {
        const char *name = json_string_value(json_object_get(g, "name"));
        _cleanup_free_ char *gid = NULL, *out = NULL;
        json_t *m;
        size_t i;
        int r, result = 0, added = 0;

        if (system_colon_field("/etc/group", name, 2, &gid) < 0) {
                r = system_run_shadow_tool("groupadd", (char *[]){(char *) name, NULL}, NULL, &out);
                if (r < 0)
                        return kiln_degrade(ctx, "Failed to create group '%s': %s", name,
                                            r == -EIO && out && *out ? out : strerror(-r));
        }
        json_array_foreach(json_object_get(g, "members"), i, m) {
                const char *user = json_string_value(m);
                _cleanup_free_ char *uid = NULL, *mout = NULL;
                if (system_colon_field("/etc/passwd", user, 2, &uid) < 0) {
                        log_warning("Unable to add group member '%s' to group '%s'; user does not exist.", user, name);
                        continue;
                }
                r = system_run_shadow_tool("usermod",
                                           (char *[]){(char *) "-a", (char *) "-G", (char *) name, (char *) user, NULL},
                                           NULL, &mout);
                if (r < 0)
                        result = kiln_degrade(ctx, "Failed to add '%s' to group '%s': %s", user, name,
                                              r == -EIO && mout && *mout ? mout : strerror(-r));
                else
                        added++;
        }
        kiln_record(ctx, json_pack("{s:s, s:s, s:s, s:i}", "name", "group", "group", name, "result",
                                   result ? "failed" : "ok", "members_added", added));
        return result;
}

int system_apply_groups(struct kiln_context *ctx, const json_t *groups) {
        json_t *g;
        size_t i;
        int r, result = 0;

        if (json_array_size(groups) == 0)
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARKER);
        if (r <= 0) {
                if (r == 0)
                        kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", MARKER, "result", "skipped", "frequency",
                                                   "per-instance"));
                return r < 0 ? kiln_fail(ctx, r, "Not making groups: %s", strerror(-r)) : 0;
        }
        json_array_foreach(groups, i, g)
                result = apply_group(ctx, g) ?: result;
        r = state_mark_done(ctx, FREQ_INSTANCE, MARKER);
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that groups were made: %s", strerror(-r)) : result;
}
