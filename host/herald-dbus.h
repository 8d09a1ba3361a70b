/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "herald-host-private.h"

G_BEGIN_DECLS

#define HERALD_TYPE_DBUS (herald_dbus_get_type())
G_DECLARE_FINAL_TYPE(HeraldDbus, herald_dbus, HERALD, DBUS, GObject)

HeraldDbus *
herald_dbus_new(HeraldHost *host);
void
herald_dbus_start(HeraldDbus *self, GBusType bus_type);
void
herald_dbus_stop(HeraldDbus *self);
void
herald_dbus_refresh(HeraldDbus *self);

G_END_DECLS
