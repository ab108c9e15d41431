#include "secret.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

int secret_equal(const char *want, const char *got)
{
	unsigned char want_md[SHA256_DIGEST_LENGTH], got_md[SHA256_DIGEST_LENGTH];

	if (!want || !want[0] || !got)
		return 0;
	SHA256((const unsigned char *)want, strlen(want), want_md);
	SHA256((const unsigned char *)got, strlen(got), got_md);
	return CRYPTO_memcmp(want_md, got_md, sizeof(want_md)) == 0;
}
