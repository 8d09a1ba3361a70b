/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <herald.h>
#include <string.h>

#include "herald-files-minio-multipart.h"

typedef enum {
	MP_STATE_PREAMBLE,
	MP_STATE_AFTER_DELIMITER,
	MP_STATE_HEADERS,
	MP_STATE_BODY,
	MP_STATE_DONE,
} HeraldMultipartState;

struct _HeraldFilesMinioMultipart {
	gchar *delimiter; /* "\r\n--" boundary */
	gsize delimiter_len;
	GByteArray *buf;
	HeraldMultipartState state;
	HeraldFilesMinioMultipartFuncs funcs;
	gpointer user_data;
	gboolean in_part;
};

/* the boundary parameter of a multipart/form-data Content-Type (RFC 2046 §5.1.1) */
gchar *
herald_files_minio_multipart_get_boundary(const gchar *content_type, GError **error)
{
	g_autoptr(GHashTable) params = NULL;
	g_autofree gchar *mime = NULL;
	const gchar *boundary;
	const gchar *semi;

	if (content_type == NULL) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNSUPPORTED_MEDIA,
				    /* TRANSLATORS: HTTP 415 */
				    _("the upload must be multipart/form-data"));
		return NULL;
	}
	semi = strchr(content_type, ';');
	params = semi != NULL ? soup_header_parse_semi_param_list(semi + 1)
			      : g_hash_table_new(g_str_hash, g_str_equal);
	mime = g_strndup(content_type, strcspn(content_type, "; \t"));
	if (g_ascii_strcasecmp(mime, "multipart/form-data") != 0) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_UNSUPPORTED_MEDIA,
				    /* TRANSLATORS: HTTP 415 */
				    _("the upload must be multipart/form-data"));
		return NULL;
	}
	boundary = g_hash_table_lookup(params, "boundary");
	if (boundary == NULL || boundary[0] == '\0' || strlen(boundary) > 70) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("multipart/form-data without a valid boundary parameter"));
		return NULL;
	}
	return g_strdup(boundary);
}

HeraldFilesMinioMultipart *
herald_files_minio_multipart_new(const gchar *boundary,
				 const HeraldFilesMinioMultipartFuncs *funcs,
				 gpointer user_data)
{
	HeraldFilesMinioMultipart *self = g_new0(HeraldFilesMinioMultipart, 1);
	self->delimiter = g_strdup_printf("\r\n--%s", boundary);
	self->delimiter_len = strlen(self->delimiter);
	self->buf = g_byte_array_new();
	/* the first delimiter has no CRLF before it: pretend there was one */
	g_byte_array_append(self->buf, (const guint8 *)"\r\n", 2);
	self->funcs = *funcs;
	self->user_data = user_data;
	return self;
}

void
herald_files_minio_multipart_free(HeraldFilesMinioMultipart *self)
{
	g_free(self->delimiter);
	g_byte_array_unref(self->buf);
	g_free(self);
}

static const guint8 *
herald_multipart_memmem(const guint8 *hay, gsize hay_len, const gchar *needle, gsize needle_len)
{
	if (needle_len == 0 || hay_len < needle_len)
		return NULL;
	for (gsize i = 0; i + needle_len <= hay_len; i++) {
		const guint8 *p = memchr(hay + i, needle[0], hay_len - needle_len - i + 1);
		if (p == NULL)
			return NULL;
		if (memcmp(p, needle, needle_len) == 0)
			return p;
		i = p - hay;
	}
	return NULL;
}

static void
herald_multipart_consume(HeraldFilesMinioMultipart *self, gsize len)
{
	g_byte_array_remove_range(self->buf, 0, (guint)len);
}

/* `name="value"; other=x` after the disposition type */
static gchar *
herald_multipart_param(const gchar *header, const gchar *param)
{
	const gchar *p = strchr(header, ';');
	gsize plen = strlen(param);
	while (p != NULL && *p != '\0') {
		p++;
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		if (g_ascii_strncasecmp(p, param, plen) == 0 && p[plen] == '=') {
			GString *value = g_string_new(NULL);
			p += plen + 1;
			if (*p == '"') {
				/* browsers (WHATWG) never escape with '\\': a backslash is a
				 * character of the name, '"' comes as %22 */
				for (p++; *p != '\0' && *p != '"'; p++)
					g_string_append_c(value, *p);
			} else {
				for (; *p != '\0' && *p != ';' && *p != ' ' && *p != '\t'; p++)
					g_string_append_c(value, *p);
			}
			return g_string_free(value, FALSE);
		}
		/* skip this parameter, quotes included */
		while (*p != '\0' && *p != ';') {
			if (*p == '"') {
				for (p++; *p != '\0' && *p != '"'; p++)
					;
				if (*p == '\0')
					break;
			}
			p++;
		}
	}
	return NULL;
}

static gboolean
herald_multipart_headers(HeraldFilesMinioMultipart *self, gsize len, GError **error)
{
	g_autofree gchar *block = NULL;
	g_auto(GStrv) lines = NULL;
	g_autofree gchar *disposition = NULL;
	g_autofree gchar *content_type = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *filename = NULL;

	/* a NUL, a bare CR or LF, or any other control byte: refuse, never cut */
	for (gsize i = 0; i < len; i++) {
		guint8 c = self->buf->data[i];
		gboolean crlf = c == '\r' && i + 1 < len && self->buf->data[i + 1] == '\n';
		gboolean lf = c == '\n' && i > 0 && self->buf->data[i - 1] == '\r';
		if ((c < 0x20 && c != '\t' && !crlf && !lf) || c == 0x7f) {
			g_set_error_literal(
			    error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400 */
			    _("a part header contains a control character (NUL or line break "
			      "in the file name?)"));
			return FALSE;
		}
	}
	block = g_strndup((const gchar *)self->buf->data, len);
	if (!g_utf8_validate(block, -1, NULL)) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("a part header is not valid UTF-8"));
		return FALSE;
	}
	lines = g_strsplit(block, "\r\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		const gchar *colon = strchr(lines[i], ':');
		g_autofree gchar *hname = NULL;
		if (lines[i][0] == '\0')
			continue;
		if (colon == NULL) {
			g_set_error_literal(error,
					    HERALD_ERROR,
					    HERALD_ERROR_INVALID_ARGUMENT,
					    /* TRANSLATORS: HTTP 400 */
					    _("malformed part header in the multipart body"));
			return FALSE;
		}
		hname = g_strstrip(g_strndup(lines[i], colon - lines[i]));
		if (g_ascii_strcasecmp(hname, "Content-Disposition") == 0) {
			g_free(disposition);
			disposition = g_strstrip(g_strdup(colon + 1));
		} else if (g_ascii_strcasecmp(hname, "Content-Type") == 0) {
			g_free(content_type);
			content_type = g_strstrip(g_strdup(colon + 1));
		}
	}
	if (disposition == NULL || g_ascii_strncasecmp(disposition, "form-data", 9) != 0) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("a part has no Content-Disposition: form-data header"));
		return FALSE;
	}
	name = herald_multipart_param(disposition, "name");
	filename = herald_multipart_param(disposition, "filename");
	if (name == NULL) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("a part has no field name"));
		return FALSE;
	}
	self->in_part = TRUE;
	return self->funcs.part_begin(name, filename, content_type, self->user_data, error);
}

static gboolean
herald_multipart_run(HeraldFilesMinioMultipart *self, GError **error)
{
	for (;;) {
		const guint8 *data = self->buf->data;
		gsize len = self->buf->len;
		const guint8 *hit;

		switch (self->state) {
		case MP_STATE_PREAMBLE:
		case MP_STATE_BODY:
			hit = herald_multipart_memmem(
			    data, len, self->delimiter, self->delimiter_len);
			if (hit == NULL) {
				/* keep what could be the start of a delimiter */
				gsize keep = MIN(len, self->delimiter_len - 1);
				gsize emit = len - keep;
				if (emit > 0 && self->state == MP_STATE_BODY &&
				    !self->funcs.part_data(data, emit, self->user_data, error))
					return FALSE;
				herald_multipart_consume(self, emit);
				return TRUE;
			}
			if (self->state == MP_STATE_BODY) {
				if (hit > data && !self->funcs.part_data(
						      data, hit - data, self->user_data, error))
					return FALSE;
				self->in_part = FALSE;
				if (!self->funcs.part_end(self->user_data, error))
					return FALSE;
			}
			herald_multipart_consume(self, (hit - data) + self->delimiter_len);
			self->state = MP_STATE_AFTER_DELIMITER;
			break;
		case MP_STATE_AFTER_DELIMITER: {
			gsize i = 0;
			if (len < 2)
				return TRUE;
			if (data[0] == '-' && data[1] == '-') {
				self->state = MP_STATE_DONE;
				g_byte_array_set_size(self->buf, 0);
				return TRUE;
			}
			/* transport padding, then CRLF */
			while (i < len && (data[i] == ' ' || data[i] == '\t'))
				i++;
			if (i + 2 > len) {
				if (len > 256)
					goto malformed;
				return TRUE;
			}
			if (data[i] != '\r' || data[i + 1] != '\n')
				goto malformed;
			herald_multipart_consume(self, i + 2);
			self->state = MP_STATE_HEADERS;
			break;
		}
		case MP_STATE_HEADERS:
			if (len >= 2 && data[0] == '\r' && data[1] == '\n') {
				/* a part without headers */
				goto malformed;
			}
			hit = herald_multipart_memmem(data, len, "\r\n\r\n", 4);
			if (hit == NULL) {
				if (len > HERALD_FILES_MINIO_MULTIPART_MAX_HEADERS) {
					g_set_error_literal(
					    error,
					    HERALD_ERROR,
					    HERALD_ERROR_INVALID_ARGUMENT,
					    /* TRANSLATORS: HTTP 400 */
					    _("the headers of a part are too long"));
					return FALSE;
				}
				return TRUE;
			}
			if (!herald_multipart_headers(self, hit - data, error))
				return FALSE;
			herald_multipart_consume(self, (hit - data) + 4);
			self->state = MP_STATE_BODY;
			break;
		case MP_STATE_DONE:
			g_byte_array_set_size(self->buf, 0);
			return TRUE;
		}
	}
malformed:
	g_set_error_literal(error,
			    HERALD_ERROR,
			    HERALD_ERROR_INVALID_ARGUMENT,
			    /* TRANSLATORS: HTTP 400 */
			    _("malformed multipart body"));
	return FALSE;
}

gboolean
herald_files_minio_multipart_feed(HeraldFilesMinioMultipart *self,
				  const guint8 *data,
				  gsize len,
				  GError **error)
{
	if (self->state == MP_STATE_DONE)
		return TRUE; /* the epilogue is ignored */
	g_byte_array_append(self->buf, data, (guint)len);
	return herald_multipart_run(self, error);
}

gboolean
herald_files_minio_multipart_finish(HeraldFilesMinioMultipart *self, GError **error)
{
	if (self->state != MP_STATE_DONE) {
		g_set_error_literal(error,
				    HERALD_ERROR,
				    HERALD_ERROR_INVALID_ARGUMENT,
				    /* TRANSLATORS: HTTP 400 */
				    _("the multipart body is truncated: no closing boundary"));
		return FALSE;
	}
	return TRUE;
}
