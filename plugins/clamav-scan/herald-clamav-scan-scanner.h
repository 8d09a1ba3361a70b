/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

#include "herald-clamav-scan-proto.h"

G_BEGIN_DECLS

/*
 * HeraldClamavScanScanner: answers scan tasks (HERALD_BUS_REQUEST_SCAN) with clamd's
 * INSTREAM command, one connection per scan (clamd closes it after the verdict),
 * at most pool-size at once and the rest in a bounded FIFO; a PING health check
 * and every scan's outcome are reported through the `health` signal
 * (gboolean reachable, const gchar *reason). Everything runs on the main
 * context with GIO's asynchronous calls; a scan holds one chunk in memory.
 */
#define HERALD_TYPE_CLAMAV_SCAN_SCANNER (herald_clamav_scan_scanner_get_type())
G_DECLARE_FINAL_TYPE(HeraldClamavScanScanner,
		     herald_clamav_scan_scanner,
		     HERALD,
		     CLAMAV_SCAN_SCANNER,
		     GObject)

#define HERALD_CLAMAV_SCAN_CHUNK_SIZE (64 * 1024)

typedef struct {
	guint timeout_s;
	guint64 max_stream_bytes;
	guint pool_size;
	guint queue_size;
	guint health_interval_s;
} HeraldClamavScanScannerLimits;

HeraldClamavScanScanner *
herald_clamav_scan_scanner_new(void);
void
herald_clamav_scan_scanner_configure(HeraldClamavScanScanner *self,
				     GSocketConnectable *connectable,
				     const HeraldClamavScanScannerLimits *limits);
void
herald_clamav_scan_scanner_scan(HeraldClamavScanScanner *self, GTask *task);
void
herald_clamav_scan_scanner_check_health(HeraldClamavScanScanner *self);
void
herald_clamav_scan_scanner_add_stats(HeraldClamavScanScanner *self, GVariantDict *dict);
guint
herald_clamav_scan_scanner_get_in_flight(HeraldClamavScanScanner *self);

void
herald_clamav_scan_scanner_shutdown_async(HeraldClamavScanScanner *self,
					  GCancellable *cancellable,
					  GAsyncReadyCallback callback,
					  gpointer user_data);
gboolean
herald_clamav_scan_scanner_shutdown_finish(HeraldClamavScanScanner *self,
					   GAsyncResult *res,
					   GError **error);

G_END_DECLS
