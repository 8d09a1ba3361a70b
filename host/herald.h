/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* the one header plugins include */
#define __HERALD_H_INSIDE__

#include "herald-auth.h"
#include "herald-bus-topics.h"
#include "herald-bus.h"
#include "herald-config.h"
#include "herald-error.h"
#include "herald-event.h"
#include "herald-host.h"
#include "herald-http.h"
#include "herald-json.h"
#include "herald-plugin.h"
#include "herald-route.h"
#include "herald-uri.h"

#undef __HERALD_H_INSIDE__
