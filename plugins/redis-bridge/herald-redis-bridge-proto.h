/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

/* `[redis-bridge] url`: redis://[:password@]host:port/db or unix:/path[?db=N] */
typedef struct {
	gchar *host; /* (nullable): NULL for a unix socket */
	guint16 port;
	gchar *path;	 /* (nullable): the unix socket */
	gchar *username; /* (nullable): Redis 6 ACL user */
	gchar *password; /* (nullable): from the URL, overridden by password/-file/env */
	guint db;
} HeraldRedisUrl;

HeraldRedisUrl *
herald_redis_url_parse(const gchar *text, GError **error);
void
herald_redis_url_free(HeraldRedisUrl *url);
gchar *
herald_redis_url_describe(const HeraldRedisUrl *url);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldRedisUrl, herald_redis_url_free)

/* the envelope other Herald instances recognise:
 * {"_herald":{"v":1,"id","origin","ts","type"},"payload":P} */
#define HERALD_REDIS_ENVELOPE_MEMBER "_herald"

gchar *
herald_redis_envelope_build(HeraldEvent *event);

typedef enum {
	HERALD_REDIS_MESSAGE_RAW,      /* a backend event: the payload itself */
	HERALD_REDIS_MESSAGE_ENVELOPE, /* from a Herald instance */
	HERALD_REDIS_MESSAGE_INVALID_JSON,
	HERALD_REDIS_MESSAGE_NOT_OBJECT,
	HERALD_REDIS_MESSAGE_BAD_ENVELOPE,
	HERALD_REDIS_MESSAGE_TOO_DEEP, /* nested deeper than [host] max-json-depth */
} HeraldRedisMessageKind;

/* parses one Redis message; for RAW and ENVELOPE returns the event in @event */
HeraldRedisMessageKind
herald_redis_message_parse(const gchar *channel, const gchar *data, gsize len, HeraldEvent **event);

/* hiredis reply → JSON (the HERALD_BUS_REQUEST_REDIS result); %NULL + error
 * for a Redis error reply */
JsonNode *
herald_redis_reply_to_json(gpointer reply, GError **error);

/* capped exponential backoff with jitter: a delay in [d/2, d] where
 * d = min(max_ms, min_ms * 2^attempt) */
guint
herald_redis_backoff_ms(guint attempt, guint min_ms, guint max_ms, GRand *rand);

/* bounded set of recently seen event ids (duplicates from overlapping patterns
 * or replays after a reconnect) */
typedef struct _HeraldRedisSeen HeraldRedisSeen;
HeraldRedisSeen *
herald_redis_seen_new(guint capacity);
void
herald_redis_seen_free(HeraldRedisSeen *seen);
gboolean
herald_redis_seen_check_and_add(HeraldRedisSeen *seen, const gchar *id);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HeraldRedisSeen, herald_redis_seen_free)

G_END_DECLS
