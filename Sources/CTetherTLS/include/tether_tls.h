/* TLS client connections through OpenSSL's libssl (Debian's libssl3): syslog over TLS
 * (RFC 5425) and the HTTPS webhook. Verification is always on: the server's chain against
 * a CA file (or the system store) and its name (DNS name or IP address) against the one
 * the operator pinned. No crypto of our own. */
#ifndef TETHER_TLS_H
#define TETHER_TLS_H

#include <stddef.h>

typedef struct tt_config tt_config;
typedef struct tt_conn tt_conn;

/* Loads what every connection of one destination uses: the CA file (NULL: the system's
 * default store), an optional client certificate and key (both or neither) for mutual TLS.
 * TLS 1.2 at least. On failure returns NULL and says what and why in err. */
tt_config *tt_config_new(const char *ca_file, const char *cert_file, const char *key_file, char *err, size_t errlen);
void tt_config_free(tt_config *c);

/* Handshakes over a connected, blocking socket (its SO_RCVTIMEO/SO_SNDTIMEO bound the
 * wait) and verifies the peer against peer_name. It then waits up to settle_ms for the
 * server's first records, so a server refusing the client's certificate after the
 * handshake (TLS 1.3 says so only then) fails the connect. The connection does
 * not own fd. On failure returns NULL with the reason (e.g. the verification error) in err. */
tt_conn *tt_connect(tt_config *c, int fd, const char *peer_name, int settle_ms, char *err, size_t errlen);

/* Writes all of buf. Returns 0, or -1 with the reason in err. */
int tt_write(tt_conn *t, const void *buf, size_t len, char *err, size_t errlen);

/* Reads up to len bytes (blocking within the socket's timeout). Returns the count, 0 when
 * the peer closed the connection, -1 on error or timeout (reason in err). */
long tt_read(tt_conn *t, void *buf, size_t len, char *err, size_t errlen);

/* Without blocking: 1 if the peer has closed the connection or it failed, else 0. Records
 * the peer sent (TLS 1.3 session tickets) are consumed; application data is discarded. */
int tt_peer_closed(tt_conn *t);

/* Sends close_notify (best effort, never waits for the reply) and frees. */
void tt_close(tt_conn *t);

#endif
