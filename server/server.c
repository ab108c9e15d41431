/* Lookups on the application object (server.h). */
#include <string.h>

#include "server.h"

static int same(const char *s, const char *name, size_t len)
{
	return strlen(s) == len && memcmp(s, name, len) == 0;
}

int server_find_account(const struct server *srv, const char *name, size_t len, int by_id)
{
	if (srv->cfg.n_accounts && same("default", name, len))
		return 0;
	for (size_t i = 0; i < srv->cfg.n_accounts; i++) {
		const struct config_account *a = &srv->cfg.accounts[i];

		if (same(a->email, name, len) || (by_id && same(a->id, name, len)))
			return (int)i;
	}
	return -1;
}
