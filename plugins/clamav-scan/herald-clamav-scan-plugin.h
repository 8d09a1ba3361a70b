/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

#define HERALD_TYPE_CLAMAV_SCAN_PLUGIN (herald_clamav_scan_plugin_get_type())
G_DECLARE_FINAL_TYPE(HeraldClamavScanPlugin,
		     herald_clamav_scan_plugin,
		     HERALD,
		     CLAMAV_SCAN_PLUGIN,
		     HeraldPlugin)

G_END_DECLS
