/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

#include "herald-notifier-whatsapp-record.h"

G_BEGIN_DECLS

typedef enum {
	HERALD_NOTIFY_MODE_NONE,
	HERALD_NOTIFY_MODE_CLOUD_API,
	HERALD_NOTIFY_MODE_WEBHOOK,
} HeraldNotifyMode;

typedef enum {
	HERALD_NOTIFY_OUTCOME_SENT,	/* the provider took it */
	HERALD_NOTIFY_OUTCOME_RETRY,	/* transient: queue with backoff */
	HERALD_NOTIFY_OUTCOME_TEMPLATE, /* 131047: free text not allowed, use a template */
	HERALD_NOTIFY_OUTCOME_FAIL,	/* permanent */
} HeraldNotifyOutcome;

typedef struct {
	HeraldNotifyOutcome outcome;
	gint64 error_code; /* provider error code, 0 when none */
	guint http_status; /* 0 for transport errors */
	gchar *provider_id; /* (nullable) wamid… */
	gchar *reason;	    /* (nullable) for the history; never a phone number */
} HeraldNotifyResult;

void
herald_notify_result_clear(HeraldNotifyResult *result);

gboolean
herald_notify_cloud_code_is_retryable(gint64 code);
void
herald_notify_classify_cloud(guint http_status,
			     const GError *transport_error,
			     GBytes *body,
			     HeraldNotifyResult *result);
void
herald_notify_classify_webhook(guint http_status,
			       const GError *transport_error,
			       GBytes *body,
			       HeraldNotifyResult *result);

/* @template_name NULL: a text message */
gchar *
herald_notify_build_cloud_body(HeraldNotifyRecord *record,
			       const gchar *phone,
			       const gchar *template_name,
			       const gchar *template_language);
gchar *
herald_notify_build_webhook_body(HeraldNotifyRecord *record, const gchar *phone);

/* µs until the next try after @attempts failed tries: min(cap, base·2^(n−1)),
 * then "equal jitter" (half fixed, half random) */
gint64
herald_notify_backoff_us(guint attempts, guint64 base_s, guint64 cap_s);

gchar *
herald_notify_scrub_digits(const gchar *text, gsize max_len);

G_END_DECLS
