/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "herald-ws-rooms-budget.h"

struct _HeraldWsRoomsAddress {
	gchar *address; /* the key */
	guint refs;	/* clients that point here */
	guint connections; /* authenticated connections from here */
	GQueue pending;	   /* (element-type client) oldest first, via entry->address_link */
};

struct _HeraldWsRoomsBudget {
	GHashTable *addresses; /* address → HeraldWsRoomsAddress */
	GQueue pending;	       /* (element-type client) oldest first, via entry->pending_link */
	guint64 evicted;
	guint64 refused;
	guint64 too_many_packets; /* polling POSTs over max-packets-per-payload */
};

static void
herald_ws_rooms_address_free(HeraldWsRoomsAddress *address)
{
	g_free(address->address);
	g_free(address);
}

HeraldWsRoomsBudget *
herald_ws_rooms_budget_new(void)
{
	HeraldWsRoomsBudget *self = g_new0(HeraldWsRoomsBudget, 1);
	self->addresses = g_hash_table_new_full(g_str_hash,
						g_str_equal,
						NULL,
						(GDestroyNotify)herald_ws_rooms_address_free);
	return self;
}

void
herald_ws_rooms_budget_free(HeraldWsRoomsBudget *self)
{
	if (self == NULL)
		return;
	g_hash_table_unref(self->addresses);
	g_free(self);
}

/**
 * herald_ws_rooms_budget_set_address:
 * @client: the HeraldWsRoomsClient that embeds @entry
 * @address: (nullable): its source address; %NULL leaves it unaccounted
 *
 * Once per client, before anything else of the budget is used for it.
 */
void
herald_ws_rooms_budget_set_address(HeraldWsRoomsBudget *self,
				   HeraldWsRoomsBudgetEntry *entry,
				   gpointer client,
				   const gchar *address)
{
	HeraldWsRoomsAddress *found;

	entry->pending_link.data = client;
	entry->address_link.data = client;
	if (address == NULL || entry->address != NULL)
		return;
	found = g_hash_table_lookup(self->addresses, address);
	if (found == NULL) {
		found = g_new0(HeraldWsRoomsAddress, 1);
		found->address = g_strdup(address);
		g_hash_table_insert(self->addresses, found->address, found);
	}
	found->refs++;
	entry->address = found;
}

void
herald_ws_rooms_budget_add_pending(HeraldWsRoomsBudget *self, HeraldWsRoomsBudgetEntry *entry)
{
	if (entry->pending)
		return;
	entry->pending = TRUE;
	g_queue_push_tail_link(&self->pending, &entry->pending_link);
	if (entry->address != NULL)
		g_queue_push_tail_link(&entry->address->pending, &entry->address_link);
}

/* authenticated or closed: no longer pending (idempotent) */
void
herald_ws_rooms_budget_remove_pending(HeraldWsRoomsBudget *self, HeraldWsRoomsBudgetEntry *entry)
{
	if (!entry->pending)
		return;
	entry->pending = FALSE;
	g_queue_unlink(&self->pending, &entry->pending_link);
	if (entry->address != NULL)
		g_queue_unlink(&entry->address->pending, &entry->address_link);
}

/* the client is gone: every count it held is given back */
void
herald_ws_rooms_budget_release(HeraldWsRoomsBudget *self, HeraldWsRoomsBudgetEntry *entry)
{
	HeraldWsRoomsAddress *address = entry->address;

	herald_ws_rooms_budget_remove_pending(self, entry);
	if (address == NULL)
		return;
	if (entry->counted)
		address->connections--;
	entry->counted = FALSE;
	entry->address = NULL;
	if (--address->refs == 0)
		g_hash_table_remove(self->addresses, address->address);
}

/**
 * herald_ws_rooms_budget_pick_victim:
 * @address: (nullable): source address of the session about to be added
 *
 * Returns: (nullable): the client to evict before one more pending session
 * from @address fits: the oldest pending session of @address when that
 * address has @max_pending_per_address of them, else the oldest pending
 * session of all when there are @max_pending. The caller must make it
 * non-pending (closing it) before asking again.
 */
gpointer
herald_ws_rooms_budget_pick_victim(HeraldWsRoomsBudget *self,
				   const gchar *address,
				   guint64 max_pending,
				   guint64 max_pending_per_address)
{
	if (address != NULL) {
		HeraldWsRoomsAddress *found = g_hash_table_lookup(self->addresses, address);
		if (found != NULL && found->pending.length > 0 &&
		    found->pending.length >= max_pending_per_address)
			return found->pending.head->data;
	}
	if (self->pending.length > 0 && self->pending.length >= max_pending)
		return self->pending.head->data;
	return NULL;
}

void
herald_ws_rooms_budget_count_evicted(HeraldWsRoomsBudget *self)
{
	self->evicted++;
}

guint
herald_ws_rooms_budget_get_n_pending(HeraldWsRoomsBudget *self)
{
	return self->pending.length;
}

/* %TRUE when one more authenticated connection from @address fits (0 = no limit) */
gboolean
herald_ws_rooms_budget_address_allows(HeraldWsRoomsBudget *self,
				      const gchar *address,
				      guint64 max_per_address)
{
	HeraldWsRoomsAddress *found;
	if (address == NULL || max_per_address == 0)
		return TRUE;
	found = g_hash_table_lookup(self->addresses, address);
	return found == NULL || found->connections < max_per_address;
}

void
herald_ws_rooms_budget_count_refused(HeraldWsRoomsBudget *self)
{
	self->refused++;
}

void
herald_ws_rooms_budget_add_connection(HeraldWsRoomsBudget *self, HeraldWsRoomsBudgetEntry *entry)
{
	if (entry->address == NULL || entry->counted)
		return;
	entry->counted = TRUE;
	entry->address->connections++;
}

/* (nullable) */
const gchar *
herald_ws_rooms_budget_entry_get_address(HeraldWsRoomsBudgetEntry *entry)
{
	return entry->address != NULL ? entry->address->address : NULL;
}

guint
herald_ws_rooms_budget_get_n_addresses(HeraldWsRoomsBudget *self)
{
	return g_hash_table_size(self->addresses);
}

void
herald_ws_rooms_budget_count_too_many_packets(HeraldWsRoomsBudget *self)
{
	self->too_many_packets++;
}

void
herald_ws_rooms_budget_add_stats(HeraldWsRoomsBudget *self, GVariantDict *dict)
{
	g_variant_dict_insert(dict, "pending_sessions", "u", self->pending.length);
	g_variant_dict_insert(dict, "pending_evicted_total", "t", self->evicted);
	g_variant_dict_insert(dict, "refused_per_address_total", "t", self->refused);
	g_variant_dict_insert(dict, "source_addresses", "u", g_hash_table_size(self->addresses));
	g_variant_dict_insert(dict, "eio_payload_too_many_packets_total", "t", self->too_many_packets);
}
