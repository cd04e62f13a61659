/*
 * sinkfmt_console.c - the console sink: each alert as one compact JSON
 * line, exactly as stored (what alert_render() wrote before issue 9).
 * A digest is one line per alert, joined by newlines; the caller adds
 * the final newline.  No limits: stdout takes any length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wirewatch/sinkfmt.h"
#include "wirewatch/util.h"

#include "sinkfmt_internal.h"

static int
console_render(const struct sinkfmt_opts *o, const json_t *const *alerts,
    size_t n, struct sinkfmt_request *out, char *err, size_t errlen)
{
	struct buf b = {0};
	char *line;
	size_t i;

	(void)o;
	for (i = 0; i < n; i++) {
		if ((line = json_dumps(alerts[i], JSON_COMPACT)) == NULL) {
			snprintf(err, errlen, "console: alert %zu cannot be "
			    "serialized", i + 1);
			buf_free(&b);
			return -1;
		}
		if (i > 0)
			buf_addc(&b, '\n');
		buf_adds(&b, line);
		free(line);
	}
	out->len = b.len;
	out->body = buf_steal(&b);
	out->content_type = xstrdup("application/json");
	out->shown = n;
	return 0;
}

const struct sinkfmt_type_ops sinkfmt_console_ops = {
	"console", console_render, NULL, 0, NULL, 0
};
