/* The event ABI shared by the kernel programs (bpf/) and the Swift decoder.
 *
 * Every record in the ring buffer is one `struct te_event` followed by its string
 * area. Fields are fixed width, enums have explicit numbers and a retired number is
 * never reused. Changing this layout means bumping TE_ABI_VERSION; the Swift layout
 * test (Tests/TetherProbeTests/ABILayoutTests.swift) fails on any drift.
 */
#ifndef TETHER_ABI_H
#define TETHER_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TE_ABI_VERSION 1

#define TE_COMM_LEN 16
#define TE_NSTR 4                /* string slots per record */
#define TE_STR_MAX 4096          /* bytes one string slot may hold, NUL included */
#define TE_STRAREA 16384         /* bytes of string area after the fixed part */
#define TE_PATH_DEPTH 48         /* dentries walked before a path is marked truncated */
#define TE_ARGV_MAX 4096         /* bytes of argv copied at exec */

/* Event kinds. Numbers are part of the ABI: never renumber, never reuse. */
enum te_kind {
    /* process */
    TE_FORK = 1,       /* a0 = child tgid */
    TE_EXEC = 2,       /* a0 = argc, a1 = flags (TE_EXEC_*); s0 = exe, s1 = argv (NUL separated), s2 = cwd, s3 = filename as requested */
    TE_EXIT = 3,       /* a0 = exit code, a1 = terminating signal (0 if none) */
    TE_SETSID = 4,     /* result = new session id */
    TE_SETUID = 5,     /* a0..a2 = the call's id arguments as given (unused ones -1), a3 = variant (1 set*id, 2 setre*id, 3 setres*id, 4 setfs*id) */
    TE_SETGID = 6,     /* as TE_SETUID, for group ids */
    TE_CAPSET = 7,     /* a0 = effective, a1 = permitted, a2 = inheritable (low 32 bits of v3 caps | high 32 << 32) */
    /* file: s0/s1 = path (kernel path) / requested string; s2/s3 = second path where the call has one */
    TE_OPEN = 20,      /* a0 = open flags, a1 = mode */
    TE_RENAME = 21,    /* a0 = renameat2 flags; s0/s1 = old, s2/s3 = new */
    TE_LINK = 22,      /* s0/s1 = existing, s2/s3 = new link */
    TE_SYMLINK = 23,   /* s1 = target text (not resolved), s2/s3 = link path */
    TE_UNLINK = 24,
    TE_RMDIR = 25,
    TE_MKDIR = 26,     /* a0 = mode */
    TE_CHMOD = 27,     /* a0 = mode */
    TE_CHOWN = 28,     /* a0 = uid, a1 = gid (as u32, -1 = unchanged) */
    TE_TRUNCATE = 29,  /* a0 = length */
    TE_MKNOD = 30,     /* a0 = mode, a1 = dev */
    /* network: family/port/addr describe the destination (connect, sendto) or local address (bind, listen) */
    TE_CONNECT = 40,   /* a0 = fd */
    TE_BIND = 41,      /* a0 = fd */
    TE_LISTEN = 42,    /* a0 = fd, a1 = backlog */
    TE_SENDTO = 43,    /* a0 = fd, a1 = bytes requested */
    /* privileged */
    TE_PTRACE = 60,    /* a0 = request, a1 = target pid */
    TE_MOUNT = 61,     /* a0 = flags; s0/s1 = target, s2 = source, s3 = fstype */
    TE_UMOUNT = 62,    /* a0 = flags; s0/s1 = target */
    TE_PIVOT_ROOT = 63,/* s0/s1 = new root, s2/s3 = put_old */
    TE_CHROOT = 64,    /* s0/s1 = new root */
    TE_MOUNT_API = 65, /* a0 = syscall (TE_MAPI_*), a1 = flags; s0/s1 = path where the call names one */
    TE_UNSHARE = 66,   /* a0 = flags */
    TE_SETNS = 67,     /* a0 = fd, a1 = nstype */
    TE_MODULE = 68,    /* a0 = 1 init_module / 2 finit_module, a1 = flags; s0 = file (finit), s1 = params */
    TE_BPF = 69,       /* a0 = command */
    TE_MEMFD = 70,     /* a0 = flags; s1 = name */
    TE_IO_URING = 71,  /* a0 = entries, a1 = flags */
    TE_KILL = 72,      /* a0 = target pid (tgid for kill/pidfd, tid for tgkill/tkill), a1 = signal, a2 = TE_KILLVIA_* */
};

/* TE_EXEC a1 flags */
#define TE_EXEC_ARGV_TRUNCATED 1u
#define TE_EXEC_SESSION_START 2u   /* this exec matched the watch policy and began a session */

/* TE_MOUNT_API a0 values */
enum te_mount_api {
    TE_MAPI_FSOPEN = 1, TE_MAPI_FSMOUNT = 2, TE_MAPI_MOVE_MOUNT = 3, TE_MAPI_OPEN_TREE = 4,
    TE_MAPI_FSPICK = 5, TE_MAPI_MOUNT_SETATTR = 6, TE_MAPI_FSCONFIG = 7,
};

/* TE_KILL a2 values */
enum te_kill_via { TE_KILLVIA_KILL = 1, TE_KILLVIA_TKILL = 2, TE_KILLVIA_TGKILL = 3, TE_KILLVIA_PIDFD = 4 };

/* String slot encodings (te_str.enc). */
enum te_str_enc {
    TE_STR_NONE = 0,     /* slot unused */
    TE_STR_PLAIN = 1,    /* bytes as read; argv is NUL separated */
    TE_STR_DPATH = 2,    /* absolute path as dentry names leaf first, each NUL terminated */
};

/* te_str.flags */
#define TE_STRF_TRUNCATED 1u  /* string cut at its bound, or path deeper than TE_PATH_DEPTH */
#define TE_STRF_BASE      2u  /* a DPATH that is the directory a relative requested path is resolved against */
#define TE_STRF_FAULT     4u  /* reading the user string failed */
#define TE_STRF_DELETED   8u  /* the file had no links left (deleted, or memfd) */
#define TE_STRF_ABSTRACT 16u  /* unix socket path in the abstract namespace */

struct te_str {
    __u16 off;   /* from the start of the record */
    __u16 len;   /* bytes, no trailing NUL for PLAIN, all terminators for DPATH */
    __u8 enc;
    __u8 flags;
    __u16 pad;
};

struct te_header {
    __u16 kind;
    __u16 abi;
    __u32 size;       /* whole record, string area included */
    __u64 time_ns;    /* bpf_ktime_get_boot_ns() */
};

struct te_event {
    struct te_header h;
    __u32 pid;        /* thread id */
    __u32 tgid;
    __u32 ppid;       /* tgid of the real parent */
    __u32 uid;
    __u32 euid;
    __u32 gid;
    __u32 egid;
    __u32 syscall;    /* syscall number, 0 for scheduler events */
    __u64 session;
    __s64 result;     /* syscall return value; 0 for scheduler events */
    char comm[TE_COMM_LEN];
    __u64 a[4];       /* kind-specific numbers, see enum te_kind */
    __u16 family;     /* AF_INET / AF_INET6 / AF_UNIX, 0 if none */
    __u16 port;       /* host byte order */
    __u32 pad0;
    __u8 addr[16];    /* IPv4 in the first 4 bytes; network byte order */
    struct te_str s[TE_NSTR];
    /* string area follows */
};

/* Value of the tracked map (key: tgid). */
struct te_tracked {
    __u64 session;
    __u32 root_tgid;
    __u32 flags;
};

/* Keys of the `stats` per-CPU array. */
enum te_stat {
    TE_STAT_DROPS = 0,       /* ring buffer full: record lost */
    TE_STAT_EVENTS = 1,      /* records written */
    TE_STAT_TRACK_FULL = 2,  /* tracked map full: a child could not be tracked */
    TE_STAT_MAX = 3,
};

/* Keys of the watch maps, filled from policy: a process whose exec matches starts a session. */
struct te_watch_inode { __u64 dev; __u64 ino; };

#define TE_SIZEOF_EVENT 168

_Static_assert(sizeof(struct te_event) == TE_SIZEOF_EVENT, "te_event layout drifted");
_Static_assert(sizeof(struct te_str) == 8, "te_str layout drifted");

#endif
