/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <herald.h>
#include <string.h>

#include "herald-files-minio-validate.h"

/* the name the user gave: kept for the object name (after mapping to a safe
 * alphabet) and for Content-Disposition; refused rather than repaired when it
 * tries a path or hides control characters */
gchar *
herald_files_minio_sanitize_filename(const gchar *raw, GError **error)
{
	GString *safe;

	if (raw == NULL || raw[0] == '\0') {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("the file part has no file name"));
		return NULL;
	}
	if (!g_utf8_validate(raw, -1, NULL)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("the file name is not valid UTF-8"));
		return NULL;
	}
	for (const gchar *p = raw; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f) {
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_INVALID_ARGUMENT,
					    /* TRANSLATORS: HTTP 400 */
					    _("the file name contains control characters"));
			return NULL;
		}
		if (*p == '/' || *p == '\\') {
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_INVALID_ARGUMENT,
					    /* TRANSLATORS: HTTP 400 */
					    _("the file name contains a path separator"));
			return NULL;
		}
	}
	if (strstr(raw, "..") != NULL) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("the file name contains '..'"));
		return NULL;
	}
	if (strlen(raw) > HERALD_FILES_MINIO_FILENAME_MAX) {
		g_set_error(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400; %u is a number of bytes */
			    _("the file name is longer than %u bytes"),
			    (guint)HERALD_FILES_MINIO_FILENAME_MAX);
		return NULL;
	}
	/* object names use a portable alphabet; spaces and non-ASCII become '_' */
	safe = g_string_new(NULL);
	for (const gchar *p = raw; *p != '\0'; p++) {
		if (g_ascii_isalnum(*p) || *p == '.' || *p == '-' || *p == '_')
			g_string_append_c(safe, *p);
		else if ((guchar)*p < 0x80 || ((guchar)*p & 0xc0) == 0xc0)
			g_string_append_c(safe, '_');
	}
	while (safe->len > 0 && safe->str[0] == '.')
		g_string_erase(safe, 0, 1);
	if (safe->len == 0)
		g_string_append(safe, "file");
	return g_string_free(safe, FALSE);
}

gchar *
herald_files_minio_get_extension(const gchar *filename)
{
	const gchar *dot = strrchr(filename, '.');
	if (dot == NULL || dot == filename || dot[1] == '\0')
		return NULL;
	return g_ascii_strdown(dot, -1);
}

gboolean
herald_files_minio_extension_allowed(const gchar *ext, gchar **allowed)
{
	if (ext == NULL)
		return FALSE;
	for (guint i = 0; allowed != NULL && allowed[i] != NULL; i++) {
		const gchar *a = allowed[i];
		if (a[0] == '.' ? g_ascii_strcasecmp(a, ext) == 0
				: g_ascii_strcasecmp(a, ext + 1) == 0)
			return TRUE;
	}
	return FALSE;
}

const gchar *
herald_files_minio_content_type_for(const gchar *ext)
{
	if (g_strcmp0(ext, ".xlsx") == 0)
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
	if (g_strcmp0(ext, ".xls") == 0)
		return "application/vnd.ms-excel";
	if (g_strcmp0(ext, ".csv") == 0)
		return "text/csv";
	return "application/octet-stream";
}

/* <uuid>-<safe name>: unique, flat (no '/'), and only [A-Za-z0-9._-] */
gchar *
herald_files_minio_object_name_new(const gchar *safe_filename)
{
	g_autofree gchar *uuid = g_uuid_string_random();
	return g_strdup_printf("%s-%s", uuid, safe_filename);
}

gboolean
herald_files_minio_object_name_is_valid(const gchar *name)
{
	gsize len = strlen(name);
	if (len == 0 || len > 255 || name[0] == '.' || name[0] == '-')
		return FALSE;
	if (strstr(name, "..") != NULL)
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
			return FALSE;
	}
	return TRUE;
}

/* the rest of the URL path, still percent-encoded: decode once and check that
 * the result is a flat name of the generated alphabet */
gchar *
herald_files_minio_object_name_parse(const gchar *encoded, GError **error)
{
	g_autofree gchar *name = NULL;
	if (encoded == NULL || encoded[0] == '\0') {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("the object name is missing"));
		return NULL;
	}
	name = g_uri_unescape_string(encoded, NULL);
	if (name == NULL || !herald_files_minio_object_name_is_valid(name)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("invalid object name: only letters, digits, '.', '-' and '_' "
				      "are allowed, without '..' or '/'"));
		return NULL;
	}
	return g_steal_pointer(&name);
}

void
herald_files_minio_sniffer_init(HeraldFilesMinioSniffer *self)
{
	memset(self, 0, sizeof(*self));
	self->text_ok = TRUE;
}

void
herald_files_minio_sniffer_update(HeraldFilesMinioSniffer *self, const guint8 *data, gsize len)
{
	gsize off = 0;

	if (self->head_len < sizeof(self->head)) {
		gsize n = MIN(len, sizeof(self->head) - self->head_len);
		memcpy(self->head + self->head_len, data, n);
		self->head_len += n;
	}
	if (!self->text_ok)
		return;
	if (memchr(data, '\0', len) != NULL) {
		self->text_ok = FALSE;
		return;
	}
	/* complete a character split over the previous chunk */
	while (self->n_pending > 0 && off < len) {
		const gchar *end = NULL;
		self->pending[self->n_pending++] = data[off++];
		if (g_utf8_validate((const gchar *)self->pending, (gssize)self->n_pending, &end)) {
			self->n_pending = 0;
			break;
		}
		if (end != (const gchar *)self->pending || self->n_pending >= 4) {
			self->text_ok = FALSE;
			return;
		}
	}
	if (off < len) {
		const gchar *end = NULL;
		const gchar *start = (const gchar *)data + off;
		gsize rest = len - off;
		if (!g_utf8_validate(start, (gssize)rest, &end)) {
			gsize tail = rest - (end - start);
			/* an incomplete character at the end may continue in the next chunk */
			if (tail >= 4 ||
			    g_utf8_get_char_validated(end, (gssize)tail) != (gunichar)-2) {
				self->text_ok = FALSE;
				return;
			}
			memcpy(self->pending, end, tail);
			self->n_pending = tail;
		}
	}
}

static guint32
herald_le32(const guint8 *p)
{
	return (guint32)p[0] | ((guint32)p[1] << 8) | ((guint32)p[2] << 16) | ((guint32)p[3] << 24);
}

static guint16
herald_le16(const guint8 *p)
{
	return (guint16)(p[0] | (p[1] << 8));
}

/* read the zip central directory (end of the file) and look for entry names;
 * bounded reads only, the archive is never unpacked */
gboolean
herald_files_minio_zip_has_entries(const gchar *path, const gchar *const *names, GError **error)
{
	g_autoptr(GFile) file = g_file_new_for_path(path);
	g_autoptr(GFileInputStream) stream = g_file_read(file, NULL, error);
	g_autoptr(GFileInfo) info = NULL;
	g_autofree guint8 *tail = NULL;
	g_autofree guint8 *cd = NULL;
	goffset size;
	gsize tail_len;
	gsize got = 0;
	gssize eocd = -1;
	guint32 cd_size, cd_off;
	guint16 n_entries;
	guint found = 0;
	guint n_names = g_strv_length((gchar **)names);

	if (stream == NULL)
		return FALSE;
	info = g_file_input_stream_query_info(stream, G_FILE_ATTRIBUTE_STANDARD_SIZE, NULL, error);
	if (info == NULL)
		return FALSE;
	size = g_file_info_get_size(info);
	tail_len = (gsize)MIN(size, 65535 + 22);
	tail = g_malloc(tail_len);
	if (!g_seekable_seek(
		G_SEEKABLE(stream), size - (goffset)tail_len, G_SEEK_SET, NULL, error) ||
	    !g_input_stream_read_all(G_INPUT_STREAM(stream), tail, tail_len, &got, NULL, error))
		return FALSE;
	for (gssize i = (gssize)got - 22; i >= 0; i--) {
		if (herald_le32(tail + i) == 0x06054b50) {
			eocd = i;
			break;
		}
	}
	if (eocd < 0)
		goto bad;
	n_entries = herald_le16(tail + eocd + 10);
	cd_size = herald_le32(tail + eocd + 12);
	cd_off = herald_le32(tail + eocd + 16);
	if (cd_size > 4 * 1024 * 1024 || (goffset)cd_off + cd_size > size)
		goto bad;
	cd = g_malloc(cd_size + 1);
	if (!g_seekable_seek(G_SEEKABLE(stream), cd_off, G_SEEK_SET, NULL, error) ||
	    !g_input_stream_read_all(G_INPUT_STREAM(stream), cd, cd_size, &got, NULL, error))
		return FALSE;
	if (got != cd_size)
		goto bad;
	for (guint32 off = 0, i = 0; i < n_entries && off + 46 <= cd_size; i++) {
		guint16 name_len, extra_len, comment_len;
		if (herald_le32(cd + off) != 0x02014b50)
			goto bad;
		name_len = herald_le16(cd + off + 28);
		extra_len = herald_le16(cd + off + 30);
		comment_len = herald_le16(cd + off + 32);
		if (off + 46 + name_len > cd_size)
			goto bad;
		for (guint j = 0; j < n_names; j++) {
			if (strlen(names[j]) == name_len &&
			    memcmp(cd + off + 46, names[j], name_len) == 0)
				found |= 1u << j;
		}
		off += 46 + name_len + extra_len + comment_len;
	}
	if (found != (1u << n_names) - 1)
		goto bad;
	return TRUE;
bad:
	g_set_error_literal(error,
			    HERALD_ERROR,
			    HERALD_ERROR_UNSUPPORTED_MEDIA,
			    /* TRANSLATORS: HTTP 415 */
			    _("the content is not an .xlsx workbook (a zip without the OOXML "
			      "workbook parts)"));
	return FALSE;
}

static const guint8 ole2_magic[] = {0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1};

gboolean
herald_files_minio_sniffer_check(HeraldFilesMinioSniffer *self,
				 const gchar *ext,
				 const gchar *path,
				 GError **error)
{
	gboolean uncertain = FALSE;
	g_autofree gchar *guess =
	    g_content_type_guess(NULL, self->head, self->head_len, &uncertain);

	if (self->head_len == 0) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("the file is empty"));
		return FALSE;
	}
	if (g_strcmp0(ext, ".xlsx") == 0) {
		const gchar *parts[] = {"[Content_Types].xml", "xl/workbook.xml", NULL};
		if (self->head_len < 4 || memcmp(self->head, "PK\x03\x04", 4) != 0) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNSUPPORTED_MEDIA,
				    /* TRANSLATORS: HTTP 415; %s is a MIME type */
				    _("the content (%s) does not match the extension .xlsx"),
				    guess);
			return FALSE;
		}
		return herald_files_minio_zip_has_entries(path, parts, error);
	}
	if (g_strcmp0(ext, ".xls") == 0) {
		if (self->head_len < sizeof(ole2_magic) ||
		    memcmp(self->head, ole2_magic, sizeof(ole2_magic)) != 0) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNSUPPORTED_MEDIA,
				    /* TRANSLATORS: HTTP 415; %s is a MIME type */
				    _("the content (%s) does not match the extension .xls"),
				    guess);
			return FALSE;
		}
		return TRUE;
	}
	if (g_strcmp0(ext, ".csv") == 0) {
		if (!self->text_ok || self->n_pending > 0 ||
		    !g_content_type_is_a(guess, "text/plain")) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNSUPPORTED_MEDIA,
				    /* TRANSLATORS: HTTP 415; %s is a MIME type */
				    _("the content (%s) is not UTF-8 text as .csv requires"),
				    guess);
			return FALSE;
		}
		return TRUE;
	}
	/* another configured extension: what the bytes say must be what the name says */
	{
		g_autofree gchar *name = g_strdup_printf("x%s", ext);
		g_autofree gchar *by_name = g_content_type_guess(name, NULL, 0, NULL);
		if (!g_content_type_is_a(guess, by_name)) {
			g_set_error(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNSUPPORTED_MEDIA,
				    /* TRANSLATORS: HTTP 415; first %s is a MIME type, second an
				     * extension */
				    _("the content (%s) does not match the extension %s"),
				    guess,
				    ext);
			return FALSE;
		}
	}
	return TRUE;
}

/**
 * herald_files_minio_base_url_from_listen:
 * @listen: (nullable): the `[host] listen` entries
 * @wildcard: (out): set when the first TCP address listens on every interface
 *
 * The base URL of signed links when `public-url` is empty: the first TCP
 * address Herald listens on (`127.0.0.1:8003` → `http://127.0.0.1:8003`), the
 * loopback for a wildcard address (`*:8003`, `0.0.0.0:8003`, `[::]:8003`), and
 * `http://localhost` when Herald listens on unix sockets only. Never a request
 * header: a client must not choose the host of a link that others will follow.
 *
 * Returns: (transfer full): a base URL without a trailing slash
 */
gchar *
herald_files_minio_base_url_from_listen(gchar **listen, gboolean *wildcard)
{
	*wildcard = FALSE;
	for (guint i = 0; listen != NULL && listen[i] != NULL; i++) {
		const gchar *colon = strrchr(listen[i], ':');
		g_autofree gchar *host = NULL;
		if (g_str_has_prefix(listen[i], "unix:") || colon == NULL)
			continue;
		host = g_strndup(listen[i], colon - listen[i]);
		if (host[0] == '[' && g_str_has_suffix(host, "]")) {
			gchar *tmp = g_strndup(host + 1, strlen(host) - 2);
			g_free(host);
			host = tmp;
		}
		if (host[0] == '\0' || g_strcmp0(host, "*") == 0 ||
		    g_strcmp0(host, "0.0.0.0") == 0) {
			*wildcard = TRUE;
			return g_strdup_printf("http://127.0.0.1%s", colon);
		}
		if (g_strcmp0(host, "::") == 0) {
			*wildcard = TRUE;
			return g_strdup_printf("http://[::1]%s", colon);
		}
		if (strchr(host, ':') != NULL)
			return g_strdup_printf("http://[%s]%s", host, colon);
		return g_strdup_printf("http://%s%s", host, colon);
	}
	return g_strdup("http://localhost");
}

/* public-url: an http(s) URL with a host, no query and no fragment */
gboolean
herald_files_minio_public_url_is_valid(const gchar *url)
{
	g_autoptr(GUri) uri = NULL;
	if (url == NULL || url[0] == '\0')
		return TRUE;
	uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
	if (uri == NULL || g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0' ||
	    g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL ||
	    g_uri_get_userinfo(uri) != NULL)
		return FALSE;
	return g_strcmp0(g_uri_get_scheme(uri), "http") == 0 ||
	       g_strcmp0(g_uri_get_scheme(uri), "https") == 0;
}
