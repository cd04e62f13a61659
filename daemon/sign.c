/*
 * sign.c - Standard Webhooks signatures with OpenSSL's HMAC; see sign.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wirewatch/sign.h"
#include "wirewatch/util.h"

#define PREFIX "whsec_"

/* The decoded key of a whsec_ secret; NULL when it is not valid base64. */
static unsigned char *
secret_key(const char *secret, int *keylen)
{
	const char *b64;
	unsigned char *key;
	size_t n, pad = 0;
	int len;

	if (strncmp(secret, PREFIX, strlen(PREFIX)) != 0)
		return NULL;
	b64 = secret + strlen(PREFIX);
	n = strlen(b64);
	if (n == 0 || n % 4 != 0)
		return NULL;
	key = xmalloc(n / 4 * 3 + 1);
	len = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)n);
	if (len < 0) {
		free(key);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (n > 0 && b64[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	*keylen = len - (int)pad;
	return key;
}

int
sign_secret_check(const char *secret, char *err, size_t errlen)
{
	unsigned char *key;
	int len;

	if ((key = secret_key(secret, &len)) == NULL || len <= 0) {
		free(key);
		snprintf(err, errlen, "a secret is \"whsec_\" followed by base64 "
		    "(as Standard Webhooks defines it)");
		return -1;
	}
	free(key);
	return 0;
}

char *
sign_webhook(const char *const *secrets, size_t nsecrets, const char *id,
    long long timestamp, const char *body, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE], *key;
	char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned int maclen;
	struct buf msg = {0}, out = {0};
	size_t i;
	int keylen;

	buf_addf(&msg, "%s.%lld.", id, timestamp);
	buf_add(&msg, body, len);
	for (i = 0; i < nsecrets; i++) {
		if ((key = secret_key(secrets[i], &keylen)) == NULL) {
			buf_free(&msg);
			buf_free(&out);
			return NULL;
		}
		if (HMAC(EVP_sha256(), key, keylen, (const unsigned char *)msg.s,
		    msg.len, mac, &maclen) == NULL) {
			free(key);
			buf_free(&msg);
			buf_free(&out);
			return NULL;
		}
		free(key);
		EVP_EncodeBlock((unsigned char *)b64, mac, (int)maclen);
		buf_addf(&out, "%sv1,%s", i ? " " : "", b64);
	}
	buf_free(&msg);
	return buf_steal(&out);
}
