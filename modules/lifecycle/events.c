/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lifecycle/events.h"
#include "macro.h"
#include "strbuf.h"

#define MAX_SCHEDULED 64
#define MAX_FIELD 256

void lifecycle_event_done(struct lifecycle_event *e) {
        free(e->key);
        free(e->time);
        free(e->action);
        free(e->json);
        *e = (struct lifecycle_event){0};
}

void lifecycle_events_free(struct lifecycle_event *e, size_t n) {
        for (size_t i = 0; e && i < n; i++)
                lifecycle_event_done(&e[i]);
        free(e);
}

const char *event_kind_name(enum event_kind k) {
        static const char *const names[_EVENT_KIND_MAX] = {
                [EVENT_SPOT_INTERRUPTION] = "spot-interruption",
                [EVENT_REBALANCE] = "rebalance-recommendation",
                [EVENT_SCHEDULED] = "scheduled-maintenance",
        };
        return k < _EVENT_KIND_MAX ? names[k] : NULL;
}

static int load(const char *body, size_t len, json_t **ret) {
        json_t *j;

        if (len > EVENT_MAX_BODY)
                return -EBADMSG;
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        if (!j)
                return -EBADMSG;
        *ret = j;
        return 0;
}

/* A string field of at most MAX_FIELD printable ASCII characters: it goes
 * into the hooks' environment and the log. */
static const char *field(const json_t *o, const char *name) {
        const char *s = json_string_value(json_object_get(o, name));

        if (!s || !*s || strlen(s) > MAX_FIELD)
                return NULL;
        for (const char *p = s; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        return NULL;
        return s;
}

static int fill(struct lifecycle_event *e, enum event_kind kind, const json_t *doc, const char *time,
                const char *action, const char *id) {
        *e = (struct lifecycle_event){.kind = kind};
        e->key = strdup_printf("%s %s %s", event_kind_name(kind), id, action ? action : "");
        e->time = strdup(time);
        e->action = action ? strdup(action) : NULL;
        e->json = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        if (!e->key || !e->time || (action && !e->action) || !e->json) {
                lifecycle_event_done(e);
                return -ENOMEM;
        }
        return 0;
}

int event_parse_spot(const char *body, size_t len, struct lifecycle_event *ret) {
        _cleanup_json_ json_t *j = NULL;
        const char *action, *time;
        int r;

        r = load(body, len, &j);
        if (r < 0)
                return r;
        action = field(j, "action");
        time = field(j, "time");
        if (!json_is_object(j) || !action || !time)
                return -EBADMSG;
        return fill(ret, EVENT_SPOT_INTERRUPTION, j, time, action, time);
}

int event_parse_rebalance(const char *body, size_t len, struct lifecycle_event *ret) {
        _cleanup_json_ json_t *j = NULL;
        const char *time;
        int r;

        r = load(body, len, &j);
        if (r < 0)
                return r;
        time = field(j, "noticeTime");
        if (!json_is_object(j) || !time)
                return -EBADMSG;
        return fill(ret, EVENT_REBALANCE, j, time, NULL, time);
}

int event_parse_scheduled(const char *body, size_t len, struct lifecycle_event **ret, size_t *ret_n) {
        _cleanup_json_ json_t *j = NULL;
        struct lifecycle_event *out;
        size_t i, n = 0;
        json_t *e;
        int r;

        r = load(body, len, &j);
        if (r < 0)
                return r;
        if (!json_is_array(j) || json_array_size(j) > MAX_SCHEDULED)
                return -EBADMSG;
        out = calloc(json_array_size(j) + 1, sizeof(*out));
        if (!out)
                return -ENOMEM;
        json_array_foreach(j, i, e) {
                const char *id = field(e, "EventId"), *code = field(e, "Code"), *state = field(e, "State");
                const char *when = field(e, "NotBefore");
                if (!json_is_object(e) || !id || !code || !when) {
                        lifecycle_events_free(out, n);
                        return -EBADMSG;
                }
                /* Completed and canceled events stay listed for a while. */
                if (state && !streq(state, "active"))
                        continue;
                r = fill(&out[n], EVENT_SCHEDULED, e, when, code, id);
                if (r < 0) {
                        lifecycle_events_free(out, n);
                        return r;
                }
                n++;
        }
        *ret = out;
        *ret_n = n;
        return 0;
}

bool lifecycle_state_valid(const char *s) {
        size_t n = 0;

        for (; s && *s; s++, n++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == ':') || n >= 64)
                        return false;
        return n > 0;
}
