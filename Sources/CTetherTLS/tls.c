#include "tether_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>

struct tt_config {
    SSL_CTX *ctx;
    int has_cert;
};

struct tt_conn {
    SSL *ssl;
    int fd;
};

/* The reason OpenSSL queued (most recent first), or errno's, after `what`. */
static void say(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    else if (errno)
        snprintf(buf, sizeof(buf), "%s", strerror(errno));
    else
        snprintf(buf, sizeof(buf), "no further detail");
    ERR_clear_error();
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, buf);
}

tt_config *tt_config_new(const char *ca_file, const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    if ((cert_file == NULL) != (key_file == NULL)) {
        snprintf(err, errlen, "a client certificate needs its key and a key its certificate (cert= and key= together)");
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        say(err, errlen, "creating a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        char what[600];
        snprintf(what, sizeof(what), "loading CA certificates from %s", ca_file ? ca_file : "the system store");
        say(err, errlen, what);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cert_file) {
        char what[600];
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
            snprintf(what, sizeof(what), "loading the client certificate %s", cert_file);
            say(err, errlen, what);
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
            snprintf(what, sizeof(what), "loading the client key %s", key_file);
            say(err, errlen, what);
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(what, sizeof(what), "the client key %s does not match the certificate %s", key_file, cert_file);
            say(err, errlen, what);
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    tt_config *c = calloc(1, sizeof(*c));
    if (!c) {
        SSL_CTX_free(ctx);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->ctx = ctx;
    c->has_cert = cert_file != NULL;
    return c;
}

void tt_config_free(tt_config *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
}

static int peer_closed(tt_conn *t, char *why, size_t whylen);

static int is_ip(const char *name)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

tt_conn *tt_connect(tt_config *c, int fd, const char *peer_name, int settle_ms, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL *ssl = SSL_new(c->ctx);
    if (!ssl) {
        say(err, errlen, "creating a TLS connection");
        return NULL;
    }
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    int named;
    if (is_ip(peer_name)) {
        named = X509_VERIFY_PARAM_set1_ip_asc(param, peer_name);
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        named = X509_VERIFY_PARAM_set1_host(param, peer_name, 0) && SSL_set_tlsext_host_name(ssl, peer_name);
    }
    if (named != 1 || SSL_set_fd(ssl, fd) != 1) {
        say(err, errlen, "setting the peer name");
        SSL_free(ssl);
        return NULL;
    }
    errno = 0;
    int r = SSL_connect(ssl);
    if (r != 1) {
        long v = SSL_get_verify_result(ssl);
        char what[700];
        if (v != X509_V_OK) {
            snprintf(err, errlen, "TLS handshake: the server's certificate is not trusted for %s: %s", peer_name,
                     X509_verify_cert_error_string(v));
            ERR_clear_error();
        } else {
            int e = SSL_get_error(ssl, r);
            if ((e == SSL_ERROR_SYSCALL || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && (errno == EAGAIN || errno == EWOULDBLOCK))
                snprintf(err, errlen, "TLS handshake: timed out waiting for the server");
            else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
                snprintf(err, errlen, "TLS handshake: the server closed the connection%s%s", errno ? ": " : "", errno ? strerror(errno) : "");
            else {
                snprintf(what, sizeof(what), "TLS handshake with %s", peer_name);
                say(err, errlen, what);
            }
        }
        SSL_free(ssl);
        return NULL;
    }
    tt_conn *t = calloc(1, sizeof(*t));
    if (!t) {
        SSL_free(ssl);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ssl = ssl;
    t->fd = fd;
    /* In TLS 1.3 the client's handshake ends before the server has judged the client's
     * certificate, and a server may check it itself after any handshake (rsyslog's
     * x509/certvalid does): a refusal comes as an alert or a close right after. Wait for
     * what the server sends first (a refusal or session tickets), briefly, so a refused
     * client is a failed connection, not a first message written into one about to close. */
    if (settle_ms > 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char buf[256] = "the server closed the connection";
        if (poll(&p, 1, settle_ms) > 0 && peer_closed(t, buf, sizeof(buf))) {
            snprintf(err, errlen, "TLS: the server refused this client after the handshake (%s)%s", buf,
                     c->has_cert ? "" : "; it may require a client certificate (cert=, key=)");
            ERR_clear_error();
            SSL_free(ssl);
            free(t);
            return NULL;
        }
    }
    return t;
}

int tt_write(tt_conn *t, const void *buf, size_t len, char *err, size_t errlen)
{
    const char *p = buf;
    while (len > 0) {
        ERR_clear_error();
        errno = 0;
        size_t n = 0;
        int r = SSL_write_ex(t->ssl, p, len, &n);
        if (r == 1) {
            p += n;
            len -= n;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
            snprintf(err, errlen, "receiver too slow: send blocked longer than the send timeout");
        else if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && (errno == 0 || errno == EPIPE || errno == ECONNRESET)))
            snprintf(err, errlen, "the receiver closed the connection");
        else
            say(err, errlen, "sending over TLS");
        return -1;
    }
    return 0;
}

long tt_read(tt_conn *t, void *buf, size_t len, char *err, size_t errlen)
{
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    int r = SSL_read_ex(t->ssl, buf, len, &n);
    if (r == 1)
        return (long)n;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0))
        return 0;
    if (e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
        snprintf(err, errlen, "timed out waiting for the receiver's answer");
    else
        say(err, errlen, "reading over TLS");
    return -1;
}

/* As tt_peer_closed; `why` gets OpenSSL's reason when the peer ended it with an alert. */
static int peer_closed(tt_conn *t, char *why, size_t whylen)
{
    int flags = fcntl(t->fd, F_GETFL);
    if (flags < 0)
        return 1;
    fcntl(t->fd, F_SETFL, flags | O_NONBLOCK);
    int closed = 0;
    char scratch[512];
    for (int i = 0; i < 64; i++) {
        ERR_clear_error();
        errno = 0;
        size_t n = 0;
        if (SSL_read_ex(t->ssl, scratch, sizeof(scratch), &n) == 1)
            continue; /* a receiver has nothing to say; discard */
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        closed = 1;
        unsigned long r = ERR_get_error();
        if (why && whylen && r)
            ERR_error_string_n(r, why, whylen);
        break;
    }
    ERR_clear_error();
    fcntl(t->fd, F_SETFL, flags);
    return closed;
}

int tt_peer_closed(tt_conn *t) { return peer_closed(t, NULL, 0); }

void tt_close(tt_conn *t)
{
    if (!t)
        return;
    int flags = fcntl(t->fd, F_GETFL);
    if (flags >= 0)
        fcntl(t->fd, F_SETFL, flags | O_NONBLOCK);
    SSL_shutdown(t->ssl);
    ERR_clear_error();
    SSL_free(t->ssl);
    free(t);
}
