/* site.c - one configuration generation, opened and ready to serve. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "file_cache.h"
#include "host.h"
#include "mime.h"
#include "site.h"
#include "tls.h"

int site_new(struct mth_config *cfg, struct tls_ctx *tls, struct site **out, char *err,
	     size_t errlen)
{
	struct site *s;
	int r;

	s = calloc(1, sizeof *s);
	if (!s) {
		config_free(cfg);
		tls_ctx_free(tls);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->cfg = cfg;
	s->tls = tls;
	s->root_fd = -1;
	s->uploads_fd = -1;
	s->refs = 1;
	s->limits.max_request_line = cfg->max_request_line;
	s->limits.max_header_bytes = cfg->max_header_size;
	s->limits.max_headers = cfg->max_header_count;

	s->root_fd = open(cfg->document_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: document_root '%s': %s", cfg->path,
			 cfg->document_root, strerror(errno));
		goto fail;
	}
	s->uploads_fd = open(cfg->uploads_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->uploads_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: uploads_dir '%s': %s", cfg->path, cfg->uploads_dir,
			 strerror(errno));
		goto fail;
	}
	{
		struct statfs sf;
		s->uploads_in_memory = fstatfs(s->uploads_fd, &sf) == 0 &&
				       (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
	}
	r = host_allow_new(cfg->allowed_hosts, cfg->n_allowed_hosts, &s->hosts, err, errlen);
	if (r < 0)
		goto fail;
	s->mime = mime_table_load(MIME_TYPES_PATH);
	if (!s->mime) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->files_types = (struct static_file_types){
		.mime = s->mime,
		.download_extensions = cfg->download_extensions,
		.n_download_extensions = cfg->n_download_extensions,
	};
	/* uploads are JSON, never served as downloads */
	s->uploads_types = (struct static_file_types){ .mime = s->mime };
	s->files = file_cache_new(&s->files_types, s->root_fd, NULL);
	s->uploads = file_cache_new(&s->uploads_types, s->uploads_fd, NULL);
	if (!s->files || !s->uploads) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	site_unref(s);
	return r;
}

struct site *site_ref(struct site *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void site_unref(struct site *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	file_cache_free(s->files);
	file_cache_free(s->uploads);
	if (s->root_fd >= 0)
		close(s->root_fd);
	if (s->uploads_fd >= 0)
		close(s->uploads_fd);
	mime_table_free(s->mime);
	host_allow_free(s->hosts);
	tls_ctx_free(s->tls);
	config_free((struct mth_config *)s->cfg);
	free(s);
}

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct site *current;
static unsigned current_gen;
static bool current_h2; /* atomic: site_h2_offered() */

void site_publish(struct site *s)
{
	struct site *old;

	pthread_mutex_lock(&current_lock);
	old = current;
	current = s;
	__atomic_store_n(&current_h2, s && s->tls && s->cfg->tls.http2, __ATOMIC_RELAXED);
	__atomic_add_fetch(&current_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&current_lock);
	site_unref(old);
}

struct site *site_acquire(void)
{
	struct site *s;

	pthread_mutex_lock(&current_lock);
	s = current ? site_ref(current) : NULL;
	pthread_mutex_unlock(&current_lock);
	return s;
}

unsigned site_generation(void)
{
	return __atomic_load_n(&current_gen, __ATOMIC_ACQUIRE);
}

bool site_h2_offered(void)
{
	return __atomic_load_n(&current_h2, __ATOMIC_RELAXED);
}
