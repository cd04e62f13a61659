/*
 * sign.h - Standard Webhooks signatures (https://www.standardwebhooks.com):
 *
 *   webhook-id: <alert id>
 *   webhook-timestamp: <unix seconds>
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
 *
 * where key is the base64 part of a "whsec_..." secret.  During a key
 * rotation a sink has two secrets: the header then carries two
 * space-separated signatures, and a receiver accepts either.
 */
#ifndef WIREWATCH_SIGN_H
#define WIREWATCH_SIGN_H

#include <stddef.h>

/* 0 when secret is "whsec_" followed by valid, non-empty base64. */
int sign_secret_check(const char *secret, char *err, size_t errlen);

/*
 * The webhook-signature header value for body signed with every secret
 * (malloc'd), or NULL when a secret is not valid.
 */
char *sign_webhook(const char *const *secrets, size_t nsecrets,
    const char *id, long long timestamp, const char *body, size_t len);

#endif
