/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The pre-authentication budget and the per-address counts of ws-rooms.
 *
 * A Socket.IO session is *pending* from its Engine.IO handshake until its
 * Socket.IO CONNECT carried a valid token. Pending sessions sit in one queue
 * (oldest first) and in a queue of their source address, each client holding
 * its own GList links, so adding, removing and evicting the oldest are O(1).
 * Addresses live in a hash table keyed by the address string; an entry goes
 * as soon as no client refers to it, so the table never holds more entries
 * than there are clients.
 */

typedef struct _HeraldWsRoomsBudget HeraldWsRoomsBudget;
typedef struct _HeraldWsRoomsAddress HeraldWsRoomsAddress;

/* per client, embedded in HeraldWsRoomsClient */
typedef struct {
	HeraldWsRoomsAddress *address; /* (nullable) its source address entry */
	GList pending_link;	       /* in budget->pending while pending */
	GList address_link;	       /* in address->pending while pending */
	gboolean pending;
	gboolean counted; /* counted in address->connections */
} HeraldWsRoomsBudgetEntry;

HeraldWsRoomsBudget *
herald_ws_rooms_budget_new(void);
void
herald_ws_rooms_budget_free(HeraldWsRoomsBudget *self);

void
herald_ws_rooms_budget_set_address(HeraldWsRoomsBudget *self,
				   HeraldWsRoomsBudgetEntry *entry,
				   gpointer client,
				   const gchar *address);
void
herald_ws_rooms_budget_release(HeraldWsRoomsBudget *self, HeraldWsRoomsBudgetEntry *entry);

void
herald_ws_rooms_budget_add_pending(HeraldWsRoomsBudget *self, HeraldWsRoomsBudgetEntry *entry);
void
herald_ws_rooms_budget_remove_pending(HeraldWsRoomsBudget *self, HeraldWsRoomsBudgetEntry *entry);
gpointer
herald_ws_rooms_budget_pick_victim(HeraldWsRoomsBudget *self,
				   const gchar *address,
				   guint64 max_pending,
				   guint64 max_pending_per_address);
void
herald_ws_rooms_budget_count_evicted(HeraldWsRoomsBudget *self);
guint
herald_ws_rooms_budget_get_n_pending(HeraldWsRoomsBudget *self);

gboolean
herald_ws_rooms_budget_address_allows(HeraldWsRoomsBudget *self,
				      const gchar *address,
				      guint64 max_per_address);
void
herald_ws_rooms_budget_count_refused(HeraldWsRoomsBudget *self);
void
herald_ws_rooms_budget_add_connection(HeraldWsRoomsBudget *self, HeraldWsRoomsBudgetEntry *entry);
const gchar *
herald_ws_rooms_budget_entry_get_address(HeraldWsRoomsBudgetEntry *entry);
guint
herald_ws_rooms_budget_get_n_addresses(HeraldWsRoomsBudget *self);

void
herald_ws_rooms_budget_count_too_many_packets(HeraldWsRoomsBudget *self);

void
herald_ws_rooms_budget_add_stats(HeraldWsRoomsBudget *self, GVariantDict *dict);

G_END_DECLS
