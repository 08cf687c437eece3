/* test_htpasswd.c - Criterion tests for src/htpasswd.c. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "htpasswd.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* made with htpasswd -nbB -C 4, mkpasswd -m yescrypt / sha-512 / sha-256 */
#define H_BCRYPT "$2y$04$MtF0OFvR7p/0LqP1Ru/fcOCNQrwU./NBO7wTQnDLTddZHewWinZHG"
#define H_YESCRYPT "$y$j9T$scbJkea.7tsLlFEM7IRh./$Eog0QvrwAI5RSUYECXMtgL8B3gDJvfT8IBz3S8B6RW3"
#define H_SHA512                                                                                   \
	"$6$XHixVXz74T1Fho47$Mk5yzGD3JsKuG/yBu5Ns69yM03v5EgRk37QvlyVnVE1G7FAuW76WbTC5UIg1VAge." \
	"WbX48ejz6c42WXIaAz66/"
#define H_SHA256 "$5$5hlm8MKcemGq8RZw$DJ2hThV./snnjsv.KceZDP36uR2KB8hJF4f/43DHZ1B"

static void fmt(const char *hash, enum htpasswd_format want)
{
	cr_expect_eq(htpasswd_hash_format(hash, strlen(hash)), want, "%s", hash);
}

Test(htpasswd, hash_formats)
{
	fmt(H_BCRYPT, HTPASSWD_BCRYPT);
	fmt("$2b$10$MtF0OFvR7p/0LqP1Ru/fcOCNQrwU./NBO7wTQnDLTddZHewWinZHG", HTPASSWD_BCRYPT);
	fmt(H_YESCRYPT, HTPASSWD_YESCRYPT);
	fmt(H_SHA512, HTPASSWD_SHA512);
	fmt(H_SHA256, HTPASSWD_SHA256);
	fmt("$5$rounds=10000$saltsalt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", HTPASSWD_SHA256);
	fmt("{SHA}6dcfXufJLW3J6S/9rRe4vUlBj5g=", HTPASSWD_WEAK_SHA1);
	fmt("$apr1$MS43wi4j$ueTdsLI6m6QEnnfFYd8Y2/", HTPASSWD_WEAK_APR1);
	fmt("$1$abcdefgh$ueTdsLI6m6QEnnfFYd8Y2/", HTPASSWD_WEAK_MD5);
	fmt(".U3O6WfMqHimg", HTPASSWD_WEAK_DES);
	fmt("secret", HTPASSWD_UNKNOWN);
	fmt("b", HTPASSWD_UNKNOWN);
	/* truncated or damaged */
	fmt("$2y$04$MtF0OFvR7p/0LqP1Ru/fcOCNQrwU./NBO7wTQnDLTddZHewWinZH", HTPASSWD_UNKNOWN);
	fmt("$2y$x4$MtF0OFvR7p/0LqP1Ru/fcOCNQrwU./NBO7wTQnDLTddZHewWinZHG", HTPASSWD_UNKNOWN);
	fmt("$2y$04$MtF0OFvR7p/0LqP1Ru/fcOCNQrwU./NBO7wTQnDLTddZHewWinZH!", HTPASSWD_UNKNOWN);
	fmt("$6$", HTPASSWD_UNKNOWN);
	fmt("$6$salt$", HTPASSWD_UNKNOWN);
	fmt("$6$salt hash", HTPASSWD_UNKNOWN);
	fmt("$y$j9T$a:b", HTPASSWD_UNKNOWN);
	cr_expect(htpasswd_format_ok(HTPASSWD_BCRYPT));
	cr_expect(!htpasswd_format_ok(HTPASSWD_WEAK_DES));
	cr_expect(!htpasswd_format_ok(HTPASSWD_UNKNOWN));
}

static enum htpasswd_line line(const char *l, struct htpasswd_entry *e, const char **why)
{
	return htpasswd_parse_line(l, strlen(l), e, why);
}

Test(htpasswd, lines)
{
	struct htpasswd_entry e;
	const char *why;

	cr_assert_eq(line("alice:" H_BCRYPT, &e, &why), HTPASSWD_LINE_ENTRY);
	cr_expect_eq(e.user_len, 5);
	cr_expect_eq(memcmp(e.user, "alice", 5), 0);
	cr_expect_eq(e.hash_len, strlen(H_BCRYPT));
	cr_expect_eq(e.format, HTPASSWD_BCRYPT);
	cr_assert_eq(line("bob smith:" H_YESCRYPT "\r", &e, &why), HTPASSWD_LINE_ENTRY);
	cr_expect_eq(e.user_len, 9);
	cr_expect_eq(e.hash_len, strlen(H_YESCRYPT), "the \\r is not part of the hash");
	cr_expect_eq(line("", &e, &why), HTPASSWD_LINE_SKIP);
	cr_expect_eq(line("   \t", &e, &why), HTPASSWD_LINE_SKIP);
	cr_expect_eq(line("# comment", &e, &why), HTPASSWD_LINE_SKIP);
	cr_expect_eq(line("  # comment", &e, &why), HTPASSWD_LINE_SKIP);
	cr_expect_eq(line("\r", &e, &why), HTPASSWD_LINE_SKIP);
	cr_expect_eq(line("alice", &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_str_eq(why, "expected user:hash");
	cr_expect_eq(line(":" H_BCRYPT, &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_str_eq(why, "empty user name");
	cr_expect_eq(line("alice:", &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_str_eq(why, "empty hash");
	cr_expect_eq(line("al\x01ice:" H_BCRYPT, &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_str_eq(why, "control character in user name");
	cr_expect_eq(line("a:{SHA}6dcfXufJLW3J6S/9rRe4vUlBj5g=", &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_not_null(strstr(why, "{SHA}"), "%s", why);
	cr_expect_eq(line("a:$apr1$MS43wi4j$ueTdsLI6m6QEnnfFYd8Y2/", &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_not_null(strstr(why, "$apr1$"), "%s", why);
	cr_expect_eq(line("a:.U3O6WfMqHimg", &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_not_null(strstr(why, "DES"), "%s", why);
	cr_expect_eq(line("a:b", &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_not_null(strstr(why, "plain text"), "%s", why);
}

Test(htpasswd, long_lines)
{
	char buf[HTPASSWD_LINE_MAX + 64];
	struct htpasswd_entry e;
	const char *why;

	memset(buf, 'u', HTPASSWD_USER_MAX);
	snprintf(buf + HTPASSWD_USER_MAX, sizeof(buf) - HTPASSWD_USER_MAX, ":%s", H_BCRYPT);
	cr_expect_eq(line(buf, &e, &why), HTPASSWD_LINE_ENTRY);
	memset(buf, 'u', HTPASSWD_USER_MAX + 1);
	snprintf(buf + HTPASSWD_USER_MAX + 1, sizeof(buf) - HTPASSWD_USER_MAX - 1, ":%s",
		 H_BCRYPT);
	cr_expect_eq(line(buf, &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_str_eq(why, "user name too long");
	memset(buf, 'u', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	buf[3] = ':';
	cr_expect_eq(line(buf, &e, &why), HTPASSWD_LINE_ERROR);
	cr_expect_str_eq(why, "line too long");
}

static const char file[] = "# users for uploads\n"
			   "alice:" H_BCRYPT "\n"
			   "\n"
			   "bob:" H_YESCRYPT "\r\n"
			   "carol:" H_SHA512 "\n"
			   "dave:" H_SHA256; /* no final newline */

Test(htpasswd, parse_and_lookup)
{
	struct htpasswd *h;
	char err[256];

	cr_assert_eq(htpasswd_parse("users", S(file), &h, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(htpasswd_count(h), 4);
	cr_expect_str_eq(htpasswd_lookup(h, S("alice")), H_BCRYPT);
	cr_expect_str_eq(htpasswd_lookup(h, S("bob")), H_YESCRYPT);
	cr_expect_str_eq(htpasswd_lookup(h, S("carol")), H_SHA512);
	cr_expect_str_eq(htpasswd_lookup(h, S("dave")), H_SHA256);
	cr_expect_null(htpasswd_lookup(h, S("eve")));
	cr_expect_null(htpasswd_lookup(h, S("alic")));
	cr_expect_null(htpasswd_lookup(h, S("alicee")));
	cr_expect_null(htpasswd_lookup(h, S("")));
	cr_expect_null(htpasswd_lookup(NULL, S("alice")));
	htpasswd_free(h);
	htpasswd_free(NULL);
	cr_assert_eq(htpasswd_parse("empty", "", 0, &h, err, sizeof(err)), 0);
	cr_expect_eq(htpasswd_count(h), 0);
	cr_expect_null(htpasswd_lookup(h, S("alice")));
	htpasswd_free(h);
}

static void refused(const char *text, const char *want)
{
	struct htpasswd *h = (struct htpasswd *)1;
	char err[256] = "";

	cr_expect_eq(htpasswd_parse("/etc/mthttpd/users", text, strlen(text), &h, err, sizeof(err)),
		     -EINVAL, "%s", text);
	cr_expect_null(h);
	cr_expect_not_null(strstr(err, want), "want \"%s\" in \"%s\"", want, err);
}

Test(htpasswd, weak_or_bad_files_name_the_line)
{
	refused("alice:" H_BCRYPT "\nbob:{SHA}6dcfXufJLW3J6S/9rRe4vUlBj5g=\n",
		"/etc/mthttpd/users:2: {SHA}");
	refused("\n\n\nx:$apr1$MS43wi4j$ueTdsLI6m6QEnnfFYd8Y2/", "/etc/mthttpd/users:4: $apr1$");
	refused("x:.U3O6WfMqHimg\n", "/etc/mthttpd/users:1: DES");
	refused("alice:secret\n", "/etc/mthttpd/users:1: not a bcrypt");
	refused("alice:" H_BCRYPT "\nalice:" H_SHA256 "\n", "user \"alice\" appears twice");
}

Test(htpasswd, nul_byte)
{
	static const char text[] = "alice:" H_BCRYPT "\n\0";
	struct htpasswd *h;
	char err[256] = "";

	cr_expect_eq(htpasswd_parse("users", S(text), &h, err, sizeof(err)), -EINVAL);
	cr_expect_not_null(strstr(err, "NUL byte"), "%s", err);
}

Test(htpasswd, load_from_file)
{
	char path[] = "/tmp/mth-htpasswd-XXXXXX", err[256];
	struct htpasswd *h;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, file, sizeof(file) - 1), (ssize_t)(sizeof(file) - 1));
	close(fd);
	cr_assert_eq(htpasswd_load(path, &h, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(htpasswd_count(h), 4);
	htpasswd_free(h);
	unlink(path);
	cr_expect_eq(htpasswd_load(path, &h, err, sizeof(err)), -ENOENT);
	cr_expect_null(h);
	cr_expect_not_null(strstr(err, path), "%s", err);
	cr_expect_eq(htpasswd_load("/tmp", &h, err, sizeof(err)), -EINVAL);
	cr_expect_not_null(strstr(err, "not a regular file"), "%s", err);
}
