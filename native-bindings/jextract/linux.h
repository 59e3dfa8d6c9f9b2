/*
 * The one header jextract reads to generate panpipe's Linux bindings
 * (package dev.panpipe.bindings.linux). What is taken from it is filtered by
 * linux-includes.txt beside this file; scripts/regen-bindings runs jextract.
 *
 * _GNU_SOURCE exposes the Linux-only calls (pipe2, vmsplice, memfd_create,
 * F_GETPIPE_SZ, F_ADD_SEALS and the F_SEAL_* memfd seals, posix_spawn_file_actions_addchdir_np,
 * the GNU strerror_r, environ).
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
