#ifndef BUILDRISK_GIT_STREAM_H
#define BUILDRISK_GIT_STREAM_H

/// Registers BuildRisk's socket stream as libgit2's standard stream: libgit2's own, plus
/// TCP_NODELAY. libgit2 1.5 writes an HTTP request's head and body separately; with Nagle's
/// algorithm on, the body waits for the server's delayed ACK (up to 40 ms), once per request of a
/// fetch's negotiation. libgit2's TLS streams sit on the standard stream, so https gets it too.
/// Call once, after git_libgit2_init. Returns 0 or a libgit2 error code.
int buildrisk_git_register_socket_stream(void);

/// Makes libgit2 trust the CA certificates in `file` (PEM) for https remotes, through
/// git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS), which Swift cannot call: it is variadic.
/// Process-wide. With libgit2 1.5 on mbedTLS (Debian 12's build) the bundle replaces the
/// trusted set rather than adding to it. Call after git_libgit2_init. Returns 0 or a libgit2
/// error code (git_error_last() says why).
int buildrisk_git_set_ssl_ca_file(const char *file);

#endif
