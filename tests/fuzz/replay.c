/* replay.c - run a fuzz target over files without libFuzzer.
 *
 *   replay_<target> [FILE|DIR...]
 *
 * Links with one fuzz_<target>.c and calls its LLVMFuzzerTestOneInput()
 * once per file, so any compiler (gcc, with or without ASan/UBSan or
 * valgrind) can replay the committed corpus and any crash input.  A broken
 * invariant traps and a sanitizer aborts, which fails the run.
 *
 * Without arguments it replays $MTHTTPD_SRCDIR/tests/fuzz/corpus/<target>
 * (<target> from the program's name after "replay_"; FUZZ_CORPUS overrides
 * the directory) and speaks TAP, one "ok" per input, for `make check`.
 * Replaying nothing (an empty or missing corpus) is a failure. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int tap;
static unsigned count;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap) {
			uint8_t *p = realloc(buf, cap = cap ? 2 * cap : 4096);

			if (!p) {
				fclose(f);
				free(buf);
				return -1;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	/* An exact-size copy, as libFuzzer passes it, so that ASan sees any
	 * read past the end. */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (!exact) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	count++;
	if (tap)
		printf("ok %u - %s\n", count, path);
	fflush(stdout);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path)
{
	struct stat st;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	int ret = 0;
	DIR *d;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	d = opendir(path);
	if (!d) {
		perror(path);
		return -1;
	}
	/* sorted, so that TAP numbers always name the same file */
	while ((e = readdir(d))) {
		char **p;

		if (e->d_name[0] == '.')
			continue;
		p = realloc(names, (n + 1) * sizeof(*names));
		if (!p) {
			ret = -1;
			break;
		}
		names = p;
		names[n] = malloc(strlen(path) + strlen(e->d_name) + 2);
		if (!names[n]) {
			ret = -1;
			break;
		}
		sprintf(names[n++], "%s/%s", path, e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (ret == 0 && run_path(names[i]) < 0)
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	int ret = 0;

	if (argc < 2) {
		const char *name = strrchr(argv[0], '/'), *dir = getenv("FUZZ_CORPUS");
		const char *srcdir = getenv("MTHTTPD_SRCDIR");
		static char buf[4096];

		name = name ? name + 1 : argv[0];
		if (strncmp(name, "replay_", 7) == 0)
			name += 7;
		if (!dir) {
			snprintf(buf, sizeof(buf), "%s/tests/fuzz/corpus/%s", srcdir ? srcdir : ".",
				 name);
			dir = buf;
		}
		tap = 1;
		if (run_path(dir) < 0) {
			printf("Bail out! cannot read %s\n", dir);
			return 1;
		}
		/* "1..0" would be a TAP skip: a lost or empty corpus must fail
		 * the run instead of passing with nothing replayed */
		if (count == 0) {
			printf("Bail out! no inputs in %s\n", dir);
			return 1;
		}
		printf("1..%u\n", count);
		return 0;
	}
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i]) < 0)
			ret = 1;
	printf("replayed %u input(s)\n", count);
	if (count == 0) {
		fprintf(stderr, "no inputs\n");
		ret = 1;
	}
	return ret;
}
