/* guard.h - per-client admission, process-wide: the token buckets of
 * rate_limit_requests and rate_limit_uploads and of the verifications of
 * upload credentials, the cache of verified credentials and the upload
 * quota totals.  They outlive configuration generations: a reload changes
 * the rules (read from the config each time), not what clients have used.
 *
 * Every table has a fixed size (ratelimit.h): memory does not grow with
 * the number of clients.  Refusals are logged from here, at most once a
 * second per kind, with the count since the last such line. */
#ifndef MTH_GUARD_H
#define MTH_GUARD_H

#include <stdint.h>

#include "client_key.h"
#include "config.h"

struct auth_cache;
struct quota;

/* Buckets per table, and slots of the credentials cache. */
#define GUARD_REQUEST_CLIENTS 16384
#define GUARD_UPLOAD_CLIENTS 4096
#define GUARD_VERIFY_CLIENTS 4096
#define GUARD_AUTH_CACHE_SLOTS 1024

/* Verifications of upload credentials (crypt_rn, milliseconds each) a
 * client may start: a burst, then one a second.  Cached credentials do
 * not count. */
#define GUARD_VERIFY_BURST 10
#define GUARD_VERIFY_PER_SECOND 1

/* Make the tables (main, before the pool starts).  0 or -ENOMEM. */
int guard_init(void);
/* Free them (main, after the pool stopped). */
void guard_free(void);

/* 0 when client K may go ahead under CFG, else the Retry-After seconds
 * (and the refusal is counted and logged as said above; PEER names the
 * connection in that line). */
uint32_t guard_request(const struct client_key *k, const struct mth_config *cfg,
		       const char *peer);
uint32_t guard_upload(const struct client_key *k, const struct mth_config *cfg,
		      const char *peer);
uint32_t guard_verify(const struct client_key *k, const char *peer);

struct auth_cache *guard_auth_cache(void);
struct quota *guard_quota(void);

#endif
