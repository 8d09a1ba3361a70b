/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__HERALD_H_INSIDE__) && !defined(HERALD_COMPILATION)
#error "Only <herald.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

#define HERALD_ERROR herald_error_quark()

/**
 * HeraldError:
 *
 * The one error domain of Herald. Each code has a stable machine name
 * (herald_error_to_code(), used in HTTP error bodies), an HTTP status and a
 * WebSocket close code (herald_error_to_http_status(), herald_error_to_close_code()),
 * and a D-Bus name `org.herald.Host1.Error.<Code>`.
 *
 * Since: 0.1
 */
typedef enum {
	HERALD_ERROR_FAILED,		/* 500 internal */
	HERALD_ERROR_INVALID_ARGUMENT,	/* 400 bad input */
	HERALD_ERROR_NOT_FOUND,		/* 404 */
	HERALD_ERROR_UNAUTHENTICATED,	/* 401, close 4401 */
	HERALD_ERROR_PERMISSION_DENIED, /* 403, close 4403 */
	HERALD_ERROR_TOO_LARGE,		/* 413, close 1009 */
	HERALD_ERROR_RATE_LIMITED,	/* 429, close 4429 */
	HERALD_ERROR_UNAVAILABLE,	/* 503: redis/clamd/S3 down, server full */
	HERALD_ERROR_TIMED_OUT,		/* 504 */
	HERALD_ERROR_TOKEN_EXPIRED,	/* 401, close 4408 */
	HERALD_ERROR_METHOD_NOT_ALLOWED, /* 405 */
	HERALD_ERROR_CONFLICT,		/* 409 */
	HERALD_ERROR_UNSUPPORTED_MEDIA, /* 415 */
	HERALD_ERROR_INFECTED,		/* 422 */
	HERALD_ERROR_CONFIG,		/* invalid configuration */
	HERALD_ERROR_SERVER_FULL,	/* 503, close 1013 */
	HERALD_ERROR_SLOW_CONSUMER,	/* close 4008 */
	HERALD_ERROR_SHUTTING_DOWN,	/* 503, close 1001 */
	HERALD_ERROR_BAD_GATEWAY,	/* 502: upstream answered garbage */
	HERALD_ERROR_LAST
} HeraldError;

GQuark
herald_error_quark(void);
const gchar *
herald_error_to_code(HeraldError code);
guint
herald_error_to_http_status(HeraldError code);
gushort
herald_error_to_close_code(HeraldError code);
void
herald_error_convert(GError **perror);

G_END_DECLS
