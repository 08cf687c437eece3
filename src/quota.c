/* quota.c - stored and reserved totals of uploads_dir (see quota.h). */
#include "quota.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upload.h"

struct quota {
	pthread_mutex_t lock;
	uint64_t bytes, files;                   /* stored */
	uint64_t reserved_bytes, reserved_files; /* uploads in flight */
};

struct quota *quota_new(void)
{
	struct quota *q = calloc(1, sizeof(*q));

	if (q)
		pthread_mutex_init(&q->lock, NULL);
	return q;
}

void quota_free(struct quota *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int quota_scan(struct quota *q, int dir_fd)
{
	uint64_t bytes = 0, files = 0;
	struct dirent *de;
	struct stat st;
	DIR *d = upload_opendir(dir_fd);
	int r = 0;

	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = errno ? -errno : 0;
			break;
		}
		if (de->d_name[0] == '.' && (upload_temp_name(de->d_name) || !strcmp(de->d_name, ".") ||
					     !strcmp(de->d_name, "..")))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			r = -errno;
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		files++;
		bytes += (uint64_t)st.st_size;
	}
	closedir(d);
	if (r < 0)
		return r;
	pthread_mutex_lock(&q->lock);
	q->bytes = bytes;
	q->files = files;
	pthread_mutex_unlock(&q->lock);
	return 0;
}

/* Called with the lock held. */
static bool fits(const struct quota *q, uint64_t bytes, uint64_t files,
		 const struct quota_caps *caps)
{
	uint64_t b = q->bytes + q->reserved_bytes, f = q->files + q->reserved_files;

	if (caps->max_bytes && (b > caps->max_bytes || bytes > caps->max_bytes - b))
		return false;
	if (caps->max_files && (f > caps->max_files || files > caps->max_files - f))
		return false;
	return true;
}

int quota_reserve(struct quota *q, uint64_t bytes, const struct quota_caps *caps)
{
	int r = -EDQUOT;

	pthread_mutex_lock(&q->lock);
	if (fits(q, bytes, 1, caps)) {
		q->reserved_bytes += bytes;
		q->reserved_files++;
		r = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

int quota_grow(struct quota *q, uint64_t more, const struct quota_caps *caps)
{
	int r = -EDQUOT;

	pthread_mutex_lock(&q->lock);
	if (fits(q, more, 0, caps)) {
		q->reserved_bytes += more;
		r = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

static void unreserve(struct quota *q, uint64_t reserved)
{
	q->reserved_bytes -= reserved < q->reserved_bytes ? reserved : q->reserved_bytes;
	if (q->reserved_files)
		q->reserved_files--;
}

void quota_commit(struct quota *q, uint64_t reserved, uint64_t stored)
{
	pthread_mutex_lock(&q->lock);
	unreserve(q, reserved);
	q->bytes += stored;
	q->files++;
	pthread_mutex_unlock(&q->lock);
}

void quota_release(struct quota *q, uint64_t reserved)
{
	pthread_mutex_lock(&q->lock);
	unreserve(q, reserved);
	pthread_mutex_unlock(&q->lock);
}

void quota_totals(struct quota *q, uint64_t *bytes, uint64_t *files, uint64_t *reserved_bytes,
		  uint64_t *reserved_files)
{
	pthread_mutex_lock(&q->lock);
	*bytes = q->bytes;
	*files = q->files;
	*reserved_bytes = q->reserved_bytes;
	*reserved_files = q->reserved_files;
	pthread_mutex_unlock(&q->lock);
}
