/* static_file.h - find the regular file a GET names, beneath a root. */
#ifndef MTH_STATIC_FILE_H
#define MTH_STATIC_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

struct mime_table;

#define STATIC_INDEX "index.html"

struct static_file {
	int fd; /* open O_RDONLY, owned by the caller */
	uint64_t size;
	uint64_t dev; /* with ino: which file this fd is */
	uint64_t ino; /* with size and mtime: the ETag */
	time_t mtime;
	long mtime_nsec;
	const char *content_type; /* lives as long as the site */
	bool attachment;	  /* send Content-Disposition: attachment */
	bool is_index;		  /* REL is a directory: this is its index.html */
	char name[256];		  /* last path segment, for Content-Disposition */
};

/* What a file's name says about how to serve it: the MIME table, and the
 * extensions (lower-case, no dot) served as attachments; none for the
 * uploads directory, whose files are always JSON.  Both live as long as the
 * configuration generation (the site) that owns them. */
struct static_file_types {
	const struct mime_table *mime;
	char *const *download_extensions;
	size_t n_download_extensions;
};

/* Is EXT (lower-case, no dot) one of T's download extensions? */
bool static_file_is_download(const struct static_file_types *t, const char *ext);

/* Open REL (normalized, relative; "" = root) beneath DIRFD.  A directory
 * serves its index.html; a directory named without a trailing slash is
 * redirected (301) so that relative links in its index resolve.  Only regular
 * files are served.  Returns 200 and fills OUT, or the status to answer:
 * 301 (LOCATION_OUT gets the "/path/" to redirect to), 403 (escape attempt
 * or permission), 404, 414 or 500.  T gives the content type and whether
 * the file is a download. */
int static_file_open(const struct static_file_types *t, int dirfd, const char *rel, int is_dir,
		     struct static_file *out, char *location_out, size_t location_cap);

#endif
