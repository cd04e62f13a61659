/*
 * fuzz_config.c - libFuzzer target: config_load on any file contents.
 *
 * Most inputs lack a usable entities directory, and config_load stops
 * there, before watchlists, queries and sinks are checked; the bundled
 * gazetteer is too slow to load per input.  So a two-entity set is
 * written once to a temporary directory, and the first byte of an input
 * picks how the file is made: odd, the rest follows a [daemon] header
 * that sets redis and that directory (the queries, sinks and feeds path);
 * even, the rest is the whole file (empty files, binary garbage, missing
 * [daemon] or redis).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wirewatch/config.h"
#include "wirewatch/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static char entdir[] = "/tmp/ww-fuzz-config-ents-XXXXXX";
static char *header;

static void
remove_entities(void)
{
	char *f = xasprintf("%s/fuzz.conf", entdir);

	unlink(f);
	rmdir(entdir);
	free(f);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char ents[] =
	    "[entity \"DPRK\"]\nalias = North Korea\nalias = Pyongyang\n"
	    "case-alias = DPRK\nexclude = North Korea Street\n"
	    "[entity \"Russia\"]\nalias = Russia\nalias = Moscow\ncase-alias = RF\n";
	char *f;
	FILE *fp;

	(void)argc;
	(void)argv;
	if (mkdtemp(entdir) == NULL)
		abort();
	f = xasprintf("%s/fuzz.conf", entdir);
	if ((fp = fopen(f, "w")) == NULL || fputs(ents, fp) == EOF || fclose(fp) != 0)
		abort();
	free(f);
	atexit(remove_entities);
	header = xasprintf("[daemon]\nredis = 127.0.0.1:6379\nentities = %s\n", entdir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char path[] = "/tmp/ww-fuzz-config-XXXXXX", err[WW_ERRLEN];
	struct config *cfg;
	int fd, ok;

	if (len == 0)
		return 0;
	if ((fd = mkstemp(path)) == -1)
		abort();
	ok = (data[0] & 1) == 0 ||
	    write(fd, header, strlen(header)) == (ssize_t)strlen(header);
	if (!ok || write(fd, data + 1, len - 1) != (ssize_t)(len - 1))
		abort();
	close(fd);
	cfg = config_load(path, err, sizeof err);
	config_free(cfg);
	unlink(path);
	return 0;
}
