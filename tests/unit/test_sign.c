/*
 * test_sign.c - Standard Webhooks signatures against the specification's
 * own example, rotation (two signatures), and bad secrets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wirewatch/sign.h"
#include "wirewatch/util.h"

/* The example of the Standard Webhooks specification and its libraries. */
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define TS 1614265330LL
#define BODY "{\"test\": 2432232314}"
#define SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void
spec_example(void **state)
{
	const char *secrets[] = { SECRET };
	char *sig;

	(void)state;
	sig = sign_webhook(secrets, 1, ID, TS, BODY, strlen(BODY));
	assert_non_null(sig);
	assert_string_equal(sig, SIG);
	free(sig);
}

static void
rotation_two_signatures(void **state)
{
	const char *secrets[] = { "whsec_c2Vjb25kLXNlY3JldC1rZXk=", SECRET };
	char *sig, *sp;

	(void)state;
	sig = sign_webhook(secrets, 2, ID, TS, BODY, strlen(BODY));
	assert_non_null(sig);
	sp = strchr(sig, ' ');
	assert_non_null(sp);
	assert_string_equal(sp + 1, SIG);
	assert_true(strncmp(sig, "v1,", 3) == 0);
	assert_true(strncmp(sig, SIG, strlen(SIG)) != 0);
	free(sig);
}

static void
tampered_body_differs(void **state)
{
	const char *secrets[] = { SECRET };
	char *sig;

	(void)state;
	sig = sign_webhook(secrets, 1, ID, TS, "{\"test\": 2432232315}", 20);
	assert_non_null(sig);
	assert_string_not_equal(sig, SIG);
	free(sig);
}

static void
bad_secrets(void **state)
{
	const char *bad[] = { "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_abc",
	    "whsec_!!!!", NULL };
	char err[200];
	int i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		assert_int_equal(sign_secret_check(bad[i], err, sizeof err), -1);
		assert_null(sign_webhook(&bad[i], 1, ID, TS, BODY, strlen(BODY)));
	}
	assert_int_equal(sign_secret_check(SECRET, err, sizeof err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spec_example),
		cmocka_unit_test(rotation_two_signatures),
		cmocka_unit_test(tampered_body_differs),
		cmocka_unit_test(bad_secrets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
