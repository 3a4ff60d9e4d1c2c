#ifndef BUILDRISK_CLIBGIT2_SHIM_H
#define BUILDRISK_CLIBGIT2_SHIM_H
#include <git2.h>
#include <git2/sys/repository.h>
#endif
