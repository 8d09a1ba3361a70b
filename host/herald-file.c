/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "herald-file-private.h"

/**
 * herald_file_read_bounded:
 * @too_big: (out): set when the file has more than @max bytes
 * @errsv: (out): the errno of a failed open() or read(), else 0
 *
 * Reads a whole configuration file (a secret, a key) without trusting it: at
 * most @max bytes are kept, and O_NONBLOCK keeps a FIFO without a writer from
 * hanging the daemon. The caller words the errors.
 *
 * Returns: (nullable): the contents, or %NULL with *@too_big or *@errsv set
 */
GBytes *
herald_file_read_bounded(const gchar *filename, gsize max, gboolean *too_big, gint *errsv)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	gint fd;

	*too_big = FALSE;
	*errsv = 0;
	fd = g_open(filename, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0) {
		*errsv = errno;
		return NULL;
	}
	for (;;) {
		guint8 chunk[4096];
		gssize n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*errsv = errno;
			g_close(fd, NULL);
			return NULL;
		}
		if (n == 0)
			break;
		g_byte_array_append(buf, chunk, (guint)n);
		if (buf->len > max) {
			*too_big = TRUE;
			g_close(fd, NULL);
			return NULL;
		}
	}
	g_close(fd, NULL);
	return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}
