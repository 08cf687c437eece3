/* test_util.c - the printf-free fixed-width number formatting in util.h
 * that dates, upload names and multipart boundaries are built with. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

Test(util, dec_fixed_pads_and_keeps_the_last_digits)
{
	char buf[8] = "#######";

	cr_assert_eq(mth_dec_fixed(buf, 7, 2), buf + 2);
	cr_assert_eq(memcmp(buf, "07#", 3), 0, "%s", buf);
	cr_assert_eq(mth_dec_fixed(buf, 2026, 4), buf + 4);
	cr_assert_eq(memcmp(buf, "2026#", 5), 0, "%s", buf);
	cr_assert_eq(mth_dec_fixed(buf, 0, 4), buf + 4);
	cr_assert_eq(memcmp(buf, "0000#", 5), 0, "%s", buf);
	cr_assert_eq(mth_dec_fixed(buf, 12345, 3), buf + 3);
	cr_assert_eq(memcmp(buf, "345", 3), 0, "%s", buf);
	cr_assert_eq(mth_dec_fixed(buf, 5, 0), buf, "width 0 writes nothing");
}

Test(util, hex16_is_sixteen_lower_case_digits)
{
	char buf[18];

	memset(buf, '#', sizeof buf);
	cr_assert_eq(mth_hex16(buf, 0x0123456789abcdefu), buf + 16);
	cr_assert_eq(memcmp(buf, "0123456789abcdef#", 17), 0);
	cr_assert_eq(mth_hex16(buf, 0), buf + 16);
	cr_assert_eq(memcmp(buf, "0000000000000000#", 17), 0);
	cr_assert_eq(mth_hex16(buf, UINT64_MAX), buf + 16);
	cr_assert_eq(memcmp(buf, "ffffffffffffffff#", 17), 0);
}
