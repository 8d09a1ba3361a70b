/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/*
 * A fake WhatsApp Cloud API (and webhook receiver) on loopback, served from its
 * own thread so that the test may block in synchronous HTTP calls. It checks
 * the path, the Bearer token and the JSON body shape of every request and
 * answers as told: "ok" (200 with a wamid), "429" (429 + 130429), "131026"
 * (400), "131047-text" (400 + 131047 for text, ok for templates), "500",
 * "garbage" (200, not JSON) or "hang" (never answers).
 */
typedef struct _FakeProvider FakeProvider;

#define FAKE_TOKEN	   "wa-test-token"
#define FAKE_PHONE_ID	   "1234567890"
#define FAKE_API_VERSION   "v21.0"
#define FAKE_WEBHOOK_PATH  "/hook"

FakeProvider *
fake_provider_new(void);
guint16
fake_provider_get_port(FakeProvider *self);
/* the answer for requests with no scripted answer left */
void
fake_provider_set_default(FakeProvider *self, const gchar *behaviour);
/* answers for the next requests, in order */
void
fake_provider_script(FakeProvider *self, const gchar *first, ...) G_GNUC_NULL_TERMINATED;
guint
fake_provider_get_count(FakeProvider *self);
/* requests whose path, token or body shape was wrong */
guint
fake_provider_get_violations(FakeProvider *self);
/* (transfer full) the body of request @index, as JSON */
JsonNode *
fake_provider_get_body(FakeProvider *self, guint index);
gboolean
fake_provider_wait_count(FakeProvider *self, guint count, guint timeout_ms);
void
fake_provider_free(FakeProvider *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeProvider, fake_provider_free)

G_END_DECLS
