/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <herald.h>

G_BEGIN_DECLS

#define HERALD_TYPE_NOTIFIER_WHATSAPP_PLUGIN (herald_notifier_whatsapp_plugin_get_type())
G_DECLARE_FINAL_TYPE(HeraldNotifierWhatsappPlugin,
		     herald_notifier_whatsapp_plugin,
		     HERALD,
		     NOTIFIER_WHATSAPP_PLUGIN,
		     HeraldPlugin)

G_END_DECLS
