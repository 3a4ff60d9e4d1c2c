#ifndef BUILDRISK_GIT_STREAM_H
#define BUILDRISK_GIT_STREAM_H

/// Registers BuildRisk's socket stream as libgit2's standard stream: libgit2's own, plus
/// TCP_NODELAY. libgit2 1.5 writes an HTTP request's head and body separately; with Nagle's
/// algorithm on, the body waits for the server's delayed ACK (up to 40 ms), once per request of a
/// fetch's negotiation. libgit2's TLS streams sit on the standard stream, so https gets it too.
/// Call once, after git_libgit2_init. Returns 0 or a libgit2 error code.
int buildrisk_git_register_socket_stream(void);

#endif
