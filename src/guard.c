/* guard.c - process-wide per-client admission state (see guard.h). */
#include "guard.h"

#include <errno.h>
#include <inttypes.h>

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "quota.h"
#include "ratelimit.h"

enum kind { K_REQUESTS, K_UPLOADS, K_VERIFY, K_COUNT };

static const char *const kind_name[K_COUNT] = {
	"rate_limit_requests",
	"rate_limit_uploads",
	"credential verifications",
};

static struct ratelimit *tables[K_COUNT];
static struct auth_cache *cache;
static struct quota *totals;

/* refusals since the last line, and when that line was (monotonic ms) */
static uint64_t refused[K_COUNT];
static int64_t logged_ms[K_COUNT];

int guard_init(void)
{
	static const size_t sizes[K_COUNT] = { GUARD_REQUEST_CLIENTS, GUARD_UPLOAD_CLIENTS,
					       GUARD_VERIFY_CLIENTS };

	for (size_t i = 0; i < K_COUNT; i++) {
		if (!tables[i])
			tables[i] = ratelimit_new(sizes[i]);
		if (!tables[i])
			goto fail;
	}
	if (!cache)
		cache = auth_cache_new(GUARD_AUTH_CACHE_SLOTS);
	if (!totals)
		totals = quota_new();
	if (!cache || !totals)
		goto fail;
	return 0;

fail:
	guard_free();
	return -ENOMEM;
}

void guard_free(void)
{
	for (size_t i = 0; i < K_COUNT; i++) {
		ratelimit_free(tables[i]);
		tables[i] = NULL;
	}
	auth_cache_free(cache);
	cache = NULL;
	quota_free(totals);
	totals = NULL;
}

/* One line a second at most per kind, with the count it stands for. */
static void note_refusal(enum kind k, const char *peer, uint32_t wait, int64_t now)
{
	int64_t last = __atomic_load_n(&logged_ms[k], __ATOMIC_RELAXED);
	uint64_t n;

	__atomic_add_fetch(&refused[k], 1, __ATOMIC_RELAXED);
	if (now - last < 1000 && last != 0)
		return;
	if (!__atomic_compare_exchange_n(&logged_ms[k], &last, now, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;
	n = __atomic_exchange_n(&refused[k], 0, __ATOMIC_RELAXED);
	log_event(LOG_WARNING, LOG_ID_RATE_LIMITED,
		  LOG_FIELDS(LOG_STR("MTHTTPD_CLIENT", peer), LOG_STR("MTHTTPD_LIMIT", kind_name[k]),
			     LOG_UINT("MTHTTPD_COUNT", n)),
		  "%s: %" PRIu64 " refused with 429 since the last such line (latest: %s, "
		  "Retry-After %" PRIu32 ")",
		  kind_name[k], n, peer, wait);
}

static uint32_t take(enum kind k, const struct client_key *key, uint32_t per, uint32_t interval_ms,
		     uint32_t burst, const char *peer)
{
	const struct ratelimit_rule rule = { .per = per, .interval_ms = interval_ms, .burst = burst };
	int64_t now = mth_clock_ns() / 1000000;
	uint32_t wait;

	if (!per || !tables[k])
		return 0;
	wait = ratelimit_take(tables[k], key, sizeof(*key), client_key_hash(key), &rule, now);
	if (wait)
		note_refusal(k, peer, wait, now);
	return wait;
}

uint32_t guard_request(const struct client_key *k, const struct mth_config *cfg, const char *peer)
{
	return take(K_REQUESTS, k, cfg->rate_limit_requests, 1000, cfg->rate_limit_burst, peer);
}

uint32_t guard_upload(const struct client_key *k, const struct mth_config *cfg, const char *peer)
{
	return take(K_UPLOADS, k, cfg->rate_limit_uploads, 60000, 0, peer);
}

uint32_t guard_verify(const struct client_key *k, const char *peer)
{
	return take(K_VERIFY, k, GUARD_VERIFY_PER_SECOND, 1000, GUARD_VERIFY_BURST, peer);
}

struct auth_cache *guard_auth_cache(void)
{
	return cache;
}

struct quota *guard_quota(void)
{
	return totals;
}
