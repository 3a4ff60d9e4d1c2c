#include "buildrisk_git_stream.h"

#include <git2.h>

int buildrisk_git_set_ssl_ca_file(const char *file) {
    return git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, (const char *)NULL);
}
