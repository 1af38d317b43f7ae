#include "tether_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

int tc_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

int tc_sha256_file(const char *path, uint64_t limit, uint8_t out[32], uint64_t *size, int *complete)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode)) { /* a fifo or device would block or never end */
        close(fd);
        return -EINVAL;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        close(fd);
        return -ENOMEM;
    }
    uint8_t buf[65536];
    uint64_t total = 0;
    int rc = 0;
    while (total < limit) {
        size_t want = limit - total < sizeof(buf) ? (size_t)(limit - total) : sizeof(buf);
        ssize_t got = read(fd, buf, want);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (got == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1) {
            rc = -EIO;
            break;
        }
        total += (uint64_t)got;
    }
    unsigned int n = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 32))
        rc = -EIO;
    EVP_MD_CTX_free(ctx);
    close(fd);
    *size = (uint64_t)st.st_size;
    *complete = total >= (uint64_t)st.st_size;
    return rc;
}
