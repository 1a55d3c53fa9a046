// SPDX-License-Identifier: Apache-2.0
/* The Prometheus text writer: families, labels, escaping, values. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "pclib.h"

Test(prom, family_and_samples)
{
	struct pc_buf b = {0};
	const char *l[] = {"verdict", "deny", "reason", "deny_rule", NULL};

	pc_prom_family(&b, "portcullis_packets_total", "counter",
		       "Packets, by \\ verdict\nand reason.");
	pc_prom_u64(&b, "portcullis_packets_total", l, 18446744073709551615ULL);
	pc_prom_u64(&b, "portcullis_packets_total", NULL, 0);
	cr_assert_str_eq(b.data, "# HELP portcullis_packets_total Packets, by "
				 "\\\\ verdict\\nand "
				 "reason.\n"
				 "# TYPE portcullis_packets_total counter\n"
				 "portcullis_packets_total{verdict=\"deny\","
				 "reason=\"deny_rule\"} "
				 "18446744073709551615\n"
				 "portcullis_packets_total 0\n");
	pc_buf_free(&b);
}

Test(prom, label_values_are_escaped)
{
	struct pc_buf b = {0};
	const char *l[] = {"rule", "a \"quoted\\name\"\nnext", NULL};

	pc_prom_u64(&b, "x", l, 1);
	cr_assert_str_eq(b.data,
			 "x{rule=\"a \\\"quoted\\\\name\\\"\\nnext\"} 1\n");
	pc_buf_free(&b);
}

Test(prom, floats)
{
	struct pc_buf b = {0};

	pc_prom_f64(&b, "a", NULL, 0.000123);
	pc_prom_f64(&b, "b", NULL, NAN);
	pc_prom_f64(&b, "c", NULL, -INFINITY);
	pc_prom_f64(&b, "d", NULL, 1e6);
	cr_assert_str_eq(b.data, "a 0.000123\nb NaN\nc -Inf\nd 1000000\n");
	pc_buf_free(&b);
}
