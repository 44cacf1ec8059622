/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The instance's notices in IMDS, as documented by EC2:
 *   meta-data/spot/instance-action            {"action": "terminate"|"stop"|"hibernate",
 *                                              "time": "2017-09-18T08:22:00Z"}
 *   meta-data/events/recommendations/rebalance {"noticeTime": "2020-10-27T08:22:00Z"}
 *   meta-data/events/maintenance/scheduled     [{"Code", "Description", "EventId",
 *                                               "NotAfter", "NotBefore", "State"}]
 *   meta-data/autoscaling/target-lifecycle-state  InService, Terminated, Warmed:Stopped, ...
 * Each is at most EVENT_MAX_BODY bytes; anything else is -EBADMSG. */

#define EVENT_MAX_BODY (64 * 1024)

enum event_kind {
        EVENT_SPOT_INTERRUPTION,
        EVENT_REBALANCE,
        EVENT_SCHEDULED,
        _EVENT_KIND_MAX,
};

struct lifecycle_event {
        enum event_kind kind;
        char *key; /* what makes it this event and no other: handled once */
        char *time; /* when it takes effect (spot, scheduled) or was noticed (rebalance) */
        char *action; /* spot: terminate/stop/hibernate; scheduled: the event's Code */
        char *json; /* the document (one array element for a scheduled event) */
};

void lifecycle_event_done(struct lifecycle_event *e);
void lifecycle_events_free(struct lifecycle_event *e, size_t n);

/* "spot-interruption", "rebalance-recommendation", "scheduled-maintenance". */
const char *event_kind_name(enum event_kind k);

int event_parse_spot(const char *body, size_t len, struct lifecycle_event *ret);
int event_parse_rebalance(const char *body, size_t len, struct lifecycle_event *ret);
/* The active events of the list (completed and canceled ones are left out). */
int event_parse_scheduled(const char *body, size_t len, struct lifecycle_event **ret, size_t *ret_n);

/* Whether s looks like a target lifecycle state ("InService",
 * "Warmed:Stopped"): letters and ':' only, short. */
bool lifecycle_state_valid(const char *s);
