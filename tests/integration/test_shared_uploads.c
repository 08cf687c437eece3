/* test_shared_uploads.c - uploads_dir without O_TMPFILE, as on NFS or
 * CephFS shared by several nodes behind a load balancer (#15).
 *
 * forced.*: the fallback forced where O_TMPFILE works, by the test switch
 * MTHTTPD_FORCE_NO_TMPFILE=1 (an environment variable the daemon reads
 * once at start; see doc/ARCHITECTURE.md).  Uploads are byte-exact, and
 * an upload that ends badly (invalid JSON, too large, a lost connection,
 * body_timeout) leaves no temporary file.
 *
 * stale.*: a node starting on a directory with leftovers removes only the
 * temporary files named with its own host name; another node's (which may
 * be writing it right now) and an older version's stay.
 *
 * fuse.*, vfat.*: real file systems without O_TMPFILE, mounted in a mount
 * namespace of the test's own.  A FUSE passthrough (bindfs) has no
 * O_TMPFILE and no RENAME_NOREPLACE but hard links: NFS's case, so the
 * fallback links.  vfat (a loop mount of an image made by mkfs.vfat) has
 * neither O_TMPFILE nor hard links but RENAME_NOREPLACE.  Each is skipped,
 * saying why, where the machine cannot mount it (no /dev/fuse or bindfs;
 * no loop devices or no vfat in the kernel). */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TMP_PREFIX ".mthttpd-tmp."
#define FUSE_SUPER_MAGIC 0x65735546
#define MSDOS_SUPER_MAGIC 0x4d44

static struct server srv;
static bool running;
static pid_t fuse_pid;

static void stop(void)
{
	if (running)
		server_stop(&srv);
	running = false;
	if (fuse_pid > 0) {
		kill(fuse_pid, SIGTERM);
		waitpid(fuse_pid, NULL, 0);
		fuse_pid = 0;
	}
}

static void start(struct server_opts *o)
{
	static const char *force[] = { "MTHTTPD_FORCE_NO_TMPFILE=1", NULL };

	signal(SIGPIPE, SIG_IGN);
	if (!o->env)
		o->env = force;
	server_start(&srv, o);
	running = true;
}

/* This machine's name as the daemon puts it into temporary file names. */
static const char *node(void)
{
	static char name[80];
	size_t i;

	cr_assert_eq(gethostname(name, 65), 0);
	name[64] = '\0';
	for (i = 0; name[i]; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			name[i] = '_';
	}
	if (!i)
		strcpy(name, "localhost");
	return name;
}

/* Entries of DIR starting with PREFIX; the first one's name into FIRST. */
static int count_prefixed(const char *dir, const char *prefix, char *first, size_t firstsz)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
			if (!n && first)
				snprintf(first, firstsz, "%s", e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

static int temps(void)
{
	return count_prefixed(srv.uploads, TMP_PREFIX, NULL, 0);
}

/* Wait (at most 5 s) until the uploads directory holds WANT temporary
 * files of this node and this daemon; true if it did. */
static bool wait_own_temps(int want)
{
	char prefix[160];

	snprintf(prefix, sizeof prefix, "%s%s.%ld.", TMP_PREFIX, node(), (long)srv.pid);
	for (int i = 0; i < 250; i++) {
		if (count_prefixed(srv.uploads, prefix, NULL, 0) == want)
			return true;
		usleep(20000);
	}
	return false;
}

/* POST /upload of BODY; the status, and the stored file's name (from the
 * Location) into NAME. */
static int post(const char *body, size_t len, char *name, size_t namesz)
{
	struct http_resp r;
	char loc[100];
	int fd = http_connect(srv.port), st;

	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			 srv.port, len));
	send_some(fd, body, len);
	st = http_read(fd, &r, false) == 0 ? r.status : -1;
	if (name)
		name[0] = '\0';
	if (st > 0) {
		if (name && http_header(&r, "Location", loc, sizeof loc) &&
		    strncmp(loc, "/uploads/", 9) == 0)
			snprintf(name, namesz, "%s", loc + 9);
		http_resp_free(&r);
	}
	close(fd);
	return st;
}

/* A JSON body of about LEN bytes (at least 16), different for each SEED. */
static char *make_body(size_t len, unsigned seed, size_t *outlen)
{
	char *b = malloc(len + 64);
	size_t n;

	cr_assert_not_null(b);
	n = (size_t)sprintf(b, "{\"seed\":%u,\"pad\":\"", seed);
	for (; n < len; n++)
		b[n] = (char)('a' + (n * 7 + seed) % 26);
	n += (size_t)sprintf(b + n, "\"}");
	*outlen = n;
	return b;
}

/* Upload a few bodies (one over several 64 KiB stream buffers): each 201,
 * stored byte-exact under its name, served the same, no temporary file
 * left. */
static void uploads_are_byte_exact(void)
{
	static const size_t sizes[] = { 16, 3000, 200000 };

	for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t len, got;
		char *body = make_body(sizes[i], i, &len), *disk;
		char name[128];
		struct http_resp r;

		cr_assert_eq(post(body, len, name, sizeof name), 201, "upload %u", i);
		cr_assert(name[0], "no Location");
		disk = read_whole(fmt("%s/%s", srv.uploads, name), &got);
		cr_assert_not_null(disk, "%s not stored", name);
		cr_expect(got == len && memcmp(disk, body, len) == 0, "%s: %zu bytes, sent %zu",
			  name, got, len);
		free(disk);
		cr_assert_eq(http_get(&srv, "GET", fmt("/uploads/%s", name), &r), 0);
		cr_expect_eq(r.status, 200);
		cr_expect(r.body_len == len && memcmp(r.body, body, len) == 0);
		http_resp_free(&r);
		free(body);
	}
	cr_expect_eq(temps(), 0, "temporary files left behind");
	cr_expect_eq(server_count_uploads(&srv), 3);
}

/* ---------------------------------------------------------------- forced */

TestSuite(forced, .fini = stop, .timeout = 60);

Test(forced, uploads_are_byte_exact_and_logged)
{
	struct server_opts o = { 0 };

	start(&o);
	cr_expect(server_log_contains(&srv, "forced by MTHTTPD_FORCE_NO_TMPFILE"),
		  "the start does not say which temporary files are used: %s", srv.log);
	uploads_are_byte_exact();
}

/* A body under way lives in this node's named temporary file; whatever
 * ends it badly removes that file. */
Test(forced, failed_uploads_leave_no_temporary_file)
{
	struct server_opts o = { .max_body_size = 65536, .extra = "body_timeout = 1;\n" };
	const char *part = "{\"half\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	struct http_resp r;
	char *big;
	int fd;

	start(&o);
	/* invalid JSON: 400 */
	cr_expect_eq(post("{\"a\":", 5, NULL, 0), 400);
	cr_expect_eq(post("[1,2]x", 6, NULL, 0), 400);
	cr_expect_eq(temps(), 0, "after invalid JSON");

	/* a lost connection in the middle of the body */
	fd = http_connect(srv.port);
	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
			 "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n%s",
			 srv.port, part));
	cr_assert(wait_own_temps(1), "no temporary file %s%s.%ld.* while the body arrives",
		  TMP_PREFIX, node(), (long)srv.pid);
	close(fd);
	cr_expect(wait_own_temps(0), "the temporary file outlived the lost connection");

	/* body_timeout: 408 */
	fd = http_connect(srv.port);
	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
			 "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n%s",
			 srv.port, part));
	cr_assert(wait_own_temps(1));
	cr_assert_eq(http_read(fd, &r, false), 0, "no answer after body_timeout");
	cr_expect_eq(r.status, 408);
	http_resp_free(&r);
	close(fd);
	cr_expect(wait_own_temps(0), "the temporary file outlived the 408");

	/* larger than max_body_size, chunked (so found out on the way): 413 */
	big = malloc(70000);
	cr_assert_not_null(big);
	memset(big, 'y', 70000);
	memcpy(big, "[\"", 2);
	fd = http_connect(srv.port);
	send_str(fd, fmt("POST /upload HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
			 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "%x\r\n",
			 srv.port, 70000));
	send_some(fd, big, 70000);
	send_some(fd, "\r\n0\r\n\r\n", 7);
	cr_assert_eq(http_read(fd, &r, false), 0, "no answer to a body over max_body_size");
	cr_expect_eq(r.status, 413);
	http_resp_free(&r);
	close(fd);
	free(big);
	cr_expect(wait_own_temps(0), "the temporary file outlived the 413");
	cr_expect_eq(temps(), 0);
	cr_expect_eq(server_count_uploads(&srv), 0);
}

/* ----------------------------------------------------------------- stale */

static void plant(const char *dir, const char *name)
{
	int fd = open(fmt("%s/%s", dir, name), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

	cr_assert_geq(fd, 0, "create %s: %s", name, strerror(errno));
	cr_assert_eq(write(fd, "{\"partial", 9), 9);
	close(fd);
}

static void plant_leftovers(struct server *s, void *arg)
{
	(void)arg;
	/* this node's, from two earlier lives of the daemon */
	plant(s->uploads, fmt("%s%s.1.0123456789abcdef", TMP_PREFIX, node()));
	plant(s->uploads, fmt("%s%s.99999.fedcba9876543210", TMP_PREFIX, node()));
	/* another node's, and one whose name only starts like ours */
	plant(s->uploads, TMP_PREFIX "other-node.1.0123456789abcdef");
	plant(s->uploads, fmt("%s%s.example.1.0123456789abcdef", TMP_PREFIX, node()));
	/* an older version's: whose is unknown */
	plant(s->uploads, ".upload-0123456789abcdef.tmp");
}

TestSuite(stale, .fini = stop, .timeout = 60);

Test(stale, start_removes_only_this_nodes_temporary_files)
{
	static const char *plain[] = { NULL };
	struct server_opts o = { .prepare_uploads = plant_leftovers, .env = plain };
	char prefix[160];

	start(&o);
	cr_expect(server_log_contains(&srv, "removed 2 stale temporary upload files of this node"),
		  "no notice of the two removed files in %s", srv.log);
	snprintf(prefix, sizeof prefix, "%s%s.", TMP_PREFIX, node());
	/* ours gone; "<node>.example" is another node */
	cr_expect_eq(count_prefixed(srv.uploads, fmt("%s1.", prefix), NULL, 0), 0);
	cr_expect_eq(count_prefixed(srv.uploads, fmt("%s99999.", prefix), NULL, 0), 0);
	cr_expect_eq(count_prefixed(srv.uploads, fmt("%sexample.", prefix), NULL, 0), 1);
	cr_expect_eq(count_prefixed(srv.uploads, TMP_PREFIX "other-node.", NULL, 0), 1);
	cr_expect_eq(count_prefixed(srv.uploads, ".upload-", NULL, 0), 1);
	/* and the leftovers are neither served nor counted as uploads */
	{
		struct http_resp r;
		cr_assert_eq(http_get(&srv, "GET", "/uploads/.upload-0123456789abcdef.tmp", &r), 0);
		cr_expect_eq(r.status, 404);
		http_resp_free(&r);
	}
}

/* ------------------------------------------------------------------ fuse */

static bool have(const char *tool)
{
	return system(fmt("command -v %s >/dev/null 2>&1", tool)) == 0;
}

static bool mounted_as(const char *dir, long magic)
{
	struct statfs st;

	return statfs(dir, &st) == 0 && (long)st.f_type == magic;
}

/* bindfs in the foreground (its pid is ours to stop; it dies with the
 * test process) over a source directory beside the uploads directory. */
static void mount_fuse(struct server *s, void *arg)
{
	char src[300];

	(void)arg;
	if (access("/dev/fuse", R_OK | W_OK) != 0 || !have("bindfs"))
		cr_skip_test("no FUSE here (/dev/fuse, or bindfs: Debian package bindfs)");
	cr_assert_eq(harness_private_mounts(), 0, "private mount namespace: %s", strerror(errno));
	snprintf(src, sizeof src, "%s/fuse-src", s->dir);
	cr_assert_eq(mkdir(src, 0755), 0);
	fuse_pid = fork();
	cr_assert_geq(fuse_pid, 0);
	if (fuse_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("bindfs", "bindfs", "-f", src, s->uploads, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && !mounted_as(s->uploads, FUSE_SUPER_MAGIC); i++)
		usleep(20000);
	cr_assert(mounted_as(s->uploads, FUSE_SUPER_MAGIC), "bindfs did not mount within 5 s");
	s->mounted = true;
}

TestSuite(fuse, .fini = stop, .timeout = 60);

/* No O_TMPFILE (EOPNOTSUPP), no RENAME_NOREPLACE (EINVAL), hard links:
 * the fallback, found at start without the switch, links. */
Test(fuse, no_o_tmpfile_no_rename_noreplace_links)
{
	static const char *plain[] = { NULL };
	struct server_opts o = { .prepare_uploads = mount_fuse, .env = plain };

	start(&o);
	cr_expect(server_log_contains(&srv, "no O_TMPFILE here"),
		  "the start does not report the missing O_TMPFILE: %s", srv.log);
	uploads_are_byte_exact();
	cr_expect_eq(post("{\"a\":", 5, NULL, 0), 400);
	cr_expect_eq(temps(), 0);
}

/* ------------------------------------------------------------------ vfat */

/* A 16 MiB vfat image, loop-mounted (the loop device is released when the
 * mount goes: autoclear). */
static void mount_vfat(struct server *s, void *arg)
{
	char img[300];
	int st;

	(void)arg;
	if (access("/dev/loop-control", R_OK | W_OK) != 0)
		cr_skip_test("no loop devices here (/dev/loop-control): vfat test not run");
	cr_assert(have("mkfs.vfat"), "mkfs.vfat missing (Debian package dosfstools)");
	cr_assert_eq(harness_private_mounts(), 0, "private mount namespace: %s", strerror(errno));
	snprintf(img, sizeof img, "%s/vfat.img", s->dir);
	cr_assert_eq(system(fmt("truncate -s 16M '%s' && mkfs.vfat -n UPLOADS '%s' >/dev/null", img,
				img)),
		     0);
	st = system(
		fmt("mount -t vfat -o loop,umask=022 '%s' '%s' 2>'%s.err'", img, s->uploads, img));
	if (st != 0) {
		char *err = read_whole(fmt("%s.err", img), NULL);

		if (err && strstr(err, "unknown filesystem type"))
			cr_skip_test("this kernel has no vfat (mount: unknown filesystem type "
				     "'vfat'): vfat test not run");
		if (err && (strstr(err, "loop device") || strstr(err, "/dev/loop")))
			cr_skip_test("no loop device could be set up (a container?): vfat test "
				     "not run");
		cr_assert_fail("mount -o loop of a vfat image failed: %s", err ? err : "?");
	}
	cr_assert(mounted_as(s->uploads, MSDOS_SUPER_MAGIC), "not vfat after the mount");
	s->mounted = true;
}

TestSuite(vfat, .fini = stop, .timeout = 60);

/* No O_TMPFILE, no hard links (EPERM), RENAME_NOREPLACE: the fallback
 * renames. */
Test(vfat, no_o_tmpfile_no_links_renames)
{
	static const char *plain[] = { NULL };
	struct server_opts o = { .prepare_uploads = mount_vfat, .env = plain };

	start(&o);
	cr_expect(server_log_contains(&srv, "no O_TMPFILE here"),
		  "the start does not report the missing O_TMPFILE: %s", srv.log);
	uploads_are_byte_exact();
	cr_expect_eq(post("{\"a\":", 5, NULL, 0), 400);
	cr_expect_eq(temps(), 0);
}
