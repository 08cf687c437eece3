/* quota.h - the totals of uploads_dir (uploads_max_bytes,
 * uploads_max_files), kept in memory.
 *
 * The totals come from scanning the directory (at start and on reload);
 * each upload then reserves its size before its body is read (the
 * Content-Length, or a chunked body's bytes as they arrive), and commits
 * or releases the reservation when it ends.  Checks count the stored and
 * the reserved together, so uploads running at the same time can never
 * together pass a cap.  One mutex, held for a few additions. */
#ifndef MTH_QUOTA_H
#define MTH_QUOTA_H

#include <stdint.h>

struct quota_caps {
	uint64_t max_bytes; /* 0: no cap */
	uint64_t max_files; /* 0: no cap */
};

struct quota;

struct quota *quota_new(void);
void quota_free(struct quota *q);

/* Count the regular files in DIRFD and their bytes (hidden temporary
 * ".upload-*.tmp" files excluded) and make that the stored total;
 * reservations in flight are kept.  0 or a negative errno. */
int quota_scan(struct quota *q, int dirfd);

/* Reserve one file of BYTES bytes under CAPS: 0, or -EDQUOT when the
 * stored plus the reserved would pass a cap (answer 507; nothing is
 * reserved). */
int quota_reserve(struct quota *q, uint64_t bytes, const struct quota_caps *caps);

/* Reserve MORE bytes for a file already reserved (a chunked body as it
 * arrives): 0, or -EDQUOT (the earlier reservation stays). */
int quota_grow(struct quota *q, uint64_t more, const struct quota_caps *caps);

/* The upload that reserved RESERVED bytes stored STORED bytes (<=
 * RESERVED): the file and its bytes move to the stored totals. */
void quota_commit(struct quota *q, uint64_t reserved, uint64_t stored);

/* The upload that reserved RESERVED bytes failed: give them back. */
void quota_release(struct quota *q, uint64_t reserved);

/* The totals now (for logs and tests). */
void quota_totals(struct quota *q, uint64_t *bytes, uint64_t *files, uint64_t *reserved_bytes,
		  uint64_t *reserved_files);

#endif
