/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>

#include "herald-clamav-scan-proto.h"

const gchar *
herald_clamav_scan_verdict_to_string(HeraldClamavScanVerdict verdict)
{
	switch (verdict) {
	case HERALD_CLAMAV_SCAN_VERDICT_CLEAN:
		return "clean";
	case HERALD_CLAMAV_SCAN_VERDICT_INFECTED:
		return "infected";
	default:
		return "error";
	}
}

static GSocketConnectable *
herald_clamav_scan_parse_tcp(const gchar *address, const gchar *rest, GError **error)
{
	g_autofree gchar *host = NULL;
	const gchar *port_str;
	guint64 port = 0;

	/* [v6]:port, or host:port with the last colon before the port */
	if (rest[0] == '[') {
		const gchar *end = strchr(rest, ']');
		if (end == NULL || end[1] != ':') {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s is the address */
				    _("'%s' is not tcp:HOST:PORT"),
				    address);
			return NULL;
		}
		host = g_strndup(rest + 1, end - rest - 1);
		port_str = end + 2;
	} else {
		const gchar *colon = strrchr(rest, ':');
		if (colon == NULL) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s is the address */
				    _("'%s' is not tcp:HOST:PORT"),
				    address);
			return NULL;
		}
		host = g_strndup(rest, colon - rest);
		port_str = colon + 1;
	}
	if (host[0] == '\0' || strchr(host, '/') != NULL || strchr(host, ' ') != NULL) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is the address */
			    _("'%s' has no valid host (tcp:HOST:PORT)"),
			    address);
		return NULL;
	}
	if (!g_ascii_string_to_unsigned(port_str, 10, 1, 65535, &port, NULL)) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_CONFIG,
			    /* TRANSLATORS: config error; %s is the port as written */
			    _("port '%s' is not a number from 1 to 65535"),
			    port_str);
		return NULL;
	}
	return g_network_address_new(host, (guint16)port);
}

/**
 * herald_clamav_scan_parse_address:
 * @address: `tcp:HOST:PORT` (HOST may be `[v6]`) or `unix:/absolute/path`
 *
 * Returns: (transfer full): where to connect, or %NULL with %HERALD_ERROR_CONFIG
 *   and a translated message
 */
GSocketConnectable *
herald_clamav_scan_parse_address(const gchar *address, GError **error)
{
	if (address == NULL || address[0] == '\0') {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error */
				    _("must not be empty"));
		return NULL;
	}
	if (g_str_has_prefix(address, "tcp:"))
		return herald_clamav_scan_parse_tcp(address, address + 4, error);
	if (g_str_has_prefix(address, "unix:")) {
		const gchar *path = address + 5;
		if (!g_path_is_absolute(path)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s is the address */
				    _("'%s' needs an absolute socket path (unix:/path)"),
				    address);
			return NULL;
		}
		if (strlen(path) >= 108) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_CONFIG,
				    /* TRANSLATORS: config error; %s is the address */
				    _("'%s': the socket path is longer than 107 bytes"),
				    address);
			return NULL;
		}
		return G_SOCKET_CONNECTABLE(g_unix_socket_address_new(path));
	}
	g_set_error(error,
		    HERALD_ERROR,
		    HERALD_ERROR_CONFIG,
		    /* TRANSLATORS: config error; %s is the address */
		    _("'%s' must start with tcp: or unix: (tcp:127.0.0.1:3310, "
		      "unix:/run/clamav/clamd.ctl)"),
		    address);
	return NULL;
}

/* for logs and verdicts: no control characters, bounded length */
gchar *
herald_clamav_scan_printable(const gchar *text, gsize len, gsize max)
{
	GString *str = g_string_sized_new(MIN(len, max) + 3);
	for (gsize i = 0; i < len && i < max; i++)
		g_string_append_c(str, g_ascii_isprint(text[i]) ? text[i] : '?');
	if (len > max)
		g_string_append(str, "...");
	return g_string_free(str, FALSE);
}

/**
 * herald_clamav_scan_parse_reply:
 * @reply: clamd's answer to INSTREAM, without or with its `\0`
 * @detail: (out): the signature (infected) or the reason (error)
 *
 * `stream: OK`, `stream: NAME FOUND`, `TEXT ERROR` (e.g. `INSTREAM size limit
 * exceeded. ERROR`); anything else is an error quoting the reply.
 */
HeraldClamavScanVerdict
herald_clamav_scan_parse_reply(const gchar *reply, gsize len, gchar **detail)
{
	g_autofree gchar *text = NULL;
	const gchar *body;
	gsize n;

	g_return_val_if_fail(detail != NULL, HERALD_CLAMAV_SCAN_VERDICT_ERROR);

	/* up to the terminator, without trailing whitespace */
	n = 0;
	while (n < len && reply[n] != '\0')
		n++;
	while (n > 0 && g_ascii_isspace(reply[n - 1]))
		n--;
	text = g_strndup(reply, n);
	body = text;
	/* an IDSESSION reply starts with `<id>: ` */
	if (g_ascii_isdigit(body[0])) {
		const gchar *p = body;
		while (g_ascii_isdigit(*p))
			p++;
		if (p[0] == ':' && p[1] == ' ')
			body = p + 2;
	}
	if (g_str_has_prefix(body, "stream: "))
		body += strlen("stream: ");

	if (g_strcmp0(body, "OK") == 0) {
		*detail = NULL;
		return HERALD_CLAMAV_SCAN_VERDICT_CLEAN;
	}
	if (g_str_has_suffix(body, " FOUND") && strlen(body) > strlen(" FOUND")) {
		gsize name_len = strlen(body) - strlen(" FOUND");
		*detail = herald_clamav_scan_printable(body, name_len, 256);
		return HERALD_CLAMAV_SCAN_VERDICT_INFECTED;
	}
	if (g_str_has_suffix(body, " ERROR") && strlen(body) > strlen(" ERROR")) {
		*detail = herald_clamav_scan_printable(body, strlen(body) - strlen(" ERROR"), 256);
		return HERALD_CLAMAV_SCAN_VERDICT_ERROR;
	}
	{
		g_autofree gchar *quoted = herald_clamav_scan_printable(text, strlen(text), 128);
		*detail = g_strdup_printf("unexpected reply from clamd: '%s'", quoted);
	}
	return HERALD_CLAMAV_SCAN_VERDICT_ERROR;
}

/**
 * herald_clamav_scan_verdict_new:
 *
 * Returns: (transfer full): the `a{sv}` of HERALD_BUS_REQUEST_SCAN, not floating
 */
GVariant *
herald_clamav_scan_verdict_new(HeraldClamavScanVerdict verdict, const gchar *detail)
{
	g_auto(GVariantDict) dict = G_VARIANT_DICT_INIT(NULL);
	g_variant_dict_insert(&dict, "verdict", "s", herald_clamav_scan_verdict_to_string(verdict));
	if (verdict == HERALD_CLAMAV_SCAN_VERDICT_INFECTED)
		g_variant_dict_insert(&dict, "signature", "s", detail != NULL ? detail : "");
	else if (verdict == HERALD_CLAMAV_SCAN_VERDICT_ERROR)
		g_variant_dict_insert(&dict, "reason", "s", detail != NULL ? detail : "");
	return g_variant_ref_sink(g_variant_dict_end(&dict));
}
