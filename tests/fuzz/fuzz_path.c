/* fuzz_path.c - libFuzzer target for path_normalize() (src/path.c).
 *
 * Checks the contract of path.h on every input: an accepted path is
 * relative, has no empty, "." or ".." segment and none of the forbidden
 * bytes; an error leaves OUT empty; a smaller OUT changes nothing but the
 * -ENAMETOOLONG verdict. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ok(const char *out, int ret)
{
	size_t seg = 0;

	CHECK((size_t)ret == strlen(out));
	CHECK(out[0] != '/');
	CHECK(ret == 0 || out[ret - 1] != '/');
	for (int i = 0; i <= ret; i++) {
		unsigned char c = (unsigned char)out[i];

		if (i == ret || c == '/') {
			size_t n = (size_t)i - seg;

			if (ret > 0) {
				CHECK(n > 0); /* no "//" */
				CHECK(!(n == 1 && out[seg] == '.'));
				CHECK(!(n == 2 && out[seg] == '.' && out[seg + 1] == '.'));
			}
			seg = (size_t)i + 1;
			continue;
		}
		CHECK(c >= 0x20 && c != 0x7f && c != '\\');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[8192], small[24], ext[16];
	char *in = malloc(size ? size : 1);
	int is_dir = -1, is_dir2 = -1, ret, ret2;

	CHECK(in);
	memcpy(in, data, size);
	ret = path_normalize(in, size, out, sizeof(out), &is_dir);
	if (ret >= 0) {
		check_ok(out, ret);
		CHECK(is_dir == 0 || is_dir == 1);
		path_extension(out, ext, sizeof(ext));
		CHECK(strlen(ext) < sizeof(ext));
		CHECK(strlen(path_basename(out)) <= (size_t)ret);
	} else {
		CHECK(ret == -EINVAL || ret == -EACCES || ret == -ENAMETOOLONG);
		CHECK(out[0] == '\0');
	}

	ret2 = path_normalize(in, size, small, sizeof(small), &is_dir2);
	if (ret2 >= 0) {
		check_ok(small, ret2);
		CHECK(ret == ret2 && strcmp(out, small) == 0 && is_dir == is_dir2);
	} else {
		CHECK(small[0] == '\0');
		/* the first problem decides: with less room that may be the
		 * length, found before a problem further right */
		CHECK(ret2 == ret || ret2 == -ENAMETOOLONG);
		CHECK(ret < 0 || ret >= (int)sizeof(small) - 1);
	}
	/* IS_DIR may be NULL */
	CHECK(path_normalize(in, size, out, sizeof(out), NULL) == ret);
	free(in);
	return 0;
}
