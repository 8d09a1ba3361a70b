/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

/* queue order: a higher value is served first */
typedef enum {
	HERALD_NOTIFY_PRIORITY_LOW,
	HERALD_NOTIFY_PRIORITY_NORMAL,
	HERALD_NOTIFY_PRIORITY_HIGH,
	HERALD_NOTIFY_PRIORITY_URGENT,
	HERALD_NOTIFY_PRIORITY_LAST
} HeraldNotifyPriority;

/*
 * accepted: just taken, the first delivery is under way
 * pending: in the retry queue, waiting for next_attempt_at
 * sending: a WhatsApp request is in flight
 * held: `low` and not reached; delivered when the user connects, until expires_at
 * delivered: reached over WebSocket (and, for urgent, WhatsApp did not succeed)
 * sent: accepted by the WhatsApp provider (urgent: also WebSocket when reached)
 * failed: not retryable (no phone, invalid number, 131026, mode=none…)
 * dead: max-attempts reached; in the dead-letter list
 * expired: `low` that nobody picked up within low-ttl-s
 */
typedef enum {
	HERALD_NOTIFY_STATUS_ACCEPTED,
	HERALD_NOTIFY_STATUS_PENDING,
	HERALD_NOTIFY_STATUS_SENDING,
	HERALD_NOTIFY_STATUS_HELD,
	HERALD_NOTIFY_STATUS_DELIVERED,
	HERALD_NOTIFY_STATUS_SENT,
	HERALD_NOTIFY_STATUS_FAILED,
	HERALD_NOTIFY_STATUS_DEAD,
	HERALD_NOTIFY_STATUS_EXPIRED,
	HERALD_NOTIFY_STATUS_LAST
} HeraldNotifyStatus;

typedef struct {
	gchar *id;
	gchar *user_id;
	gchar *title;
	gchar *message;
	gchar *type;	       /* one of the known types, or "general" */
	gchar *original_type;  /* (nullable) the caller's type when it was not a known one */
	gchar *language;       /* (nullable) template language override */
	gchar *phone;	       /* (nullable) from the request; never logged nor shown */
	JsonNode *data;	       /* (owned) a JSON object */
	HeraldNotifyPriority priority;
	HeraldNotifyStatus status;
	gchar *reason; /* (nullable) why it failed / is pending */
	gint64 created_at;    /* µs, real time */
	gint64 updated_at;
	gint64 next_attempt_at; /* pending: when the queue takes it again */
	gint64 expires_at;	/* held: when it expires */
	guint attempts;		/* WhatsApp attempts so far */
	gboolean use_template;	/* 131047 seen: text is not allowed, use a template */
	gboolean ws_delivered;
	JsonArray *history; /* (owned) one object per attempt */
	/* runtime only */
	gboolean busy; /* a delivery step is under way (presence, phone, HTTP) */
	gchar *resolved_phone; /* (nullable) the number of the attempt under way */
	gboolean counted_fallback;
	gboolean phone_counted; /* the phone number's rate limit has counted this one */
	gboolean claimed; /* redis: this instance holds herald:notify:lock:<id> */
} HeraldNotifyRecord;

const gchar *
herald_notify_priority_to_string(HeraldNotifyPriority priority);
gboolean
herald_notify_priority_from_string(const gchar *text, HeraldNotifyPriority *out);
const gchar *
herald_notify_status_to_string(HeraldNotifyStatus status);
HeraldNotifyStatus
herald_notify_status_from_string(const gchar *text);
gboolean
herald_notify_status_is_final(HeraldNotifyStatus status);

gboolean
herald_notify_type_is_known(const gchar *type);
gboolean
herald_notify_phone_is_valid(const gchar *phone);

typedef struct {
	gsize max_title_bytes;
	gsize max_message_bytes;
	gsize max_data_bytes;
} HeraldNotifyLimits;

HeraldNotifyRecord *
herald_notify_record_new_from_request(JsonObject *request,
				      const HeraldNotifyLimits *limits,
				      GError **error);
HeraldNotifyRecord *
herald_notify_record_new_from_json(JsonObject *obj, GError **error);
JsonNode *
herald_notify_record_to_json(HeraldNotifyRecord *self, gboolean for_store);
void
herald_notify_record_set_status(HeraldNotifyRecord *self,
				HeraldNotifyStatus status,
				const gchar *reason);
JsonObject *
herald_notify_record_add_attempt(HeraldNotifyRecord *self,
				 const gchar *channel,
				 const gchar *result);
JsonNode *
herald_notify_record_ws_payload(HeraldNotifyRecord *self);
gchar *
herald_notify_record_event_name(HeraldNotifyRecord *self);
void
herald_notify_record_free(HeraldNotifyRecord *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldNotifyRecord, herald_notify_record_free)

gchar *
herald_notify_format_time(gint64 us);

G_END_DECLS
