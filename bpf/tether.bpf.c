// SPDX-License-Identifier: GPL-2.0
/* Tether's kernel side: follow every process of every watched agent session and
 * report what it does.
 *
 * One hook sees every syscall: tp_btf/sys_exit (tp_btf/sys_enter only keeps the strings a
 * tracked thread's path-only call began with, for its exit to compare: entered.h).
 * Untracked processes pay one map lookup (`tracked`) there and at each scheduler hook,
 * nothing more. For a tracked process the
 * exit program tail-calls the handler of that syscall (`handlers`, filled by the loader
 * by syscall number; an empty slot means "not of interest"). Arguments are read at exit
 * from the saved registers, i.e. what the kernel actually used, and user strings are
 * read then too, when they are sure to be paged in. Paths come from the kernel (the
 * opened file's dentries, the dirfd's or cwd's dentries).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tether_abi.h"

char LICENSE[] SEC("license") = "GPL";
/* One object, one program array; each concern in a header of its own, included in
 * dependency order:
 *   common.h       constants, kfuncs          maps.h      settings, maps, the tracked set
 *   event.h        records and string slots   path.h      dentry walks, fds, the cwd
 *   resolve.h      rename/link destinations   guards.h    kill, freeze, protected files
 *   dispatch.h     sys_exit and the tail call sys_*.h     one file per syscall family
 *   sched.h        fork, exec, exit           cgroup.h    refusals (EPERM), TCP deputies' listens
 *   entered.h      path-only calls' strings at entry, for their exits to compare
 *   uring.h        io_uring requests, at submission
 */
#include "common.h"
#include "maps.h"
#include "event.h"
#include "path.h"
#include "resolve.h"
#include "guards.h"
#include "entered.h"
#include "dispatch.h"
#include "sys_process.h"
#include "sys_file.h"
#include "sys_net.h"
#include "sys_priv.h"
#include "sched.h"
#include "uring.h"
#include "cgroup.h"
