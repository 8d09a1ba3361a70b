/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The streaming multipart/form-data parser of files-minio. The body is parsed
 * twice, in one piece and in pieces of pseudo-random sizes: the parts (names,
 * filenames, types, bytes) and the verdict must be the same. Parts that can
 * be written again are, and the rebuilt body must parse to the same parts.
 *
 * Input: byte 0 = seed of the piece sizes, then the Content-Type header value
 * up to a newline, then the body.
 */
#include "config.h"

#include "fuzz-common.h"
#include "herald-files-minio-multipart.h"

typedef struct {
	gchar *name;
	gchar *filename;
	gchar *content_type;
	GByteArray *data;
	gboolean ended;
} Part;

static void
part_free(Part *part)
{
	g_free(part->name);
	g_free(part->filename);
	g_free(part->content_type);
	g_byte_array_unref(part->data);
	g_free(part);
}

static gboolean
collect_begin(const gchar *name,
	      const gchar *filename,
	      const gchar *content_type,
	      gpointer user_data,
	      GError **error)
{
	GPtrArray *parts = user_data;
	Part *part = g_new0(Part, 1);
	g_assert_nonnull(name);
	if (parts->len > 0)
		g_assert_true(((Part *)g_ptr_array_index(parts, parts->len - 1))->ended);
	part->name = g_strdup(name);
	part->filename = g_strdup(filename);
	part->content_type = g_strdup(content_type);
	part->data = g_byte_array_new();
	g_ptr_array_add(parts, part);
	return TRUE;
}

static gboolean
collect_data(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	GPtrArray *parts = user_data;
	Part *part;
	g_assert_cmpuint(parts->len, >, 0);
	part = g_ptr_array_index(parts, parts->len - 1);
	g_assert_false(part->ended);
	g_byte_array_append(part->data, data, (guint)len);
	return TRUE;
}

static gboolean
collect_end(gpointer user_data, GError **error)
{
	GPtrArray *parts = user_data;
	Part *part;
	g_assert_cmpuint(parts->len, >, 0);
	part = g_ptr_array_index(parts, parts->len - 1);
	g_assert_false(part->ended);
	part->ended = TRUE;
	return TRUE;
}

static const HeraldFilesMinioMultipartFuncs funcs = {
	collect_begin,
	collect_data,
	collect_end,
};

/* parses @body in pieces of at most @max_step bytes (0: all at once) */
static gboolean
parse(const gchar *boundary, const guint8 *body, gsize len, guint32 rng, GPtrArray **parts_out)
{
	GPtrArray *parts = g_ptr_array_new_with_free_func((GDestroyNotify)part_free);
	g_autoptr(HeraldFilesMinioMultipart) mp = herald_files_minio_multipart_new(boundary, &funcs, parts);
	g_autoptr(GError) error = NULL;
	gboolean ok = TRUE;

	*parts_out = parts;
	for (gsize off = 0; off < len && ok;) {
		gsize n = len - off;
		if (rng != 0) {
			rng = rng * 1103515245u + 12345u;
			n = MIN(n, 1 + (rng >> 16) % 97);
		}
		ok = herald_files_minio_multipart_feed(mp, body + off, n, &error);
		off += n;
	}
	if (ok)
		ok = herald_files_minio_multipart_finish(mp, &error);
	if (!ok)
		g_assert_nonnull(error);
	else
		g_assert_no_error(error);
	return ok;
}

static void
assert_same_parts(GPtrArray *a, GPtrArray *b)
{
	g_assert_cmpuint(a->len, ==, b->len);
	for (guint i = 0; i < a->len; i++) {
		Part *pa = g_ptr_array_index(a, i);
		Part *pb = g_ptr_array_index(b, i);
		g_assert_cmpstr(pa->name, ==, pb->name);
		g_assert_cmpstr(pa->filename, ==, pb->filename);
		g_assert_cmpstr(pa->content_type, ==, pb->content_type);
		g_assert_cmpmem(pa->data->data, pa->data->len, pb->data->data, pb->data->len);
		g_assert_true(pa->ended == pb->ended);
	}
}

static gboolean
is_plain(const gchar *text)
{
	if (text == NULL)
		return TRUE;
	for (const guchar *p = (const guchar *)text; *p != '\0'; p++)
		if (*p < 0x20 || *p == '"' || *p == '\\' || *p == '%' || *p == ';' || *p >= 0x7f)
			return FALSE;
	return TRUE;
}

/* the offset of the first @needle in @hay, or @hay_len */
static gsize
find(const guint8 *hay, gsize hay_len, const gchar *needle, gsize needle_len)
{
	for (gsize i = 0; i + needle_len <= hay_len; i++)
		if (memcmp(hay + i, needle, needle_len) == 0)
			return i;
	return hay_len;
}

/* the body a client would send for @parts, or NULL if one cannot be written back */
static GByteArray *
rebuild(const gchar *boundary, GPtrArray *parts)
{
	g_autoptr(GByteArray) body = g_byte_array_new();
	g_autofree gchar *delimiter = g_strdup_printf("\r\n--%s", boundary);
	gsize dlen = strlen(delimiter);

	for (guint i = 0; i < parts->len; i++) {
		Part *part = g_ptr_array_index(parts, i);
		g_autofree gchar *head = NULL;
		g_autoptr(GByteArray) tail = g_byte_array_new();

		if (!part->ended || !is_plain(part->name) || !is_plain(part->filename) ||
		    !is_plain(part->content_type) || (part->content_type != NULL && part->content_type[0] == '\0'))
			return NULL;
		/* the delimiter must first appear where this part ends */
		g_byte_array_append(tail, part->data->data, part->data->len);
		g_byte_array_append(tail, (const guint8 *)delimiter, (guint)dlen);
		if (find(tail->data, tail->len, delimiter, dlen) != part->data->len)
			return NULL;
		head = g_strdup_printf("--%s\r\nContent-Disposition: form-data; name=\"%s\"%s%s%s%s%s\r\n\r\n",
				       boundary,
				       part->name,
				       part->filename != NULL ? "; filename=\"" : "",
				       part->filename != NULL ? part->filename : "",
				       part->filename != NULL ? "\"" : "",
				       part->content_type != NULL ? "\r\nContent-Type: " : "",
				       part->content_type != NULL ? part->content_type : "");
		if (i > 0)
			g_byte_array_append(body, (const guint8 *)"\r\n", 2);
		g_byte_array_append(body, (const guint8 *)head, (guint)strlen(head));
		g_byte_array_append(body, part->data->data, part->data->len);
	}
	{
		g_autofree gchar *end = g_strdup_printf("%s--%s--\r\n", parts->len > 0 ? "\r\n" : "", boundary);
		if (parts->len == 0)
			return NULL;
		g_byte_array_append(body, (const guint8 *)end, (guint)strlen(end));
	}
	return g_steal_pointer(&body);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_logging();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput in = {data, size};
	guint32 rng = fuzz_take_byte(&in) * 2654435761u + 1;
	g_autofree gchar *content_type = fuzz_take_until(&in, '\n', NULL);
	g_autofree gchar *boundary = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) whole = NULL;
	g_autoptr(GPtrArray) pieces = NULL;
	g_autoptr(GByteArray) again = NULL;
	gboolean ok;

	boundary = herald_files_minio_multipart_get_boundary(content_type, &error);
	if (boundary == NULL) {
		g_assert_nonnull(error);
		return 0;
	}
	g_assert_cmpuint(strlen(boundary), >=, 1);
	g_assert_cmpuint(strlen(boundary), <=, 70);
	ok = parse(boundary, in.data, in.size, 0, &whole);
	g_assert_true(parse(boundary, in.data, in.size, rng, &pieces) == ok);
	if (ok)
		assert_same_parts(whole, pieces);
	if (!ok || (again = rebuild(boundary, whole)) == NULL)
		return 0;
	{
		g_autoptr(GPtrArray) reparsed = NULL;
		if (!parse(boundary, again->data, again->len, rng, &reparsed))
			g_error("a rebuilt body does not parse: %.*s", (gint)again->len, again->data);
		assert_same_parts(whole, reparsed);
	}
	return 0;
}
