/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

/* the pieces of clamd's protocol that need no socket, so they can be unit-tested */

typedef enum {
	HERALD_CLAMAV_SCAN_VERDICT_CLEAN,
	HERALD_CLAMAV_SCAN_VERDICT_INFECTED,
	HERALD_CLAMAV_SCAN_VERDICT_ERROR,
} HeraldClamavScanVerdict;

const gchar *
herald_clamav_scan_verdict_to_string(HeraldClamavScanVerdict verdict);

GSocketConnectable *
herald_clamav_scan_parse_address(const gchar *address, GError **error);

HeraldClamavScanVerdict
herald_clamav_scan_parse_reply(const gchar *reply, gsize len, gchar **detail);

GVariant *
herald_clamav_scan_verdict_new(HeraldClamavScanVerdict verdict, const gchar *detail);

gchar *
herald_clamav_scan_printable(const gchar *text, gsize len, gsize max);

G_END_DECLS
