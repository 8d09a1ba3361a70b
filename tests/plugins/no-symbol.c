/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* a shared object that is not a Herald plugin: no herald_plugin_query_type */
int herald_test_something_else(void);
int
herald_test_something_else(void)
{
	return 42;
}
