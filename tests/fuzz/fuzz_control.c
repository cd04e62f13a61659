/*
 * fuzz_control.c - libFuzzer target: control_decode, the control socket's
 * request decoder, on any bytes.
 *
 * Besides crashes and leaks, checks its contract: an accepted line gives
 * a JSON object whose "cmd" is 1-64 of [a-z0-9._-] and whose "id", when
 * there, is an integer or a short string; that object, serialized again
 * the way a client would send it, decodes to the same command; a refused
 * line leaves nothing allocated and says why.
 *
 * jansson is not instrumented, so the fuzzer sees no progress inside the
 * JSON parser and would rarely build an object with "v" and "cmd" from
 * nothing.  The first byte therefore picks a frame around the rest: the
 * bytes as they are, or inside a request that already has "v" (the rest
 * then supplies cmd, id and arguments), or as the value of "cmd".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wirewatch/control.h"
#include "wirewatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void
check(int ok, const char *what, const uint8_t *data, size_t len)
{
	if (ok)
		return;
	fprintf(stderr, "control_decode: %s (input %zu bytes: %.*s)\n", what, len,
	    (int)(len < 200 ? len : 200), (const char *)data);
	abort();
}

static const char *const frames[][2] = {
	{ "", "" },
	{ "{\"v\":1,", "}" },
	{ "{\"v\":1,\"cmd\":\"", "\"}" },
	{ "{\"cmd\":\"ping\",\"v\":", "}" },
};

static int
decode_framed(const uint8_t *data, size_t len, struct control_request *r,
    char *err, size_t errlen)
{
	const char *pre, *post;
	struct buf b = {0};
	int rc;

	if (len == 0)
		return control_decode("", 0, r, err, errlen);
	pre = frames[data[0] % 4][0];
	post = frames[data[0] % 4][1];
	buf_adds(&b, pre);
	buf_add(&b, data + 1, len - 1);
	buf_adds(&b, post);
	rc = control_decode(b.s, b.len, r, err, errlen);
	buf_free(&b);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct control_request r, again;
	char err[WW_ERRLEN] = "", err2[WW_ERRLEN] = "", *text;
	size_t n;

	if (decode_framed(data, len, &r, err, sizeof err) == -1) {
		check(r.req == NULL && r.id == NULL, "refused but filled", data, len);
		check(err[0] != '\0', "refused without a reason", data, len);
		return 0;
	}
	n = strlen(r.cmd);
	check(json_is_object(r.req), "not an object", data, len);
	check(n >= 1 && n <= CONTROL_CMD_MAX &&
	    strspn(r.cmd, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n,
	    "bad cmd accepted", data, len);
	check(r.id == NULL || json_is_integer(r.id) || (json_is_string(r.id) &&
	    json_string_length(r.id) <= CONTROL_ID_MAX), "bad id accepted", data, len);
	text = json_dumps(r.req, JSON_COMPACT);
	check(text != NULL, "cannot serialize an accepted request", data, len);
	if (strlen(text) <= CONTROL_MAX_LINE) {
		check(control_decode(text, strlen(text), &again, err2, sizeof err2) == 0,
		    "its own serialization refused", data, len);
		check(strcmp(again.cmd, r.cmd) == 0, "serialization changed cmd", data, len);
		control_request_clear(&again);
	}
	free(text);
	control_request_clear(&r);
	return 0;
}
