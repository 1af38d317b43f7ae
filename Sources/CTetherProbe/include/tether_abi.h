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

#define TE_ABI_VERSION 2

#define TE_COMM_LEN 16
#define TE_NSTR 4                /* string slots per record */
#define TE_STR_MAX 4096          /* bytes one string slot may hold, NUL included */
#define TE_STRAREA 16384         /* bytes of string area after the fixed part */
#define TE_PATH_DEPTH 48         /* dentries walked before a path is marked truncated */
#define TE_ARGV_MAX 4096         /* bytes of argv copied at exec */

/* Event kinds, from the schema (tether_events.def, where each row says what the record
 * carries). Numbers are part of the ABI: never renumber, never reuse. */
enum te_kind {
#define TE_EVENT(name, number, swift, json, layout, doc) TE_##name = number,
#include "tether_events.def"
};

/* te_event.syscall of a TE_RESTRICTED record for a syscall made through the 32-bit entry
 * (int 0x80, sysenter): the 32-bit number with this bit set */
#define TE_SYSCALL_COMPAT 0x80000000u
#define TE_SYSCALL_URING  0x40000000u /* te_event.syscall: an io_uring request (its opcode in the low byte),
                                       * read at submission: no outcome (result 0) */
#define TE_SYSCALL_URING_DONE 0x20000000u /* with TE_SYSCALL_URING: the request's completion, result its
                                           * outcome (a ring's open whose opened file a guard matched) */

/* TE_EXEC a1 flags */
#define TE_EXEC_ARGV_TRUNCATED 1u
#define TE_EXEC_SESSION_START 2u   /* this exec matched the watch policy and began a session */
#define TE_EXEC_SCRIPT 4u          /* the file exec'd was a script its #! interpreter runs: s3 is the script */

/* TE_EXEC a2: what the kernel read of the new environment (mm->env_start..env_end, as the
 * exec laid it out): the variables that say where the process's homes are and the ones that
 * load code of the caller's choosing into it, kept whole ("NAME=value", NUL separated) in
 * the string area: bits 0-15 their offset, 16-31 their length, 32-47 TE_ENV_* flags.
 * a3: the executable's inode as the kernel opened it: bits 0-15 i_mode, 32-63 i_uid. */
#define TE_ENV_HOME        1u   /* HOME, XDG_CONFIG_HOME, XDG_DATA_HOME or ZDOTDIR is set */
#define TE_ENV_LOADER      2u   /* LD_PRELOAD, LD_AUDIT or LD_LIBRARY_PATH: the dynamic loader runs the caller's code */
#define TE_ENV_INTERPRETER 4u   /* PYTHONPATH, NODE_OPTIONS, PERL5OPT, BASH_ENV, ...: an interpreter runs it */
#define TE_ENV_INCOMPLETE  8u   /* not every string was read (unreadable, or past TE_ENV_STRINGS): a variable may be hidden */
#define TE_ENV_CUT        16u   /* a kept variable did not fit in the record whole */
#define TE_ENV_STRINGS 65536    /* environment strings read at most */
#define TE_ENV_KEEP 2048        /* bytes of kept variables at most */

/* TE_MOUNT_API a0 values */
enum te_mount_api {
    TE_MAPI_FSOPEN = 1, TE_MAPI_FSMOUNT = 2, TE_MAPI_MOVE_MOUNT = 3, TE_MAPI_OPEN_TREE = 4,
    TE_MAPI_FSPICK = 5, TE_MAPI_MOUNT_SETATTR = 6, TE_MAPI_FSCONFIG = 7,
};

/* TE_KILL a2 values */
enum te_kill_via {
    TE_KILLVIA_KILL = 1, TE_KILLVIA_TKILL = 2, TE_KILLVIA_TGKILL = 3, TE_KILLVIA_PIDFD = 4,
    TE_KILLVIA_SIGQUEUE = 5,   /* rt_sigqueueinfo */
    TE_KILLVIA_TGSIGQUEUE = 6, /* rt_tgsigqueueinfo */
    TE_KILLVIA_SETOWN = 7,     /* fcntl F_SETOWN(_EX) / ioctl FIOSETOWN, SIOCSPGRP: the file's I/O signals go to a0 */
};

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
#define TE_STRF_ROOT     32u  /* a DPATH that is the caller's root (a chroot): an absolute requested path is under it */
#define TE_STRF_RACED    64u  /* the caller's string was not the same when its syscall began (read then, at the
                               * syscall's entry) as when it returned: a second thread rewrote it while the
                               * call ran, so the record's string is not necessarily what the kernel used */
#define TE_STRF_UNVERIFIED 128u /* the caller's string could not be read when its syscall began (its page was
                               * not in memory: a tracepoint cannot fault it in), so nothing shows the record's
                               * string is what the kernel used */

/* entered_args (loader -> kernel, before load): arguments read at a syscall's entry */
#define TE_ENTERED_ON    0x80u /* the syscall's strings are read at entry */
#define TE_ENTERED_HOW   0x40u /* its first is an open_how (its flags kept) */
#define TE_ENTERED_NONE  7u    /* in either 3-bit field: no such argument */

struct te_str {
    __u16 off;   /* from the start of the record */
    __u16 len;   /* bytes, no trailing NUL for PLAIN, all terminators for DPATH */
    __u8 enc;
    __u8 flags;
    __u16 skip;  /* a requested path through the caller's own /proc magic link
                  * (/proc/self/cwd/…, /proc/self/fd/N/…, /proc/self/root/…): the prefix's
                  * bytes; the rest is read against the base slot as a relative path is */
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
    __u32 guard;      /* TE_GUARD_*: what the kernel did about this event */
    __u8 addr[16];    /* IPv4 in the first 4 bytes; network byte order */
    /* The session as the kernel's tracked entry has it: the kernel decided its agent once
     * (at the exec that matched, or when user space tracked it) and every record says so. */
    __u32 root_tgid;  /* the session's root */
    __u16 agent;      /* the session's agent: slot of the `agents` map */
    __u16 mode;       /* TE_MODE_*: what the guards do for this session right now */
    struct te_str s[TE_NSTR];
    /* string area follows */
};

/* te_event.guard: what the kernel did. */
#define TE_GUARD_KILLED   1u   /* the caller was sent SIGKILL: it dies on return from the syscall */
#define TE_GUARD_FROZE    2u   /* the rest of its session was sent SIGSTOP in the same instant */
#define TE_GUARD_REFUSED  4u   /* a cgroup hook refused the operation (EPERM): it never happened */
#define TE_GUARD_MONITOR  8u   /* monitor mode: a guard matched but acted on nothing */
#define TE_GUARD_TAMPER  16u   /* the tamper guard matched (signal/ptrace of Tether, bpf, module, Tether's files) */
#define TE_GUARD_WRITE   32u   /* the write guard matched (open for write/create in a protected location) */
#define TE_GUARD_EGRESS  64u   /* the egress guard matched (destination outside the allow-list, or metadata) */
#define TE_GUARD_FORK   128u   /* a child of a frozen session, stopped before its first instruction */
#define TE_GUARD_UNRESOLVED 256u /* a rename/link/symlink whose destination the kernel could not
                                  * resolve (through a symlink, too deep): user space judges it */
#define TE_GUARD_HELD   512u   /* refused in a session under TE_MODE_HOLD: the caller was sent SIGSTOP on
                                * its way back from the syscall; user space tells it why, then continues it */
#define TE_GUARD_TTY   1024u   /* the terminal guard matched (input pushed into a terminal, TIOCSTI) */
#define TE_GUARD_DEPUTY 2048u  /* the deputy guard matched (a unix connect to a server outside the
                                * session whose executable runs commands for its clients) */
#define TE_GUARD_NOTED 4096u   /* a write to a location the rules judge and no guard acts on (TE_PROTECT_NOTE),
                                * or a read of a credential location (TE_PROTECT_SECRET): nothing was done, but
                                * the record goes on the urgent ring if the main one is full */

/* Value of the tracked map (key: tgid). Inherited unchanged at fork. */
struct te_tracked {
    __u64 session;
    __u32 root_tgid;
    __u16 flags;     /* TE_TRACK_* */
    __u16 agent;     /* the session's agent (slot of `agents`): its mode and egress allow-list */
};

/* tracked_bits: one bit per possible tgid (PID_MAX_LIMIT on 64-bit), set for every tgid
 * that may be in `tracked` (the untracked fast path tests the bit, not the hash). */
#define TE_PID_LIMIT (4u << 20)
#define TE_TRACKED_WORDS (TE_PID_LIMIT / 64)
/* The word after the bitmap: a generation count, bumped after every change to `tracked`
 * (by the kernel and by the loader), so a cached copy of an entry is known to be current. */
#define TE_TRACKED_GEN TE_TRACKED_WORDS

/* A session follows its agent's mode (`agents`), unless it has one of its own
 * (TE_TRACK_MODE_SET, e.g. `tether run --mode`): then TE_TRACK_ENFORCE says which. */
#define TE_TRACK_ENFORCE 1u
#define TE_TRACK_MODE_SET 2u
/* A confined session whose refusals are explained to the agent: a member whose syscall
 * the kernel refused stops until user space has written the reason to its stderr. */
#define TE_TRACK_HOLD 4u

/* te_event.mode */
#define TE_MODE_ENFORCE 1u    /* guards act (kill, freeze, refuse); otherwise they only report */
#define TE_MODE_OWN 2u        /* the session's own mode, not its agent's */
#define TE_MODE_HOLD 4u       /* TE_TRACK_HOLD: a refused syscall stops its caller (TE_GUARD_HELD) */

/* The agents the kernel knows: slot -> name and mode. Slot 0 is the policy's defaults
 * (sessions `tether run` starts, and those no agent matched). User space assigns the
 * slots and keeps an agent on its slot across reloads; the map is pinned, so a restarted
 * daemon reads which slot is which agent from the kernel. */
#define TE_AGENT_MAX 256
#define TE_AGENT_NAME 56
#define TE_AGENT_ENFORCE 1u   /* the agent's mode is enforce */
#define TE_AGENT_IN_USE 2u    /* the slot is assigned */
#define TE_AGENT_RETIRED 4u   /* the agent left the policy; its sessions run under the defaults' mode */
struct te_agent {
    __u32 flags;              /* TE_AGENT_* */
    __u32 pad;
    char name[TE_AGENT_NAME]; /* NUL padded */
};

/* protected_inodes values */
#define TE_PROTECT_WRITE  1u  /* persistence location: opening it for write is guarded */
#define TE_PROTECT_TAMPER 2u  /* Tether's own files: opening for write is tampering */
#define TE_PROTECT_DIR    4u  /* a directory: creating or opening for write any file directly in it is guarded */
#define TE_PROTECT_NOTE   8u  /* no guard acts, but a write there must not be lost with a flood (TE_GUARD_NOTED) */
#define TE_PROTECT_SECRET 16u /* a credential location: a read there must not be lost with a flood (TE_GUARD_NOTED);
                               * with TE_PROTECT_DIR, any file directly in the directory */

/* Guard switches (guard_config map), compiled from policy. */
#define TE_GUARDS_TAMPER  1u
#define TE_GUARDS_WRITE   2u
#define TE_GUARDS_EGRESS  4u
#define TE_GUARDS_SYSCTL  8u
#define TE_GUARDS_RAWSOCK 16u
#define TE_GUARDS_DEVICE  32u
#define TE_GUARDS_TTY     64u
#define TE_GUARDS_DEPUTY 128u

/* kill records, a3: the process a delivered signal reached, outside the caller's session. */
#define TE_TARGET_KNOWN 1u  /* read from the kernel: s0 its executable, euid in a3's high half */
#define TE_TARGET_COMM  2u  /* it was past its mm's teardown: s0 is its command name */

/* A unix stream connect's other end, as the kernel recorded it when that process called
 * listen() (sk_peer_pid, sk_peer_cred), never as the socket's path names it. Connect
 * records: a2 = the listener's tgid, a3 = TE_PEER_* | deputy kind << 8 | listener euid << 32. */
#define TE_PEER_KNOWN  1u   /* the kernel knew who listens */
#define TE_PEER_MEMBER 2u   /* the listener is a member of the caller's session */
#define TE_PEER_DEPUTY 4u   /* the listener's executable is in deputy_exes (kind: its value) */
#define TE_PEER_ACTIVATED 8u /* with TE_PEER_DEPUTY: the listener is a service manager, and
                              * the socket file it bound is one it listens on for the deputy
                              * (deputy_exes holds that file's inode: socket activation) */

/* dcache_table: the dcache's hash table (dentry_hashtable, a bucket per hash >> shift),
 * found by user space from samples (te_dcache_sample) and written once per load. */
struct te_dcache {
    __u64 table;      /* address of bucket 0; 0: unknown */
    __u32 shift;      /* d_hash_shift */
    __u32 pad;
};

/* What the dcache_sample iterator writes per dentry (an open file's, and its parent's):
 * enough to find the table (a bucket's first dentry points back into it) and to check
 * that the name hash the resolver computes is the kernel's. */
#define TE_DCACHE_NAME 64
struct te_dcache_sample {
    __u64 dentry, parent;
    __u64 pprev;      /* d_hash.pprev: the bucket, for the first dentry in one */
    __u32 hash, len;  /* d_name */
    char name[TE_DCACHE_NAME]; /* NUL padded; a longer name is cut (len says so) */
};

/* deputies: a deputy (tgid) a member reached, while that member lives the deputy's new
 * children are adopted into the member's session (fork records: a1 = the deputy). */
struct te_deputy {
    __u64 session;
    __u32 member;     /* the tgid of the member that connected */
    __u32 kind;       /* its deputy_exes value */
};

/* Key of the egress LPM tries: agent slot, then the address (IPv4 as ::ffff:a.b.c.d). */
struct te_net_key {
    __u32 prefixlen;  /* 16 (agent) + address bits */
    __u16 agent;
    __u8 addr[16];
} __attribute__((packed));

/* Value of egress_allow: port ranges allowed for that prefix; unused slots have hi = 0,
 * and no range at all means any port. */
#define TE_NET_PORTS 8
struct te_net_ports {
    __u16 lo[TE_NET_PORTS];
    __u16 hi[TE_NET_PORTS];
    __u16 gen;        /* the guard plan that wrote it (see TE_GUARD_GEN_SHIFT) */
    __u16 pad;
};

/* A guard plan is installed beside the one it replaces, then the other's entries go: every
 * entry of protected_inodes / protected_names (in the value's high 16 bits), egress_allow
 * and egress_deny says which plan wrote it, so a reload never has a moment with fewer
 * guards than either plan. */
#define TE_GUARD_GEN_SHIFT 16
#define TE_PROTECT_MASK 0xffffu

/* Keys of the `stats` per-CPU array. */
enum te_stat {
    TE_STAT_DROPS = 0,       /* ring buffer full: record lost */
    TE_STAT_EVENTS = 1,      /* records written */
    TE_STAT_TRACK_FULL = 2,  /* tracked map full: a child could not be tracked */
    TE_STAT_GUARD_FAIL = 3,  /* a guard could not signal a task (bpf_send_signal failed) */
    TE_STAT_RESCUED = 4,     /* ring buffer full: a guard-matched record went on the urgent ring instead */
    TE_STAT_URGENT_DROPS = 5, /* the urgent ring was full too: a guard-matched record or a loss record lost */
    TE_STAT_MAX = 6,
};

/* Keys of the watch maps, filled from policy: a process whose exec matches starts a session. */
struct te_watch_inode { __u64 dev; __u64 ino; };

/* Key of local_addrs: an address of this host's interfaces (16 bytes, network order,
 * IPv4 as ::ffff:a.b.c.d). Value: 1 | the guard plan that wrote it << TE_GUARD_GEN_SHIFT. */
struct te_local_addr { __u8 addr[16]; };

/* Value of deputy_procs (key: a tgid): a process that runs a policy-named script under an
 * interpreter (its executable is the interpreter's, so deputy_exes cannot name it), found
 * by user space. `start` is when it started, in clock ticks since boot (USER_HZ, 100 on
 * x86-64), as /proc/PID/stat's field 22 says: a pid reused by another process does not
 * match it. */
struct te_deputy_proc {
    __u32 kind;       /* its deputy kind | the guard plan that wrote it << TE_GUARD_GEN_SHIFT */
    __u32 pad;
    __u64 start;
};
#define TE_USER_HZ 100

/* Key of deputy_scripts: a scripted deputy's interpreter (its file's dev, ino), the
 * FNV-1a hash (te_str_hash) of its script's path as a launcher spells it, and for a
 * spelling relative to the working directory (the script's file name) that directory
 * (zero for an absolute one). Value: its kind | the guard plan that wrote it <<
 * TE_GUARD_GEN_SHIFT. An exec of that interpreter with that path among its first
 * arguments is the deputy starting (deputy_exec). */
struct te_deputy_script {
    struct te_watch_inode interp;
    __u64 hash;
    struct te_watch_inode dir;
};

/* deputy_exes values: a deputy that runs commands over TCP only (sshd): its unix sockets
 * (an agent forwarding socket of a login) are not judged as a deputy's. */
#define TE_DEPUTY_TCP_ONLY 0x8000u

/* Key of protected_names: a protected location by its name in its directory (the
 * directory's dev and inode, then the name, NUL padded), so that it stays protected when
 * it does not exist yet or is replaced by a rename. Value: TE_PROTECT_*. */
#define TE_PNAME_MAX 64

/* Slots of the handler table: one per syscall number, below TE_SYSCALL_SLOTS. */
#define TE_SYSCALL_SLOTS 512
/* Slot of the handler table (past every syscall number) for the stage that judges the
 * destination of a rename/link/symlink: one program, so the verifier walks it once. */
#define TE_SLOT_ENTRY_GUARD 511
struct te_protected_name { __u64 dev; __u64 ino; char name[TE_PNAME_MAX]; };

#define TE_SIZEOF_EVENT 176

_Static_assert(sizeof(struct te_event) == TE_SIZEOF_EVENT, "te_event layout drifted");
_Static_assert(sizeof(struct te_str) == 8, "te_str layout drifted");
_Static_assert(sizeof(struct te_agent) == 64, "te_agent layout drifted");
_Static_assert(sizeof(struct te_net_ports) == 36, "te_net_ports layout drifted");
_Static_assert(sizeof(struct te_tracked) == 16, "te_tracked layout drifted");

#endif
