// A libgit2 socket stream (git2/sys/stream.h) like libgit2 1.5's default one, with TCP_NODELAY.
#include "buildrisk_git_stream.h"

#include <git2.h>
#include <git2/sys/stream.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

typedef struct {
    git_stream parent;
    char *host;
    char *port;
    int socket;
} buildrisk_stream;

static void set_error(const char *what, const buildrisk_stream *stream, int code) {
    char message[512];
    snprintf(message, sizeof message, "%s %s:%s: %s", what, stream->host, stream->port, strerror(code));
    git_error_set_str(GIT_ERROR_NET, message);
}

static int stream_connect(git_stream *base) {
    buildrisk_stream *stream = (buildrisk_stream *)base;
    struct addrinfo hints, *found = NULL, *candidate;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int status = getaddrinfo(stream->host, stream->port, &hints, &found);
    if (status != 0) {
        char message[512];
        snprintf(message, sizeof message, "failed to resolve address for %s: %s", stream->host, gai_strerror(status));
        git_error_set_str(GIT_ERROR_NET, message);
        return -1;
    }
    int last_error = 0;
    for (candidate = found; candidate != NULL; candidate = candidate->ai_next) {
        int fd = socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, candidate->ai_protocol);
        if (fd < 0) {
            last_error = errno;
            continue;
        }
        int result;
        do {
            result = connect(fd, candidate->ai_addr, candidate->ai_addrlen);
        } while (result < 0 && errno == EINTR);
        if (result == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            stream->socket = fd;
            freeaddrinfo(found);
            return 0;
        }
        last_error = errno;
        close(fd);
    }
    freeaddrinfo(found);
    set_error("failed to connect to", stream, last_error ? last_error : ECONNREFUSED);
    return -1;
}

static ssize_t stream_write(git_stream *base, const char *data, size_t length, int flags) {
    buildrisk_stream *stream = (buildrisk_stream *)base;
    (void)flags;
    ssize_t written;
    do {
        written = send(stream->socket, data, length, MSG_NOSIGNAL);
    } while (written < 0 && errno == EINTR);
    if (written < 0) {
        set_error("error sending data to", stream, errno);
        return -1;
    }
    return written;
}

static ssize_t stream_read(git_stream *base, void *data, size_t length) {
    buildrisk_stream *stream = (buildrisk_stream *)base;
    ssize_t received;
    do {
        received = recv(stream->socket, data, length, 0);
    } while (received < 0 && errno == EINTR);
    if (received < 0) {
        set_error("error receiving data from", stream, errno);
        return -1;
    }
    return received;
}

static int stream_close(git_stream *base) {
    buildrisk_stream *stream = (buildrisk_stream *)base;
    if (stream->socket >= 0) {
        close(stream->socket);
        stream->socket = -1;
    }
    return 0;
}

static void stream_free(git_stream *base) {
    buildrisk_stream *stream = (buildrisk_stream *)base;
    stream_close(base);
    free(stream->host);
    free(stream->port);
    free(stream);
}

static int stream_new(git_stream **out, const char *host, const char *port) {
    buildrisk_stream *stream = calloc(1, sizeof *stream);
    if (stream == NULL) {
        git_error_set_str(GIT_ERROR_NOMEMORY, "out of memory");
        return -1;
    }
    stream->host = strdup(host);
    stream->port = strdup(port ? port : "80");
    stream->socket = -1;
    if (stream->host == NULL || stream->port == NULL) {
        stream_free(&stream->parent);
        git_error_set_str(GIT_ERROR_NOMEMORY, "out of memory");
        return -1;
    }
    stream->parent.version = GIT_STREAM_VERSION;
    stream->parent.connect = stream_connect;
    stream->parent.write = stream_write;
    stream->parent.read = stream_read;
    stream->parent.close = stream_close;
    stream->parent.free = stream_free;
    *out = &stream->parent;
    return 0;
}

int buildrisk_git_register_socket_stream(void) {
    git_stream_registration registration;
    memset(&registration, 0, sizeof registration);
    registration.version = GIT_STREAM_VERSION;
    registration.init = stream_new;
    return git_stream_register(GIT_STREAM_STANDARD, &registration);
}
