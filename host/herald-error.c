/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <libsoup/soup.h>
#include <json-glib/json-glib.h>

#include "herald-error.h"

typedef struct {
	const gchar *code;	 /* stable machine code, also the D-Bus suffix in CamelCase */
	const gchar *dbus_name;
	guint http_status;
	gushort close_code;
} HeraldErrorInfo;

static const HeraldErrorInfo error_info[] = {
    [HERALD_ERROR_FAILED] = {"internal", "Failed", 500, 1011},
    [HERALD_ERROR_INVALID_ARGUMENT] = {"invalid_argument", "InvalidArgument", 400, 1008},
    [HERALD_ERROR_NOT_FOUND] = {"not_found", "NotFound", 404, 1008},
    [HERALD_ERROR_UNAUTHENTICATED] = {"unauthorized", "Unauthenticated", 401, 4401},
    [HERALD_ERROR_PERMISSION_DENIED] = {"forbidden", "PermissionDenied", 403, 4403},
    [HERALD_ERROR_TOO_LARGE] = {"too_large", "TooLarge", 413, 1009},
    [HERALD_ERROR_RATE_LIMITED] = {"rate_limited", "RateLimited", 429, 4429},
    [HERALD_ERROR_UNAVAILABLE] = {"unavailable", "Unavailable", 503, 1013},
    [HERALD_ERROR_TIMED_OUT] = {"timed_out", "TimedOut", 504, 1011},
    [HERALD_ERROR_TOKEN_EXPIRED] = {"token_expired", "TokenExpired", 401, 4408},
    [HERALD_ERROR_METHOD_NOT_ALLOWED] = {"method_not_allowed", "MethodNotAllowed", 405, 1008},
    [HERALD_ERROR_CONFLICT] = {"conflict", "Conflict", 409, 1008},
    [HERALD_ERROR_UNSUPPORTED_MEDIA] = {"unsupported_media_type", "UnsupportedMedia", 415, 1003},
    [HERALD_ERROR_INFECTED] = {"infected", "Infected", 422, 1008},
    [HERALD_ERROR_CONFIG] = {"config", "Config", 500, 1011},
    [HERALD_ERROR_SERVER_FULL] = {"server_full", "ServerFull", 503, 1013},
    [HERALD_ERROR_SLOW_CONSUMER] = {"slow_consumer", "SlowConsumer", 503, 4008},
    [HERALD_ERROR_SHUTTING_DOWN] = {"shutting_down", "ShuttingDown", 503, 1001},
    [HERALD_ERROR_BAD_GATEWAY] = {"bad_gateway", "BadGateway", 502, 1011},
};

G_STATIC_ASSERT(G_N_ELEMENTS(error_info) == HERALD_ERROR_LAST);

GQuark
herald_error_quark(void)
{
	static GQuark quark = 0;
	if (quark == 0) {
		quark = g_quark_from_static_string("herald-error-quark");
		for (guint i = 0; i < HERALD_ERROR_LAST; i++) {
			g_autofree gchar *name =
			    g_strdup_printf("org.herald.Host1.Error.%s", error_info[i].dbus_name);
			g_dbus_error_register_error(quark, i, name);
		}
	}
	return quark;
}

const gchar *
herald_error_to_code(HeraldError code)
{
	if ((guint)code >= HERALD_ERROR_LAST)
		return error_info[HERALD_ERROR_FAILED].code;
	return error_info[code].code;
}

guint
herald_error_to_http_status(HeraldError code)
{
	if ((guint)code >= HERALD_ERROR_LAST)
		return 500;
	return error_info[code].http_status;
}

gushort
herald_error_to_close_code(HeraldError code)
{
	if ((guint)code >= HERALD_ERROR_LAST)
		return 1011;
	return error_info[code].close_code;
}

/* map foreign errors at the edge, keeping the message */
void
herald_error_convert(GError **perror)
{
	GError *error = (perror != NULL) ? *perror : NULL;

	if (error == NULL || error->domain == HERALD_ERROR)
		return;
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		error->code = HERALD_ERROR_TIMED_OUT;
	} else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
		error->code = HERALD_ERROR_NOT_FOUND;
	} else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED)) {
		error->code = HERALD_ERROR_PERMISSION_DENIED;
	} else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
		   g_error_matches(error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
		   g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE) ||
		   g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
		   g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
		error->code = HERALD_ERROR_UNAVAILABLE;
	} else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		error->code = HERALD_ERROR_SHUTTING_DOWN;
	} else if (error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_NOENT) {
		error->code = HERALD_ERROR_NOT_FOUND;
	} else if (error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_ACCES) {
		error->code = HERALD_ERROR_PERMISSION_DENIED;
	} else if (error->domain == JSON_PARSER_ERROR ||
		   error->domain == G_KEY_FILE_ERROR) {
		error->code = HERALD_ERROR_INVALID_ARGUMENT;
	} else if (error->domain == SOUP_SESSION_ERROR) {
		error->code = HERALD_ERROR_BAD_GATEWAY;
	} else {
		error->code = HERALD_ERROR_FAILED;
	}
	error->domain = HERALD_ERROR;
}
