/*
 * keys.c - Redis key names; see keys.h.
 */
#include <stdarg.h>

#include "wirewatch/keys.h"
#include "wirewatch/util.h"

char *
keys_name(const char *prefix, const char *name, ...)
{
	struct buf b = { 0 };
	const char *arg;
	va_list ap;

	buf_adds(&b, prefix);
	buf_adds(&b, name);
	va_start(ap, name);
	while ((arg = va_arg(ap, const char *)) != NULL) {
		buf_addc(&b, ':');
		buf_adds(&b, arg);
	}
	va_end(ap);
	return buf_steal(&b);
}
