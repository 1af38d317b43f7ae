/* SHA-256 through OpenSSL's libcrypto (Debian's libssl3): the session ledger's hash chain
 * and the digests of files a session left behind. No crypto of our own. */
#ifndef TETHER_CRYPTO_H
#define TETHER_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* out: 32 bytes. Returns 0, or -1 if libcrypto failed. */
int tc_sha256(const void *data, size_t len, uint8_t out[32]);

/* The digest and size of a regular file, read through a descriptor opened with O_NOFOLLOW
 * (a symlink planted in its place is not followed). Reads at most `limit` bytes: *size is
 * the file's size, *complete 0 when it is larger than `limit` (the digest then covers the
 * first `limit` bytes). Returns 0, or -errno. */
int tc_sha256_file(const char *path, uint64_t limit, uint8_t out[32], uint64_t *size, int *complete);

#endif
