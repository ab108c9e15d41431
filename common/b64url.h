/*
 * Unpadded base64url (RFC 4648 §5), the one encoding of tokens, secrets,
 * session tokens and JWTs in this project (server and library).
 */
#ifndef METATOKEN_COMMON_B64URL_H
#define METATOKEN_COMMON_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Characters that n bytes encode to. */
#define B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/*
 * Encodes n bytes into out, which must hold B64URL_LEN(n) + 1 chars, and
 * NUL-terminates it. Returns the number of chars before the NUL.
 */
size_t mtk__b64url_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decodes exactly len chars into out (room for cap bytes). Returns the
 * decoded length, or -1 on any char outside the alphabet (padding too), a
 * length no encoder produces (len % 4 == 1), output that would not fit, or
 * non-zero unused bits in the last char: only the canonical encoding of a
 * byte string is accepted, so every value has exactly one spelling. Never
 * reads past len.
 */
long mtk__b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
