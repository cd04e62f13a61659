/*
 * fuzz_config.c - libFuzzer target: config_load on any file contents.
 * Run from the repository root (entities = conf/entities resolves there).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "wirewatch/config.h"
#include "wirewatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char path[] = "/tmp/ww-fuzz-config-XXXXXX", err[WW_ERRLEN];
	struct config *cfg;
	int fd = mkstemp(path);

	if (fd == -1 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
	cfg = config_load(path, err, sizeof err);
	config_free(cfg);
	unlink(path);
	return 0;
}
