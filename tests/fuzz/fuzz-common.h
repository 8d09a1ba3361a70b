/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every libFuzzer target shares: quiet logs (warnings about bad input
 * are the expected outcome, printing them would only slow the fuzzer down),
 * but a critical (a g_return_if_fail() that fired) or an error aborts, so
 * that libFuzzer records the input as a crash.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int
LLVMFuzzerInitialize(int *argc, char ***argv);

static GLogWriterOutput
fuzz_log_writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	if (log_level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) {
		g_log_writer_standard_streams(log_level, fields, n_fields, user_data);
		abort();
	}
	return G_LOG_WRITER_HANDLED;
}

static inline void
fuzz_init_logging(void)
{
	g_log_set_writer_func(fuzz_log_writer, NULL, NULL);
}

/* a NUL-terminated copy of the input (most parsers take C strings) */
static inline gchar *
fuzz_strndup(const uint8_t *data, size_t size)
{
	gchar *text = g_malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

/* consumes the input from the front: a small number, a string up to a separator */
typedef struct {
	const uint8_t *data;
	size_t size;
} FuzzInput;

static inline guint
fuzz_take_byte(FuzzInput *in)
{
	guint b;
	if (in->size == 0)
		return 0;
	b = in->data[0];
	in->data++;
	in->size--;
	return b;
}

/* the bytes up to @sep (not included) or to the end; the separator is used up */
static inline gchar *
fuzz_take_until(FuzzInput *in, guint8 sep, gsize *len)
{
	const uint8_t *end = memchr(in->data, sep, in->size);
	gsize n = end != NULL ? (gsize)(end - in->data) : in->size;
	gchar *text = fuzz_strndup(in->data, n);
	in->data += n;
	in->size -= n;
	if (end != NULL) {
		in->data++;
		in->size--;
	}
	if (len != NULL)
		*len = n;
	return text;
}

/* KNOWN (reported): json-glib 1.6 decodes a lone UTF-16 surrogate escape
 * ("\\ud800") into bytes that are not UTF-8, writes them out raw and then
 * refuses them; inputs with such an escape are not checked further */
static inline gboolean
has_surrogate_escape(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + 3 < size; i++)
		if (data[i] == '\\' && data[i + 1] == 'u' && (data[i + 2] == 'd' || data[i + 2] == 'D') &&
		    strchr("89abcdefABCDEF", data[i + 3]) != NULL)
			return TRUE;
	return FALSE;
}
