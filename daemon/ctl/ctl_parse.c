/* placeholder until the verb lands; replaced by its owner */
#include <stdio.h>
#include "ctl/ctl.h"
int
ctl_parse_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "wirewatchctl %s: not built yet\n", argv[0]);
	return 2;
}
int
ctl_date_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "wirewatchctl %s: not built yet\n", argv[0]);
	return 2;
}
