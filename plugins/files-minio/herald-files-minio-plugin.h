/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

#define HERALD_TYPE_FILES_MINIO_PLUGIN (herald_files_minio_plugin_get_type())
G_DECLARE_FINAL_TYPE(HeraldFilesMinioPlugin,
		     herald_files_minio_plugin,
		     HERALD,
		     FILES_MINIO_PLUGIN,
		     HeraldPlugin)

G_END_DECLS
