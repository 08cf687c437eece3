/* static_file.c - open what a GET names: regular files only, never outside
 * the root (openat2 RESOLVE_BENEATH does the enforcing, see path.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mime.h"
#include "path.h"
#include "static_file.h"

static int errno_status(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
		return 404;
	case -EXDEV: /* RESOLVE_BENEATH: the path or a symlink left the root */
	case -ELOOP:
	case -EACCES:
	case -EPERM:
		return 403;
	case -ENAMETOOLONG:
		return 414;
	default:
		return 500;
	}
}

bool static_file_is_download(const struct static_file_types *t, const char *ext)
{
	if (!*ext)
		return false;
	for (size_t i = 0; i < t->n_download_extensions; i++)
		if (strcmp(t->download_extensions[i], ext) == 0)
			return true;
	return false;
}

int static_file_open(const struct static_file_types *t, int dirfd, const char *rel, int is_dir,
		     struct static_file *out, char *location_out, size_t location_cap)
{
	char index_rel[PATH_REL_MAX + sizeof STATIC_INDEX + 1];
	const char *open_rel = rel;
	struct stat st;
	char ext[32];
	int fd, status;

	fd = path_open_beneath(dirfd, rel);
	if (fd < 0)
		return errno_status(fd);
	if (fstat(fd, &st) < 0) {
		status = 500;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		fd = -1;
		if (!is_dir && rel[0]) {
			int n = snprintf(location_out, location_cap, "/%s/", rel);
			return n > 0 && (size_t)n < location_cap ? 301 : 414;
		}
		if ((size_t)snprintf(index_rel, sizeof index_rel, "%s%s" STATIC_INDEX, rel,
				     rel[0] ? "/" : "") >= sizeof index_rel)
			return 414;
		open_rel = index_rel;
		fd = path_open_beneath(dirfd, index_rel);
		if (fd < 0)
			return errno_status(fd);
		if (fstat(fd, &st) < 0) {
			status = 500;
			goto fail;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		status = 404;
		goto fail;
	}
	out->fd = fd;
	out->is_index = open_rel != rel;
	out->size = (uint64_t)st.st_size;
	out->dev = (uint64_t)st.st_dev;
	out->ino = (uint64_t)st.st_ino;
	out->mtime = st.st_mtim.tv_sec;
	out->mtime_nsec = st.st_mtim.tv_nsec;
	snprintf(out->name, sizeof out->name, "%s", path_basename(open_rel));
	path_extension(open_rel, ext, sizeof ext);
	out->attachment = static_file_is_download(t, ext);
	out->content_type = out->attachment ? MIME_DEFAULT_TYPE : mime_lookup(t->mime, ext);
	return 200;
fail:
	if (fd >= 0)
		close(fd);
	return status;
}
