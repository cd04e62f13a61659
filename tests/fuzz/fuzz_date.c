/* fuzz_date.c - libFuzzer target: date_parse on any NUL-terminated string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/date.h"
#include "wirewatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *s = xstrndup((const char *)data, len);
	time_t t;

	(void)date_parse(s, &t);
	free(s);
	return 0;
}
