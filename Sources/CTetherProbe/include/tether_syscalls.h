/* Syscall numbers newer than the build host's headers (the kernel's own numbering), for
 * probe.c and tools/schemagen.c. */
#ifndef TETHER_SYSCALLS_H
#define TETHER_SYSCALLS_H
#include <sys/syscall.h>
#ifndef SYS_fchmodat2
#if defined(__x86_64__)
#define SYS_fchmodat2 452
#endif
#endif
#ifndef SYS_setxattrat
#if defined(__x86_64__) || defined(__aarch64__)
#define SYS_setxattrat 463
#endif
#endif
#endif
