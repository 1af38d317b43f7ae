// SPDX-License-Identifier: GPL-2.0
/* Tether's kernel side: follow every process of every watched agent session and
 * report what it does.
 *
 * One hook sees every syscall: tp_btf/sys_exit. Untracked processes pay one map lookup
 * (`tracked`) there and at each scheduler hook, nothing more. For a tracked process the
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

#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_ACCMODE 03
#define NAME_MAX 255
#define SIGKILL 9
#define SIGSTOP 19
#define SOCK_RAW 3
#define AF_PACKET 17
#define BPF_FS_MAGIC 0xcafe4a11
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define RENAME_EXCHANGE 2
#define S_IFMT 0170000
#define S_IFDIR 0040000

/* kfuncs: freezing other members needs a task reference (tp_btf programs only) */
/* (libbpf 1.1 has no bpf_ksym_exists: a missing weak ksym resolves to 0) */
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) (!!(sym))
#endif
#define BPF_DEVCG_DEV_BLOCK 1
#define BPF_DEVCG_DEV_CHAR 2
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type, u64 value) __ksym __weak;
/* Retypes a kernel address as a read-only BTF pointer, so fields load directly (faulting
 * loads, no helper call). The verifier turns the call into a register move. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define KPTR(type, p) ((type *)bpf_rdonly_cast((void *)(p), bpf_core_type_id_kernel(type)))
/* The current task as such a pointer. (bpf_get_current_task_btf's trusted pointer would
 * make the verifier check every nested field for trust, a slow search at load.) */
#define current_task() KPTR(struct task_struct, bpf_get_current_task())

/* ---- settings the loader fills before load ---- */

/* Wake the reader once per this many bytes a CPU writes; in between, the reader's timed
 * poll collects them (batched wakeups, not one per event). A wakeup is an inter-processor
 * interrupt, which a VM pays for with an exit: keep them rare. */
const volatile __u32 wakeup_bytes = 1 << 20;

/* A bit per syscall number that has a handler: any other syscall of a tracked process
 * is dismissed before its `tracked` entry is looked up. */
const volatile __u64 reported_syscalls[TE_SYSCALL_SLOTS / 64];

/* ---- maps ---- */

/* tgid -> session: the set of processes we follow. A child inherits at fork. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, struct te_tracked);
} tracked SEC(".maps");

/* A bit per tgid that may be in `tracked`: an untracked process's syscall costs one array
 * load here instead of a hash lookup. The bit is set before an entry is added (here, and
 * by the loader through its mapping of this array), and cleared after the kernel removes
 * one; a stale set bit only costs the hash lookup. Word TE_TRACKED_GEN is the generation
 * of `tracked`. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, TE_TRACKED_WORDS + 1);
    __type(key, __u32);
    __type(value, __u64);
} tracked_bits SEC(".maps");

/* Syscall number -> handler program. Filled by the loader; empty slots are ignored. */
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, TE_SYSCALL_SLOTS);
    __type(key, __u32);
    __type(value, __u32);
} handlers SEC(".maps");

/* What a handler knows of the syscall that just returned. */
struct call {
    __u64 args[6];
    __u64 session;
    __u32 flags;   /* te_tracked.flags */
    void *ctx;     /* the program's context, for a tail call to a later stage */
};

/* Per-CPU state of the hot path. `call`: the tracked entry the dispatcher found, for the
 * handler it tail-calls (a tail call keeps no locals); the handler runs on the same CPU
 * before anything else can. It is also a cache: while `call_tgid` calls again and the
 * generation of `tracked` is still `call_gen`, `call` is current and the hash is not
 * looked up. `unwoken`: bytes this CPU has written since it last woke the reader. */
struct cpu_state {
    struct te_tracked call;
    __u64 call_gen;
    __u32 call_tgid;
    __u64 unwoken;
    __s64 dirfd[2];  /* for the entry guard stage: base of string slot 3, of slot 1 */
    __u32 slots;     /* for the entry guard stage: 1 = judge slot 3, 2 = slot 1 too */
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct cpu_state);
} cpu_state SEC(".maps");

/* Events to user space. Size set by the loader. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 << 20);
} events SEC(".maps");

/* One record under construction per CPU. */
struct scratch {
    __u8 buf[sizeof(struct te_event) + TE_STRAREA];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} scratch SEC(".maps");

/* Counters (enum te_stat), per CPU so they cost no atomics. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TE_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

/* Watch policy compiled to exact keys: an untracked exec matching any starts a session.
 * Value: the new session's te_tracked flags | policy index << 16. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, char[TE_COMM_LEN]);
    __type(value, __u32);
} watch_comm SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u32);
} watch_uid SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u64);
    __type(value, __u32);
} watch_cgroup SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct te_watch_inode);
    __type(value, __u32);
} watch_inode SEC(".maps");

/* watch_config[0]: bit mask of the watch maps in use (1 comm, 2 uid, 4 cgroup, 8 inode). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} watch_config SEC(".maps");

/* Sessions a guard (or user space) froze: session -> boot ns. A child forked into a
 * frozen session is stopped before its first instruction. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u64);
    __type(value, __u64);
} frozen SEC(".maps");

/* Tether's own processes (tetherd, a supervising `tether run`): signalling or tracing them is tampering. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u8);
} protected_pids SEC(".maps");

/* Files and directories by identity -> TE_PROTECT_* (persistence locations, Tether's files). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8192);
    __type(key, struct te_watch_inode);
    __type(value, __u32);
} protected_inodes SEC(".maps");

/* (directory, name) -> TE_PROTECT_*: protected locations by name, so that creating one that
 * does not exist yet, or renaming something over it, is caught too. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8192);
    __type(key, struct te_protected_name);
    __type(value, __u32);
} protected_names SEC(".maps");

/* Per-CPU room for resolving a destination path in the dcache (see resolve_parent). */
#define NAME_WORDS ((NAME_MAX + 1) / 8)
struct resolve_buf {
    __u64 want[NAME_WORDS]; /* the component looked up, NUL padded */
    __u64 cand[NAME_WORDS]; /* a long candidate name */
    struct te_protected_name key;
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct resolve_buf);
} resolve_buf SEC(".maps");

/* guard_config[0]: TE_GUARDS_* switches compiled from policy. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} guard_config SEC(".maps");

/* Egress allow-list per agent policy, and destinations always refused (cloud metadata). */
struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 4096);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct te_net_key);
    __type(value, struct te_net_ports);
} egress_allow SEC(".maps");
struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 256);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct te_net_key);
    __type(value, __u8);
} egress_deny SEC(".maps");

/* A cgroup hook's verdict for the thread, picked up by that syscall's exit handler. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, __u32);
} verdicts SEC(".maps");

/* ---- helpers ---- */

/* False only if `tgid` is surely not tracked. */
static __always_inline bool maybe_tracked(__u32 tgid)
{
    __u32 w = tgid / 64;
    __u64 *v = bpf_map_lookup_elem(&tracked_bits, &w);
    return !v || (*v & (1ull << (tgid & 63)));
}

static __always_inline void mark_tracked(__u32 tgid, bool on)
{
    __u32 w = tgid / 64;
    __u64 *v = bpf_map_lookup_elem(&tracked_bits, &w);
    if (!v)
        return;
    if (on)
        __sync_fetch_and_or(v, 1ull << (tgid & 63));
    else
        __sync_fetch_and_and(v, ~(1ull << (tgid & 63)));
}

/* After every change to `tracked`: cached copies of entries are no longer current. */
static __always_inline void tracked_changed(void)
{
    __u32 k = TE_TRACKED_GEN;
    __u64 *gen = bpf_map_lookup_elem(&tracked_bits, &k);
    if (gen)
        __sync_fetch_and_add(gen, 1);
}

/* Every change to `tracked` goes through these two: the bit is set before an entry is
 * added and cleared after it is removed, and the generation is bumped after either. */
static __always_inline int track_put(__u32 tgid, struct te_tracked *v)
{
    mark_tracked(tgid, true);
    int full = bpf_map_update_elem(&tracked, &tgid, v, BPF_ANY);
    tracked_changed();
    return full;
}

static __always_inline void track_drop(__u32 tgid)
{
    bpf_map_delete_elem(&tracked, &tgid);
    tracked_changed();
    mark_tracked(tgid, false);
}

/* The tracked entry of `tgid`, or NULL: the bit first, the hash only if it is set. */
static __always_inline struct te_tracked *tracked_entry(__u32 tgid)
{
    if (!maybe_tracked(tgid))
        return NULL;
    return bpf_map_lookup_elem(&tracked, &tgid);
}

static __always_inline void stat_inc(__u32 key)
{
    __u64 *v = bpf_map_lookup_elem(&stats, &key);
    if (v)
        (*v)++;
}

static __always_inline struct te_event *event_begin(__u16 kind, __u64 session, long nr, long ret)
{
    __u32 zero = 0;
    struct te_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!e)
        return NULL;
    struct task_struct *task = current_task();
    const struct cred *cred = task->cred; /* plain loads where a helper call would do the same */

    e->h.kind = kind;
    e->h.abi = TE_ABI_VERSION;
    e->h.size = sizeof(*e);
    e->h.time_ns = bpf_ktime_get_boot_ns();
    e->pid = task->pid;
    e->tgid = task->tgid;
    e->ppid = task->real_parent->tgid;
    e->uid = cred->uid.val;
    e->gid = cred->gid.val;
    e->euid = cred->euid.val;
    e->egid = cred->egid.val;
    e->syscall = nr;
    e->session = session;
    e->result = ret;
    __builtin_memcpy(e->comm, task->comm, sizeof(e->comm)); /* plain loads, no helper */
    e->a[0] = e->a[1] = e->a[2] = e->a[3] = 0;
    e->family = 0;
    e->port = 0;
    e->guard = 0;
    __builtin_memset(e->addr, 0, sizeof(e->addr));
    __builtin_memset(e->s, 0, sizeof(e->s));
    return e;
}

static __always_inline void event_emit(struct te_event *e)
{
    __u32 size = e->h.size;
    if (size > sizeof(struct scratch))
        return;
    /* Wake the reader once per `wakeup_bytes` this CPU writes; smaller batches wait for
     * the reader's timed poll. Counted per CPU, so deciding reads nothing the reader
     * writes (asking the ring buffer how much waits would pull the reader's cache line
     * to this CPU on every record). */
    __u32 zero = 0;
    __u64 flags = BPF_RB_NO_WAKEUP;
    struct cpu_state *cpu = bpf_map_lookup_elem(&cpu_state, &zero);
    if (cpu) {
        cpu->unwoken += size;
        if (cpu->unwoken >= wakeup_bytes) {
            cpu->unwoken = 0;
            flags = BPF_RB_FORCE_WAKEUP;
        }
    }
    if (bpf_ringbuf_output(&events, e, size, flags))
        stat_inc(TE_STAT_DROPS);
    else
        stat_inc(TE_STAT_EVENTS);
}

static __always_inline __u32 guards_enabled(void)
{
    __u32 zero = 0;
    __u32 *g = bpf_map_lookup_elem(&guard_config, &zero);
    return g ? *g : 0;
}

struct freeze_ctx {
    __u64 session;
    __u32 self;
    __u32 count;
};

static long freeze_one(struct bpf_map *map, __u32 *tgid, struct te_tracked *t, struct freeze_ctx *c)
{
    if (t->session != c->session || *tgid == c->self)
        return 0;
    struct task_struct *task = bpf_task_from_pid(*tgid);
    if (!task)
        return 0;
    if (bpf_send_signal_task(task, SIGSTOP, PIDTYPE_TGID, 0))
        stat_inc(TE_STAT_GUARD_FAIL);
    else
        c->count++;
    bpf_task_release(task);
    return 0;
}

/* Stops every other member of `session` now, and marks it frozen so new children stop too. */
static __always_inline __u32 freeze_session(__u64 session)
{
    __u64 now = bpf_ktime_get_boot_ns();
    bpf_map_update_elem(&frozen, &session, &now, BPF_ANY);
    struct freeze_ctx c = { .session = session, .self = bpf_get_current_pid_tgid() >> 32 };
    if (!bpf_ksym_exists(bpf_send_signal_task) || !bpf_ksym_exists(bpf_task_from_pid))
        return 0;
    bpf_for_each_map_elem(&tracked, freeze_one, &c, 0);
    return c.count;
}

/* A guard matched: in enforce mode the caller dies on its return from this syscall and its
 * session freezes at once; in monitor mode nothing is done and the event says so. */
static __always_inline void guard_act(struct te_event *e, struct call *c, __u32 what)
{
    if (!(c->flags & TE_TRACK_ENFORCE)) {
        e->guard |= what | TE_GUARD_MONITOR;
        return;
    }
    if (bpf_send_signal(SIGKILL))
        stat_inc(TE_STAT_GUARD_FAIL);
    else
        e->guard |= TE_GUARD_KILLED;
    freeze_session(c->session);
    e->guard |= what | TE_GUARD_FROZE;
}

/* The process a thread id belongs to. */
static __always_inline __s64 tgid_of(__s64 tid)
{
    if (tid <= 0 || !bpf_ksym_exists(bpf_task_from_pid))
        return tid;
    struct task_struct *t = bpf_task_from_pid(tid);
    if (!t)
        return tid;
    __s64 tgid = t->tgid;
    bpf_task_release(t);
    return tgid;
}

static __always_inline bool pid_protected(__s64 tgid)
{
    __u32 k = tgid;
    return tgid > 0 && bpf_map_lookup_elem(&protected_pids, &k);
}

/* Room for one more full string slot? Otherwise the slot is marked truncated. */
#define STR_LIMIT (sizeof(struct te_event) + TE_STRAREA - TE_STR_MAX)

static __always_inline long str_user(struct te_event *e, int slot, const char *uptr)
{
    __u32 off = e->h.size;
    if (slot < 0 || slot >= TE_NSTR)
        return -1;
    e->s[slot].off = off;
    e->s[slot].enc = TE_STR_PLAIN;
    if (off > STR_LIMIT) {
        e->s[slot].flags = TE_STRF_TRUNCATED;
        return -1;
    }
    long n = bpf_probe_read_user_str((char *)e + off, TE_STR_MAX, uptr);
    if (n <= 0) {
        e->s[slot].flags = TE_STRF_FAULT;
        return -1;
    }
    e->s[slot].len = n - 1;
    if (n == TE_STR_MAX)
        e->s[slot].flags = TE_STRF_TRUNCATED;
    e->h.size = off + n;
    return n - 1;
}

/* First byte of a string slot already in the record. */
static __always_inline char str_first(struct te_event *e, int slot)
{
    __u32 off = e->s[slot & (TE_NSTR - 1)].off;
    if (off >= sizeof(struct scratch))
        return 0;
    return ((char *)e)[off];
}

struct walk {
    struct dentry *d; /* plain addresses: a bpf_loop context holds no typed pointers */
    struct mount *m;
    __u32 slot;      /* never read, but written: without it the verifier prunes the walk's
                      * states less well (measured: ~57K more instructions to verify) */
    __u8 done;
    __u8 truncated;
};

static __always_inline struct mount *real_mount(struct vfsmount *mnt)
{
    return (struct mount *)((void *)mnt - bpf_core_field_offset(struct mount, mnt));
}

/* One step of a path walk: append the current name (leaf first) or cross a mount. */
static long walk_step(__u64 index, struct walk *w)
{
    __u32 zero = 0;
    struct te_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!e)
        return 1;
    struct dentry *d = KPTR(struct dentry, w->d);
    struct mount *m = KPTR(struct mount, w->m);
    struct dentry *parent = d->d_parent;
    struct dentry *mnt_root = m->mnt.mnt_root;
    if (d == mnt_root || d == parent) {
        struct mount *up = m->mnt_parent;
        if (up == m || d != mnt_root) {
            w->done = 1;
            return 1;
        }
        w->d = m->mnt_mountpoint;
        w->m = up;
        return 0;
    }
    __u32 off = e->h.size;
    if (off > sizeof(struct scratch) - (NAME_MAX + 1)) {
        w->truncated = 1;
        return 1;
    }
    /* The name's length is known: a bounded copy, not a byte-by-byte string read. A
     * short name lives inside the dentry: five plain loads, no helper call. */
    __u32 len = d->d_name.len & NAME_MAX;
    const unsigned char *name = d->d_name.name;
    if (len == 0) {
        w->truncated = 1;
        return 1;
    }
    if (bpf_core_field_exists(d->d_shortname) && len < sizeof(d->d_shortname) &&
        (__u64)name == (__u64)w->d + bpf_core_field_offset(struct dentry, d_shortname)) {
        __u64 *dst = (__u64 *)((char *)e + off);
        dst[0] = d->d_shortname.words[0];
        dst[1] = d->d_shortname.words[1];
        dst[2] = d->d_shortname.words[2];
        dst[3] = d->d_shortname.words[3];
        dst[4] = d->d_shortname.words[4];
    } else if (bpf_probe_read_kernel((char *)e + off, len, name)) {
        w->truncated = 1;
        return 1;
    }
    ((char *)e)[off + len] = 0;
    e->h.size = off + len + 1;
    w->d = parent;
    return 0;
}

/* Append the absolute path of `p` to string slot `slot`. */
static __always_inline void str_path(struct te_event *e, int slot, const struct path *p, __u8 flags)
{
    if (slot < 0 || slot >= TE_NSTR)
        return;
    struct walk w = {};
    struct dentry *d = p->dentry;
    w.d = d;
    w.m = real_mount(p->mnt);
    w.slot = slot;
    __u32 start = e->h.size;
    e->s[slot].off = start;
    e->s[slot].enc = TE_STR_DPATH;
    if (!d) {
        e->s[slot].flags = flags | TE_STRF_FAULT;
        return;
    }
    if (d->d_inode->__i_nlink == 0)
        flags |= TE_STRF_DELETED;
    bpf_loop(TE_PATH_DEPTH, walk_step, &w, 0);
    if (!w.done)
        flags |= TE_STRF_TRUNCATED;
    e->s[slot].len = e->h.size - start;
    e->s[slot].flags = flags;
}

static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
    if (fd < 0)
        return NULL;
    struct fdtable *fdt = task->files->fdt;
    if (fd >= fdt->max_fds)
        return NULL;
    /* fds[fd] by a plain load: read through a type whose first field is a pointer. */
    struct callback_head *slot = KPTR(struct callback_head, (__u64)fdt->fd + fd * sizeof(void *));
    struct callback_head *f = slot->next;
    return f ? KPTR(struct file, f) : NULL;
}

/* Path of an open fd into `slot`; false if the fd is not open. */
static __always_inline bool str_fd_path(struct te_event *e, int slot, long fd, __u8 flags)
{
    struct task_struct *task = current_task();
    struct file *f = fd_file(task, fd);
    if (!f)
        return false;
    str_path(e, slot, &f->f_path, flags);
    return true;
}

/* The directory a relative path is resolved against: dirfd, or the cwd. */
static __always_inline void str_base(struct te_event *e, int slot, long dirfd)
{
    struct task_struct *task = current_task();
    if (dirfd == AT_FDCWD) {
        struct fs_struct *fs = task->fs;
        str_path(e, slot, &fs->pwd, TE_STRF_BASE);
        return;
    }
    if (!str_fd_path(e, slot, dirfd, TE_STRF_BASE)) {
        e->s[slot & (TE_NSTR - 1)].flags = TE_STRF_BASE | TE_STRF_FAULT;
        e->s[slot & (TE_NSTR - 1)].enc = TE_STR_DPATH;
    }
}

/* A path argument: the requested string into `slot + 1`, and what it is relative to
 * into `slot` (nothing for an absolute path; the dirfd itself for an empty one). */
static __always_inline void path_arg(struct te_event *e, int slot, long dirfd, const char *uptr)
{
    long n = str_user(e, slot + 1, uptr);
    if (n > 0 && str_first(e, slot + 1) == '/')
        return;
    if (n == 0 && dirfd != AT_FDCWD) {
        str_fd_path(e, slot, dirfd, 0);
        return;
    }
    str_base(e, slot, dirfd);
}

/* ---- the syscall exit hook and its handlers ---- */

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
    __u64 nr = regs->orig_ax;
    if (nr >= TE_SYSCALL_SLOTS || !(reported_syscalls[nr / 64] & (1ull << (nr & 63))))
        return 0; /* a syscall we do not report */
    __u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0, genkey = TE_TRACKED_GEN;
    if (!maybe_tracked(tgid))
        return 0;
    struct cpu_state *cpu = bpf_map_lookup_elem(&cpu_state, &zero);
    __u64 *gen = bpf_map_lookup_elem(&tracked_bits, &genkey);
    if (!cpu || !gen)
        return 0;
    __u64 g = *gen; /* read before the lookup: a change after it makes the copy stale */
    if (cpu->call_tgid != tgid || cpu->call_gen != g) {
        struct te_tracked *t = bpf_map_lookup_elem(&tracked, &tgid);
        if (!t)
            return 0;
        cpu->call = *t;
        cpu->call_tgid = tgid;
        cpu->call_gen = g;
    }
    bpf_tail_call(ctx, &handlers, nr);
    return 0;
}

/* The syscall's arguments as the kernel used them (x86-64 calling convention). */
static __always_inline struct te_tracked *call_begin(struct pt_regs *regs, struct call *c, int nargs)
{
    __u32 zero = 0;
    struct cpu_state *cpu = bpf_map_lookup_elem(&cpu_state, &zero);
    if (!cpu)
        return NULL;
    struct te_tracked *t = &cpu->call;
    c->session = t->session;
    c->flags = t->flags;
    c->args[0] = nargs > 0 ? regs->di : 0;
    c->args[1] = nargs > 1 ? regs->si : 0;
    c->args[2] = nargs > 2 ? regs->dx : 0;
    c->args[3] = nargs > 3 ? regs->r10 : 0;
    c->args[4] = nargs > 4 ? regs->r8 : 0;
    c->args[5] = nargs > 5 ? regs->r9 : 0;
    return t;
}

/* A handler program per syscall, reached only by tail call from sys_exit (same hook,
 * so the same context and program type). */
#define HOOK(name, nargs, handler) \
    SEC("tp_btf/sys_exit") \
    int BPF_PROG(h_##name, struct pt_regs *regs, long ret) \
    { \
        struct call c; \
        c.ctx = ctx; \
        if (!call_begin(regs, &c, nargs)) \
            return 0; \
        handler(&c, regs->orig_ax, ret); \
        return 0; \
    }

/* ---- process ---- */

static __always_inline void on_setsid(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_SETSID, s->session, nr, ret);
    if (e)
        event_emit(e);
}
HOOK(setsid, 0, on_setsid)

static __always_inline void ids(struct call *s, long nr, long ret, __u16 kind, __u64 variant, int nargs)
{
    struct te_event *e = event_begin(kind, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = (__u32)s->args[0];
    e->a[1] = nargs > 1 ? (__u32)s->args[1] : (__u32)-1;
    e->a[2] = nargs > 2 ? (__u32)s->args[2] : (__u32)-1;
    e->a[3] = variant;
    event_emit(e);
}
static __always_inline void on_setuid(struct call *s, long nr, long ret) { ids(s, nr, ret, TE_SETUID, 1, 1); }
static __always_inline void on_setreuid(struct call *s, long nr, long ret) { ids(s, nr, ret, TE_SETUID, 2, 2); }
static __always_inline void on_setresuid(struct call *s, long nr, long ret) { ids(s, nr, ret, TE_SETUID, 3, 3); }
static __always_inline void on_setfsuid(struct call *s, long nr, long ret) { ids(s, nr, ret, TE_SETUID, 4, 1); }
static __always_inline void on_setgid(struct call *s, long nr, long ret) { ids(s, nr, ret, TE_SETGID, 1, 1); }
static __always_inline void on_setregid(struct call *s, long nr, long ret) { ids(s, nr, ret, TE_SETGID, 2, 2); }
static __always_inline void on_setresgid(struct call *s, long nr, long ret) { ids(s, nr, ret, TE_SETGID, 3, 3); }
static __always_inline void on_setfsgid(struct call *s, long nr, long ret) { ids(s, nr, ret, TE_SETGID, 4, 1); }
HOOK(setuid, 1, on_setuid)
HOOK(setreuid, 2, on_setreuid)
HOOK(setresuid, 3, on_setresuid)
HOOK(setfsuid, 1, on_setfsuid)
HOOK(setgid, 1, on_setgid)
HOOK(setregid, 2, on_setregid)
HOOK(setresgid, 3, on_setresgid)
HOOK(setfsgid, 1, on_setfsgid)

static __always_inline void on_capset(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_CAPSET, s->session, nr, ret);
    if (!e)
        return;
    struct { __u32 effective, permitted, inheritable; } d[2] = {};
    bpf_probe_read_user(&d, sizeof(d), (void *)s->args[1]);
    e->a[0] = d[0].effective | ((__u64)d[1].effective << 32);
    e->a[1] = d[0].permitted | ((__u64)d[1].permitted << 32);
    e->a[2] = d[0].inheritable | ((__u64)d[1].inheritable << 32);
    event_emit(e);
}
HOOK(capset, 2, on_capset)

/* A successful exec is reported by sched_process_exec; sys_exit reports failures. */
static __always_inline void exec_failed(struct call *s, long nr, long ret, long dirfd, const char *uptr)
{
    if (ret >= 0)
        return;
    struct te_event *e = event_begin(TE_EXEC, s->session, nr, ret);
    if (!e)
        return;
    long n = str_user(e, 3, uptr);
    if (!(n > 0 && str_first(e, 3) == '/'))
        str_base(e, 2, dirfd);
    event_emit(e);
}
static __always_inline void on_execve(struct call *s, long nr, long ret) { exec_failed(s, nr, ret, AT_FDCWD, (const char *)s->args[0]); }
static __always_inline void on_execveat(struct call *s, long nr, long ret) { exec_failed(s, nr, ret, (int)s->args[0], (const char *)s->args[1]); }
HOOK(execve, 3, on_execve)
HOOK(execveat, 5, on_execveat)

/* ---- files ---- */

/* (dev, ino) of an inode, by plain loads: the key of protected_inodes and watch_inode. */
static __always_inline struct te_watch_inode inode_key(const void *inode)
{
    struct inode *i = KPTR(struct inode, inode);
    struct te_watch_inode key = { .dev = i->i_sb->s_dev, .ino = i->i_ino };
    return key;
}

static __always_inline __u32 key_protection(struct te_watch_inode *key)
{
    __u32 *v = bpf_map_lookup_elem(&protected_inodes, key);
    return v ? *v : 0;
}

/* What protects the entry `name` (len bytes at kernel address `name`) of directory `dir`:
 * the directory itself when it is a protected directory, and the (directory, name) pair. */
static __always_inline __u32 entry_protection(struct dentry *dir, const void *name, __u32 len)
{
    struct inode *dino = dir->d_inode;
    if (!dino)
        return 0;
    struct te_watch_inode dkey = inode_key(dino);
    __u32 prot = key_protection(&dkey);
    prot = prot & TE_PROTECT_DIR ? prot : 0;
    __u32 zero = 0;
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, &zero);
    if (!rb || len == 0 || len >= TE_PNAME_MAX)
        return prot;
    __builtin_memset(&rb->key, 0, sizeof(rb->key));
    rb->key.dev = dkey.dev;
    rb->key.ino = dkey.ino;
    if (bpf_probe_read_kernel(rb->key.name, len & (TE_PNAME_MAX - 1), name))
        return prot;
    __u32 *v = bpf_map_lookup_elem(&protected_names, &rb->key);
    return v ? prot | *v : prot;
}

/* ---- destination of a rename/link/symlink, resolved in the dcache ----
 * These calls hand the kernel's resolution to no fd, so the destination's directory is
 * found again here: from the base the kernel used (root, cwd or dirfd), each component
 * of the path (read at exit, after the kernel used it) is looked up among the cached
 * children of the directory before it. A just-completed call has every directory on the
 * way in the dcache. A symlinked directory on the way, or a cache scan past its bound,
 * leaves the destination unresolved: the event says so and user space judges it. */
#define RESOLVE_CHILDREN 4096 /* children looked at per component */
#define RESOLVE_MOUNTS 64     /* child mounts looked at per mount crossing */

struct resolve {
    __u64 d, m;      /* directory reached so far: dentry, mount (plain addresses) */
    __u32 pos, end;  /* the path: next byte, end (offsets in the record) */
    __u32 coff, clen;/* component being read */
    __u8 fail;
};

struct scan {
    __u64 node;      /* next child (its d_sib), or next child mount (its mnt_child) */
    __u64 head;      /* list head, for the mount list */
    __u64 want;      /* component length, or the mountpoint dentry */
    __u64 found;
};

/* Compares a candidate child's name (of the length wanted) with rb->want, NUL padded
 * both: straight-line code, which the verifier walks once. */
static __always_inline bool name_equal(struct resolve_buf *rb, struct dentry *c, __u32 len)
{
    __builtin_memset(rb->cand, 0, sizeof(rb->cand));
    if (bpf_probe_read_kernel(rb->cand, len & NAME_MAX, c->d_name.name))
        return false;
    __u64 diff = 0;
#pragma unroll
    for (int i = 0; i < NAME_WORDS; i++)
        diff |= rb->cand[i] ^ rb->want[i];
    return diff == 0;
}

static long scan_child(__u64 index, struct scan *sc)
{
    __u32 zero = 0;
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, &zero);
    if (!rb || !sc->node)
        return 1;
    __u64 caddr = sc->node - bpf_core_field_offset(struct dentry, d_sib);
    struct dentry *c = KPTR(struct dentry, caddr);
    sc->node = (__u64)c->d_sib.next;
    if (c->d_name.len != sc->want || !c->d_inode)
        return 0; /* other length, or a negative dentry */
    if (!name_equal(rb, c, sc->want))
        return 0;
    sc->found = caddr;
    return 1;
}

static long scan_mount(__u64 index, struct scan *sc)
{
    if (sc->node == sc->head)
        return 1;
    __u64 maddr = sc->node - bpf_core_field_offset(struct mount, mnt_child);
    struct mount *cm = KPTR(struct mount, maddr);
    sc->node = (__u64)cm->mnt_child.next;
    if ((__u64)cm->mnt_mountpoint != sc->want)
        return 0;
    sc->found = maddr; /* the last one mounted there is on top: keep looking */
    return 0;
}

/* One path component: "." stays, ".." goes up (across mounts), a name is looked up. */
static __always_inline void resolve_component(struct resolve *r, struct te_event *e)
{
    __u32 off = r->coff, len = r->clen;
    if (off >= sizeof(struct scratch) - 2)
        goto fail;
    char c0 = ((char *)e)[off], c1 = ((char *)e)[off + 1];
    struct dentry *d = KPTR(struct dentry, r->d);
    struct mount *m = KPTR(struct mount, r->m);
    if (len == 1 && c0 == '.')
        return;
    if (len == 2 && c0 == '.' && c1 == '.') {
        for (int i = 0; i < 8 && r->d == (__u64)m->mnt.mnt_root; i++) {
            if ((__u64)m->mnt_parent == r->m)
                return; /* the root's parent is the root */
            r->d = (__u64)m->mnt_mountpoint;
            r->m = (__u64)m->mnt_parent;
            d = KPTR(struct dentry, r->d);
            m = KPTR(struct mount, r->m);
        }
        r->d = (__u64)d->d_parent;
        return;
    }
    __u32 zero = 0;
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, &zero);
    if (!rb || len > NAME_MAX || !bpf_core_field_exists(d->d_children))
        goto fail;
    __builtin_memset(rb->want, 0, sizeof(rb->want));
    if (bpf_probe_read_kernel(rb->want, len & NAME_MAX, (char *)e + off))
        goto fail;
    struct scan sc = { .node = (__u64)d->d_children.first, .want = len };
    bpf_loop(RESOLVE_CHILDREN, scan_child, &sc, 0);
    if (!sc.found)
        goto fail;
    struct dentry *child = KPTR(struct dentry, sc.found);
    struct inode *ino = child->d_inode;
    if (!ino || (ino->i_mode & S_IFMT) != S_IFDIR)
        goto fail; /* a symlink to follow, or not a directory */
    r->d = sc.found;
    for (int i = 0; i < 4 && (child->d_flags & DCACHE_MOUNTED); i++) {
        struct scan ms = { .head = r->m + bpf_core_field_offset(struct mount, mnt_mounts), .want = r->d };
        ms.node = (__u64)m->mnt_mounts.next;
        bpf_loop(RESOLVE_MOUNTS, scan_mount, &ms, 0);
        if (!ms.found)
            goto fail;
        m = KPTR(struct mount, ms.found);
        r->m = ms.found;
        r->d = (__u64)m->mnt.mnt_root;
        child = KPTR(struct dentry, r->d);
    }
    return;
fail:
    r->fail = 1;
}

static long resolve_byte(__u64 index, struct resolve *r)
{
    __u32 zero = 0;
    struct te_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!e || r->fail)
        return 1;
    __u32 pos = r->pos + index;
    if (pos >= r->end || pos >= sizeof(struct scratch))
        return 1;
    if (((char *)e)[pos] != '/') {
        if (r->clen++ == 0)
            r->coff = pos;
        return 0;
    }
    if (r->clen) {
        /* a component followed by more path: a directory on the way */
        resolve_component(r, e);
        r->clen = 0;
    }
    return 0;
}

/* Resolves the directory that the path in string slot `slot` names its last component
 * in, starting from dirfd (or the cwd, or the root for an absolute path). On success the
 * directory is in r->d and the last component at r->coff/r->clen. */
static __always_inline bool resolve_parent(struct te_event *e, int slot, long dirfd, struct resolve *r)
{
    struct te_str *str = &e->s[slot & (TE_NSTR - 1)];
    if (str->flags & (TE_STRF_TRUNCATED | TE_STRF_FAULT) || str->len == 0)
        return false;
    __u32 off = str->off, end = off + str->len;
    if (off >= sizeof(struct scratch) || end > sizeof(struct scratch))
        return false;
    struct task_struct *task = current_task();
    const struct path *base;
    if (((char *)e)[off] == '/') {
        base = &task->fs->root;
    } else if (dirfd == AT_FDCWD) {
        base = &task->fs->pwd;
    } else {
        struct file *f = fd_file(task, dirfd);
        if (!f)
            return false;
        base = &f->f_path;
    }
    r->d = (__u64)base->dentry;
    r->m = (__u64)real_mount(base->mnt);
    r->pos = off;
    r->end = end;
    /* trailing slashes belong to the last component ("dir/" names dir) */
    for (int i = 0; i < 64 && r->end > off + 1; i++) {
        if (r->end - 1 >= sizeof(struct scratch) || ((char *)e)[r->end - 1] != '/')
            break;
        r->end--;
    }
    bpf_loop(TE_STR_MAX, resolve_byte, r, 0);
    if (r->fail || r->clen == 0)
        return false;
    /* the last component must name an entry, not "." or ".." */
    if (r->coff >= sizeof(struct scratch) - 2)
        return false;
    char c0 = ((char *)e)[r->coff], c1 = ((char *)e)[r->coff + 1];
    if (c0 == '.' && (r->clen == 1 || (r->clen == 2 && c1 == '.')))
        return false;
    return true;
}

/* The write/tamper guard for a call that made `slot`'s path name something new: a
 * rename's or link's destination, a symlink. */
static __always_inline void entry_guard(struct te_event *e, struct call *s, int slot, long dirfd)
{
    __u32 enabled = guards_enabled();
    if (!(enabled & (TE_GUARDS_WRITE | TE_GUARDS_TAMPER)))
        return;
    struct resolve r = {};
    if (!resolve_parent(e, slot, dirfd, &r)) {
        e->guard |= TE_GUARD_UNRESOLVED;
        return;
    }
    struct dentry *dir = KPTR(struct dentry, r.d);
    __u32 prot = entry_protection(dir, (char *)e + (r.coff & 0xffff), r.clen);
    if (dir->d_sb->s_magic == BPF_FS_MAGIC)
        prot |= TE_PROTECT_TAMPER;
    if ((prot & TE_PROTECT_TAMPER) && (enabled & TE_GUARDS_TAMPER))
        guard_act(e, s, TE_GUARD_TAMPER);
    else if ((prot & TE_PROTECT_WRITE) && (enabled & TE_GUARDS_WRITE))
        guard_act(e, s, TE_GUARD_WRITE);
}

/* Hands a finished rename/link/symlink record to the entry guard stage, which judges its
 * destination and emits it; returns only if there is no such stage, marking the record. */
static __always_inline void entry_guard_stage(struct te_event *e, struct call *s, long dirfd, long olddirfd, bool both)
{
    if (!(guards_enabled() & (TE_GUARDS_WRITE | TE_GUARDS_TAMPER)))
        return;
    __u32 zero = 0;
    struct cpu_state *cpu = bpf_map_lookup_elem(&cpu_state, &zero);
    if (cpu) {
        cpu->dirfd[0] = dirfd;
        cpu->dirfd[1] = olddirfd;
        cpu->slots = both ? 3 : 1;
        bpf_tail_call(s->ctx, &handlers, TE_SLOT_ENTRY_GUARD);
    }
    e->guard |= TE_GUARD_UNRESOLVED;
}

/* An open that can change content succeeded: is the file, or the directory it is in,
 * protected? Matched on the inodes the kernel opened, not on the caller's string.
 * a[2] = the file's size after the open, so the finding can state what remained. */
static __always_inline void open_guard(struct te_event *e, struct call *s, long fd)
{
    __u32 enabled = guards_enabled();
    if (!(enabled & (TE_GUARDS_WRITE | TE_GUARDS_TAMPER)))
        return;
    struct task_struct *task = current_task();
    struct file *f = fd_file(task, fd);
    if (!f)
        return;
    struct inode *inode = f->f_inode;
    struct dentry *dentry = f->f_path.dentry;
    struct te_watch_inode key = inode_key(inode);
    __u32 prot = key_protection(&key) |
                 entry_protection(dentry->d_parent, dentry->d_name.name, dentry->d_name.len);
    if (inode->i_sb->s_magic == BPF_FS_MAGIC)
        prot |= TE_PROTECT_TAMPER;
    e->a[2] = inode->i_size;
    if ((prot & TE_PROTECT_TAMPER) && (enabled & TE_GUARDS_TAMPER))
        guard_act(e, s, TE_GUARD_TAMPER);
    else if ((prot & TE_PROTECT_WRITE) && (enabled & TE_GUARDS_WRITE))
        guard_act(e, s, TE_GUARD_WRITE);
}

static __always_inline void open_common(struct call *s, long nr, long ret, long dirfd, const char *uptr, __u64 flags, __u64 mode)
{
    struct te_event *e = event_begin(TE_OPEN, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = flags;
    e->a[1] = mode;
    long n = str_user(e, 1, uptr);
    if (ret >= 0) {
        str_fd_path(e, 0, ret, 0);
        if (flags & (O_ACCMODE | O_CREAT | O_TRUNC))
            open_guard(e, s, ret);
    } else if (!(n > 0 && str_first(e, 1) == '/')) {
        str_base(e, 0, dirfd);
    }
    event_emit(e);
}
static __always_inline void on_open(struct call *s, long nr, long ret) { open_common(s, nr, ret, AT_FDCWD, (const char *)s->args[0], s->args[1], s->args[2]); }
static __always_inline void on_creat(struct call *s, long nr, long ret) { open_common(s, nr, ret, AT_FDCWD, (const char *)s->args[0], O_CREAT | O_WRONLY | O_TRUNC, s->args[1]); }
static __always_inline void on_openat(struct call *s, long nr, long ret) { open_common(s, nr, ret, (int)s->args[0], (const char *)s->args[1], s->args[2], s->args[3]); }
static __always_inline void on_openat2(struct call *s, long nr, long ret)
{
    struct open_how how = {};
    bpf_probe_read_user(&how, sizeof(how), (void *)s->args[2]);
    open_common(s, nr, ret, (int)s->args[0], (const char *)s->args[1], how.flags, how.mode);
}
HOOK(open, 3, on_open)
HOOK(creat, 2, on_creat)
HOOK(openat, 4, on_openat)
HOOK(openat2, 4, on_openat2)

/* Two-path calls: old into slots 0/1, new into 2/3. */
static __always_inline void two_paths(struct call *s, long nr, long ret, __u16 kind,
                                      long olddfd, const char *old, long newdfd, const char *new, __u64 flags)
{
    struct te_event *e = event_begin(kind, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = flags;
    path_arg(e, 0, olddfd, old);
    path_arg(e, 2, newdfd, new);
    if (ret == 0) /* an exchange puts something new at both names */
        entry_guard_stage(e, s, newdfd, olddfd, kind == TE_RENAME && (flags & RENAME_EXCHANGE));
    event_emit(e);
}
static __always_inline void on_rename(struct call *s, long nr, long ret) { two_paths(s, nr, ret, TE_RENAME, AT_FDCWD, (const char *)s->args[0], AT_FDCWD, (const char *)s->args[1], 0); }
static __always_inline void on_renameat(struct call *s, long nr, long ret) { two_paths(s, nr, ret, TE_RENAME, (int)s->args[0], (const char *)s->args[1], (int)s->args[2], (const char *)s->args[3], 0); }
static __always_inline void on_renameat2(struct call *s, long nr, long ret) { two_paths(s, nr, ret, TE_RENAME, (int)s->args[0], (const char *)s->args[1], (int)s->args[2], (const char *)s->args[3], s->args[4]); }
static __always_inline void on_link(struct call *s, long nr, long ret) { two_paths(s, nr, ret, TE_LINK, AT_FDCWD, (const char *)s->args[0], AT_FDCWD, (const char *)s->args[1], 0); }
static __always_inline void on_linkat(struct call *s, long nr, long ret) { two_paths(s, nr, ret, TE_LINK, (int)s->args[0], (const char *)s->args[1], (int)s->args[2], (const char *)s->args[3], s->args[4]); }
HOOK(rename, 2, on_rename)
HOOK(renameat, 4, on_renameat)
HOOK(renameat2, 5, on_renameat2)
HOOK(link, 2, on_link)
HOOK(linkat, 5, on_linkat)

static __always_inline void symlink_common(struct call *s, long nr, long ret, const char *target, long newdfd, const char *linkpath)
{
    struct te_event *e = event_begin(TE_SYMLINK, s->session, nr, ret);
    if (!e)
        return;
    str_user(e, 1, target);
    path_arg(e, 2, newdfd, linkpath);
    if (ret == 0)
        entry_guard_stage(e, s, newdfd, 0, false);
    event_emit(e);
}
static __always_inline void on_symlink(struct call *s, long nr, long ret) { symlink_common(s, nr, ret, (const char *)s->args[0], AT_FDCWD, (const char *)s->args[1]); }
static __always_inline void on_symlinkat(struct call *s, long nr, long ret) { symlink_common(s, nr, ret, (const char *)s->args[0], (int)s->args[1], (const char *)s->args[2]); }
HOOK(symlink, 2, on_symlink)
HOOK(symlinkat, 3, on_symlinkat)

/* The entry guard stage: tail-called by the rename/link/symlink handlers above with their
 * record in the scratch and their bases in cpu_state; judges, then emits the record. */
SEC("tp_btf/sys_exit")
int BPF_PROG(stage_entry_guard, struct pt_regs *regs, long ret)
{
    __u32 zero = 0;
    struct cpu_state *cpu = bpf_map_lookup_elem(&cpu_state, &zero);
    struct te_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!cpu || !e)
        return 0;
    struct call c = { .session = cpu->call.session, .flags = cpu->call.flags, .ctx = ctx };
    bool first = cpu->slots & 1;
    entry_guard(e, &c, first ? 3 : 1, cpu->dirfd[first ? 0 : 1]);
    if (first && (cpu->slots & 2) && !(e->guard & TE_GUARD_KILLED)) {
        cpu->slots = 2; /* again, for the other name (one copy of the code to verify) */
        bpf_tail_call(ctx, &handlers, TE_SLOT_ENTRY_GUARD);
    }
    event_emit(e);
    return 0;
}

/* One-path calls with up to two numbers. */
static __always_inline void one_path(struct call *s, long nr, long ret, __u16 kind, long dirfd, const char *uptr, __u64 a0, __u64 a1)
{
    struct te_event *e = event_begin(kind, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = a0;
    e->a[1] = a1;
    path_arg(e, 0, dirfd, uptr);
    event_emit(e);
}
/* fd-only calls: the path of the open file. */
static __always_inline void fd_path(struct call *s, long nr, long ret, __u16 kind, long fd, __u64 a0, __u64 a1)
{
    struct te_event *e = event_begin(kind, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = a0;
    e->a[1] = a1;
    str_fd_path(e, 0, fd, 0);
    event_emit(e);
}
static __always_inline void on_unlink(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_UNLINK, AT_FDCWD, (const char *)s->args[0], 0, 0); }
static __always_inline void on_unlinkat(struct call *s, long nr, long ret)
{
    __u16 kind = (s->args[2] & AT_REMOVEDIR) ? TE_RMDIR : TE_UNLINK;
    one_path(s, nr, ret, kind, (int)s->args[0], (const char *)s->args[1], 0, 0);
}
static __always_inline void on_rmdir(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_RMDIR, AT_FDCWD, (const char *)s->args[0], 0, 0); }
static __always_inline void on_mkdir(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_MKDIR, AT_FDCWD, (const char *)s->args[0], s->args[1], 0); }
static __always_inline void on_mkdirat(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_MKDIR, (int)s->args[0], (const char *)s->args[1], s->args[2], 0); }
static __always_inline void on_chmod(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_CHMOD, AT_FDCWD, (const char *)s->args[0], s->args[1], 0); }
static __always_inline void on_fchmodat(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_CHMOD, (int)s->args[0], (const char *)s->args[1], s->args[2], 0); }
static __always_inline void on_fchmod(struct call *s, long nr, long ret) { fd_path(s, nr, ret, TE_CHMOD, (int)s->args[0], s->args[1], 0); }
static __always_inline void on_chown(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_CHOWN, AT_FDCWD, (const char *)s->args[0], (__u32)s->args[1], (__u32)s->args[2]); }
static __always_inline void on_fchownat(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_CHOWN, (int)s->args[0], (const char *)s->args[1], (__u32)s->args[2], (__u32)s->args[3]); }
static __always_inline void on_fchown(struct call *s, long nr, long ret) { fd_path(s, nr, ret, TE_CHOWN, (int)s->args[0], (__u32)s->args[1], (__u32)s->args[2]); }
static __always_inline void on_truncate(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_TRUNCATE, AT_FDCWD, (const char *)s->args[0], s->args[1], 0); }
static __always_inline void on_ftruncate(struct call *s, long nr, long ret) { fd_path(s, nr, ret, TE_TRUNCATE, (int)s->args[0], s->args[1], 0); }
static __always_inline void on_mknod(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_MKNOD, AT_FDCWD, (const char *)s->args[0], s->args[1], s->args[2]); }
static __always_inline void on_mknodat(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_MKNOD, (int)s->args[0], (const char *)s->args[1], s->args[2], s->args[3]); }
HOOK(unlink, 1, on_unlink)
HOOK(unlinkat, 3, on_unlinkat)
HOOK(rmdir, 1, on_rmdir)
HOOK(mkdir, 2, on_mkdir)
HOOK(mkdirat, 3, on_mkdirat)
HOOK(chmod, 2, on_chmod)
HOOK(fchmodat, 3, on_fchmodat)
HOOK(fchmodat2, 4, on_fchmodat)
HOOK(fchmod, 2, on_fchmod)
HOOK(chown, 3, on_chown)
HOOK(lchown, 3, on_chown)
HOOK(fchownat, 5, on_fchownat)
HOOK(fchown, 3, on_fchown)
HOOK(truncate, 2, on_truncate)
HOOK(ftruncate, 2, on_ftruncate)
HOOK(mknod, 3, on_mknod)
HOOK(mknodat, 4, on_mknodat)

/* ---- network ---- */

/* Decode a user sockaddr into family/port/addr (and a unix path into slot 1). */
static __always_inline void sockaddr_user(struct te_event *e, const void *uaddr, long len)
{
    if (!uaddr || len < 2)
        return;
    __u16 family = 0;
    bpf_probe_read_user(&family, sizeof(family), uaddr);
    e->family = family;
    if (family == AF_INET) {
        struct sockaddr_in sin = {};
        bpf_probe_read_user(&sin, sizeof(sin), uaddr);
        e->port = bpf_ntohs(sin.sin_port);
        __builtin_memcpy(e->addr, &sin.sin_addr, 4);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 sin6 = {};
        bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
        e->port = bpf_ntohs(sin6.sin6_port);
        __builtin_memcpy(e->addr, &sin6.sin6_addr, 16);
    } else if (family == AF_UNIX) {
        const char *path = (const char *)uaddr + 2;
        char first = 0;
        bpf_probe_read_user(&first, 1, path);
        if (first == 0 && len > 3) {
            str_user(e, 1, path + 1);
            e->s[1].flags |= TE_STRF_ABSTRACT;
        } else {
            str_user(e, 1, path);
        }
    }
}

/* What a cgroup hook decided for this thread's syscall, if anything. */
static __always_inline __u32 take_verdict(void)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    __u32 *v = bpf_map_lookup_elem(&verdicts, &tid);
    if (!v)
        return 0;
    __u32 g = *v;
    bpf_map_delete_elem(&verdicts, &tid);
    return g;
}

static __always_inline void sock_call(struct call *s, long nr, long ret, __u16 kind, const void *uaddr, long len, __u64 a1)
{
    struct te_event *e = event_begin(kind, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = (int)s->args[0];
    e->a[1] = a1;
    sockaddr_user(e, uaddr, len);
    if (kind == TE_CONNECT || kind == TE_SENDTO)
        e->guard = take_verdict();
    event_emit(e);
}

/* socket(): only raw and packet sockets are reported. */
static __always_inline void on_socket(struct call *s, long nr, long ret)
{
    __u32 type = s->args[1] & 0xf;
    if (type != SOCK_RAW && s->args[0] != AF_PACKET)
        return;
    struct te_event *e = event_begin(TE_SOCKET, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[0];
    e->a[1] = type;
    e->a[2] = s->args[2];
    e->guard = take_verdict();
    event_emit(e);
}
HOOK(socket, 3, on_socket)
static __always_inline void on_connect(struct call *s, long nr, long ret) { sock_call(s, nr, ret, TE_CONNECT, (void *)s->args[1], s->args[2], 0); }
static __always_inline void on_bind(struct call *s, long nr, long ret) { sock_call(s, nr, ret, TE_BIND, (void *)s->args[1], s->args[2], 0); }
static __always_inline void on_sendto(struct call *s, long nr, long ret)
{
    if (!s->args[4])
        return; /* no explicit destination: the connect was reported */
    sock_call(s, nr, ret, TE_SENDTO, (void *)s->args[4], s->args[5], s->args[2]);
}
static __always_inline void on_sendmsg(struct call *s, long nr, long ret)
{
    struct user_msghdr msg = {};
    bpf_probe_read_user(&msg, sizeof(msg), (void *)s->args[1]);
    if (!msg.msg_name)
        return;
    sock_call(s, nr, ret, TE_SENDTO, msg.msg_name, msg.msg_namelen, ret > 0 ? ret : 0);
}
HOOK(connect, 3, on_connect)
HOOK(bind, 3, on_bind)
HOOK(sendto, 6, on_sendto)
HOOK(sendmsg, 3, on_sendmsg)

/* listen: the local address comes from the kernel's socket. */
static __always_inline void on_listen(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_LISTEN, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = (int)s->args[0];
    e->a[1] = (int)s->args[1];
    struct task_struct *task = current_task();
    struct file *f = fd_file(task, (int)s->args[0]);
    if (f) {
        struct socket *sock = BPF_CORE_READ(f, private_data);
        struct sock *sk = BPF_CORE_READ(sock, sk);
        __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
        e->family = family;
        e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
        if (family == AF_INET) {
            __u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
            __builtin_memcpy(e->addr, &a, 4);
        } else if (family == AF_INET6) {
            BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_rcv_saddr);
        }
    }
    event_emit(e);
}
HOOK(listen, 2, on_listen)

/* ---- privileged ---- */

static __always_inline void numbers(struct call *s, long nr, long ret, __u16 kind, __u64 a0, __u64 a1, __u64 a2)
{
    struct te_event *e = event_begin(kind, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = a0;
    e->a[1] = a1;
    e->a[2] = a2;
    event_emit(e);
}
static __always_inline void on_ptrace(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_PTRACE, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[0];
    e->a[1] = (int)s->args[1];
    if ((guards_enabled() & TE_GUARDS_TAMPER) && pid_protected(tgid_of((int)s->args[1])))
        guard_act(e, s, TE_GUARD_TAMPER);
    event_emit(e);
}
static __always_inline void on_unshare(struct call *s, long nr, long ret) { numbers(s, nr, ret, TE_UNSHARE, s->args[0], 0, 0); }
static __always_inline void on_setns(struct call *s, long nr, long ret) { numbers(s, nr, ret, TE_SETNS, (int)s->args[0], s->args[1], 0); }
static __always_inline void on_bpf(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_BPF, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[0];
    if (guards_enabled() & TE_GUARDS_TAMPER)
        guard_act(e, s, TE_GUARD_TAMPER);
    event_emit(e);
}
/* Signals: tampering when aimed at Tether (by pid, or at everyone with -1). */
static __always_inline void signal_event(struct call *s, long nr, long ret, __s64 target, __s64 target_tgid, __u64 sig, __u64 via)
{
    struct te_event *e = event_begin(TE_KILL, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = target;
    e->a[1] = sig;
    e->a[2] = via;
    if (sig != 0 && (guards_enabled() & TE_GUARDS_TAMPER) && (pid_protected(target_tgid) || target_tgid == -1))
        guard_act(e, s, TE_GUARD_TAMPER);
    event_emit(e);
}
static __always_inline void on_kill(struct call *s, long nr, long ret) { signal_event(s, nr, ret, (int)s->args[0], (int)s->args[0], s->args[1], TE_KILLVIA_KILL); }
static __always_inline void on_tkill(struct call *s, long nr, long ret) { signal_event(s, nr, ret, (int)s->args[0], tgid_of((int)s->args[0]), s->args[1], TE_KILLVIA_TKILL); }
static __always_inline void on_tgkill(struct call *s, long nr, long ret) { signal_event(s, nr, ret, (int)s->args[1], (int)s->args[0], s->args[2], TE_KILLVIA_TGKILL); }
static __always_inline void on_pidfd_send_signal(struct call *s, long nr, long ret)
{
    /* The target is the pid behind the pidfd, read from the kernel's file. */
    __s64 target = -1;
    struct task_struct *task = current_task();
    struct file *f = fd_file(task, (int)s->args[0]);
    if (f) {
        /* pidfs keeps the struct pid in the inode; older kernels in private_data */
        struct pid *p = BPF_CORE_READ(f, f_inode, i_private);
        if (!p)
            p = BPF_CORE_READ(f, private_data);
        if (p)
            target = BPF_CORE_READ(p, numbers[0].nr);
    }
    signal_event(s, nr, ret, target, target, s->args[1], TE_KILLVIA_PIDFD);
}
static __always_inline void on_io_uring_setup(struct call *s, long nr, long ret)
{
    struct io_uring_params p = {};
    bpf_probe_read_user(&p, sizeof(p), (void *)s->args[1]);
    numbers(s, nr, ret, TE_IO_URING, s->args[0], p.flags, 0);
}
HOOK(ptrace, 4, on_ptrace)
HOOK(unshare, 1, on_unshare)
HOOK(setns, 2, on_setns)
HOOK(bpf, 3, on_bpf)
HOOK(kill, 2, on_kill)
HOOK(tkill, 2, on_tkill)
HOOK(tgkill, 3, on_tgkill)
HOOK(pidfd_send_signal, 4, on_pidfd_send_signal)
HOOK(io_uring_setup, 2, on_io_uring_setup)

static __always_inline void on_memfd_create(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MEMFD, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[1];
    str_user(e, 1, (const char *)s->args[0]);
    event_emit(e);
}
HOOK(memfd_create, 2, on_memfd_create)

static __always_inline void on_mount(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MOUNT, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[3];
    path_arg(e, 0, AT_FDCWD, (const char *)s->args[1]);
    if (s->args[0])
        str_user(e, 2, (const char *)s->args[0]);
    if (s->args[2])
        str_user(e, 3, (const char *)s->args[2]);
    event_emit(e);
}
static __always_inline void on_umount(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_UMOUNT, AT_FDCWD, (const char *)s->args[0], s->args[1], 0); }
static __always_inline void on_chroot(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_CHROOT, AT_FDCWD, (const char *)s->args[0], 0, 0); }
static __always_inline void on_pivot_root(struct call *s, long nr, long ret) { two_paths(s, nr, ret, TE_PIVOT_ROOT, AT_FDCWD, (const char *)s->args[0], AT_FDCWD, (const char *)s->args[1], 0); }
HOOK(mount, 5, on_mount)
HOOK(umount, 2, on_umount)
HOOK(chroot, 1, on_chroot)
HOOK(pivot_root, 2, on_pivot_root)

/* The new mount API. */
static __always_inline void on_fsopen(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MOUNT_API, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = TE_MAPI_FSOPEN;
    e->a[1] = s->args[1];
    str_user(e, 1, (const char *)s->args[0]);
    event_emit(e);
}
static __always_inline void mapi_path(struct call *s, long nr, long ret, __u64 op, long dirfd, const char *uptr, __u64 flags)
{
    struct te_event *e = event_begin(TE_MOUNT_API, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = op;
    e->a[1] = flags;
    path_arg(e, 0, dirfd, uptr);
    event_emit(e);
}
static __always_inline void on_fsmount(struct call *s, long nr, long ret) { numbers(s, nr, ret, TE_MOUNT_API, TE_MAPI_FSMOUNT, s->args[1], s->args[2]); }
static __always_inline void on_move_mount(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MOUNT_API, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = TE_MAPI_MOVE_MOUNT;
    e->a[1] = s->args[4];
    path_arg(e, 0, (int)s->args[2], (const char *)s->args[3]);
    path_arg(e, 2, (int)s->args[0], (const char *)s->args[1]);
    event_emit(e);
}
static __always_inline void on_open_tree(struct call *s, long nr, long ret) { mapi_path(s, nr, ret, TE_MAPI_OPEN_TREE, (int)s->args[0], (const char *)s->args[1], s->args[2]); }
static __always_inline void on_fspick(struct call *s, long nr, long ret) { mapi_path(s, nr, ret, TE_MAPI_FSPICK, (int)s->args[0], (const char *)s->args[1], s->args[2]); }
static __always_inline void on_mount_setattr(struct call *s, long nr, long ret) { mapi_path(s, nr, ret, TE_MAPI_MOUNT_SETATTR, (int)s->args[0], (const char *)s->args[1], s->args[2]); }
HOOK(fsopen, 2, on_fsopen)
HOOK(fsmount, 3, on_fsmount)
HOOK(move_mount, 5, on_move_mount)
HOOK(open_tree, 3, on_open_tree)
HOOK(fspick, 3, on_fspick)
HOOK(mount_setattr, 5, on_mount_setattr)

/* Module loading (on a kernel without modules these fail with ENOSYS, still reported). */
static __always_inline void on_init_module(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MODULE, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = 1;
    e->a[1] = s->args[1];
    str_user(e, 1, (const char *)s->args[2]);
    if (guards_enabled() & TE_GUARDS_TAMPER)
        guard_act(e, s, TE_GUARD_TAMPER);
    event_emit(e);
}
static __always_inline void on_finit_module(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MODULE, s->session, nr, ret);
    if (!e)
        return;
    e->a[0] = 2;
    e->a[1] = s->args[2];
    str_fd_path(e, 0, (int)s->args[0], 0);
    str_user(e, 1, (const char *)s->args[1]);
    if (guards_enabled() & TE_GUARDS_TAMPER)
        guard_act(e, s, TE_GUARD_TAMPER);
    event_emit(e);
}
HOOK(init_module, 3, on_init_module)
HOOK(finit_module, 3, on_finit_module)

/* ---- scheduler: inheritance, exec, exit ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
    __u32 ptgid = parent->tgid, ctgid = child->tgid;
    struct te_tracked *t = tracked_entry(ptgid);
    if (!t || ptgid == ctgid)
        return 0; /* untracked, or a new thread of a tracked process */
    struct te_tracked copy = *t;
    if (track_put(ctgid, &copy))
        stat_inc(TE_STAT_TRACK_FULL);
    struct te_event *e = event_begin(TE_FORK, copy.session, 0, ctgid);
    if (!e)
        return 0;
    e->a[0] = ctgid;
    if (bpf_map_lookup_elem(&frozen, &copy.session) && bpf_ksym_exists(bpf_send_signal_task)) {
        /* the session is frozen: its new child stops before its first instruction */
        if (bpf_send_signal_task(child, SIGSTOP, PIDTYPE_TGID, 0))
            stat_inc(TE_STAT_GUARD_FAIL);
        else
            e->guard = TE_GUARD_FORK;
    }
    event_emit(e);
    return 0;
}

/* Does an untracked exec match the watch policy? Returns the match's flags | policy << 16, or -1. */
static __always_inline __s64 watched(struct task_struct *task, struct linux_binprm *bprm)
{
    __u32 zero = 0;
    __u32 *mask = bpf_map_lookup_elem(&watch_config, &zero);
    __u32 *v = NULL;
    if (!mask || !*mask)
        return -1;
    if (*mask & 1) {
        char comm[TE_COMM_LEN] = {};
        bpf_get_current_comm(comm, sizeof(comm));
        if ((v = bpf_map_lookup_elem(&watch_comm, comm)))
            return *v;
    }
    if (*mask & 2) {
        __u32 uid = (__u32)bpf_get_current_uid_gid();
        if ((v = bpf_map_lookup_elem(&watch_uid, &uid)))
            return *v;
    }
    if (*mask & 4) {
        __u64 cg = bpf_get_current_cgroup_id();
        if ((v = bpf_map_lookup_elem(&watch_cgroup, &cg)))
            return *v;
    }
    if (*mask & 8) {
        struct te_watch_inode key = inode_key(BPF_CORE_READ(bprm, file, f_inode));
        if ((v = bpf_map_lookup_elem(&watch_inode, &key)))
            return *v;
    }
    return -1;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 tgid = task->tgid;
    __u32 flags = 0;
    struct te_tracked *t = tracked_entry(tgid);
    struct te_tracked fresh = {};
    if (!t) {
        __s64 match = watched(task, bprm);
        if (match < 0)
            return 0;
        fresh.flags = match & 0xffff;
        fresh.policy = match >> 16;
        /* A new session: boot time and CPU make the id unique; the top bit says the kernel made it. */
        fresh.session = (1ULL << 63) | ((bpf_ktime_get_boot_ns() << 8) & ~(1ULL << 63)) | (bpf_get_smp_processor_id() & 0xff);
        fresh.root_tgid = tgid;
        if (track_put(tgid, &fresh)) {
            stat_inc(TE_STAT_TRACK_FULL);
            return 0;
        }
        t = &fresh;
        flags |= TE_EXEC_SESSION_START;
    }
    struct te_event *e = event_begin(TE_EXEC, t->session, 0, 0);
    if (!e)
        return 0;
    e->a[0] = BPF_CORE_READ(bprm, argc);
    str_path(e, 0, &bprm->file->f_path, 0);

    /* argv from the new image's stack, as the kernel laid it out */
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    __u64 start = BPF_CORE_READ(mm, arg_start), end = BPF_CORE_READ(mm, arg_end);
    __u64 len = end > start ? end - start : 0;
    if (len > TE_ARGV_MAX - 1) {
        len = TE_ARGV_MAX - 1;
        flags |= TE_EXEC_ARGV_TRUNCATED;
    }
    __u32 off = e->h.size;
    e->s[1].off = off;
    e->s[1].enc = TE_STR_PLAIN;
    if (off <= STR_LIMIT && len > 0) {
        if (bpf_probe_read_user((char *)e + off, len & (TE_ARGV_MAX - 1), (void *)start) == 0) {
            /* drop the final NUL so argv reads as NUL separated */
            __u32 n = len & (TE_ARGV_MAX - 1);
            __u32 last = off + n - 1;
            if (n > 0 && last < sizeof(struct scratch) && ((char *)e)[last] == 0)
                n--;
            e->s[1].len = n;
            e->h.size = off + (len & (TE_ARGV_MAX - 1));
        } else {
            e->s[1].flags = TE_STRF_FAULT;
        }
    }
    if (flags & TE_EXEC_ARGV_TRUNCATED)
        e->s[1].flags |= TE_STRF_TRUNCATED;

    struct fs_struct *fs = task->fs;
    str_path(e, 2, &fs->pwd, 0);
    /* the filename as the caller named it */
    __u32 off3 = e->h.size;
    e->s[3].off = off3;
    e->s[3].enc = TE_STR_PLAIN;
    if (off3 <= STR_LIMIT) {
        long n = bpf_probe_read_kernel_str((char *)e + off3, TE_STR_MAX, BPF_CORE_READ(bprm, filename));
        if (n > 0) {
            e->s[3].len = n - 1;
            e->h.size = off3 + n;
        }
    }
    e->a[1] = flags;
    event_emit(e);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
    __u32 tgid = task->tgid;
    struct te_tracked *t = tracked_entry(tgid);
    if (!t)
        return 0;
    if (BPF_CORE_READ(task, signal, live.counter) != 0)
        return 0; /* other threads remain */
    __u64 session = t->session;
    track_drop(tgid);
    struct te_event *e = event_begin(TE_EXIT, session, 0, 0);
    if (!e)
        return 0;
    int code = BPF_CORE_READ(task, exit_code);
    e->a[0] = (code >> 8) & 0xff;
    e->a[1] = code & 0x7f;
    event_emit(e);
    return 0;
}

/* ---- refusals: cgroup hooks truly refuse (EPERM), the operation never happens ---- */

static __always_inline struct te_tracked *enforced_member(__u32 guard_bit, bool *monitor)
{
    if (!(guards_enabled() & guard_bit))
        return NULL;
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct te_tracked *t = tracked_entry(tgid);
    if (t)
        *monitor = !(t->flags & TE_TRACK_ENFORCE);
    return t;
}

static __always_inline void set_verdict(__u32 g)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    bpf_map_update_elem(&verdicts, &tid, &g, BPF_ANY);
}

/* 1 = allow, 0 = refuse. `addr` is the destination as ::ffff:a.b.c.d or IPv6, network order. */
static __always_inline int egress_verdict(__u8 addr[16], __u16 port)
{
    bool monitor = false;
    struct te_tracked *t = enforced_member(TE_GUARDS_EGRESS, &monitor);
    if (!t)
        return 1;
    struct te_net_key key = { .prefixlen = 16 + 128, .policy = 0 };
    __builtin_memcpy(key.addr, addr, 16);
    bool denied = bpf_map_lookup_elem(&egress_deny, &key) != NULL;
    if (!denied) {
        key.policy = t->policy;
        struct te_net_ports *ports = bpf_map_lookup_elem(&egress_allow, &key);
        denied = true;
        if (ports) {
            /* no range listed: any port; otherwise one of the ranges */
            if (ports->hi[0] == 0)
                denied = false;
            for (int i = 0; i < TE_NET_PORTS; i++) {
                if (ports->hi[i] != 0 && ports->lo[i] <= port && port <= ports->hi[i]) {
                    denied = false;
                    break;
                }
            }
        }
    }
    if (!denied)
        return 1;
    set_verdict(TE_GUARD_EGRESS | (monitor ? TE_GUARD_MONITOR : TE_GUARD_REFUSED));
    return monitor ? 1 : 0;
}

static __always_inline int egress4(struct bpf_sock_addr *ctx)
{
    __u8 a[16] = {};
    a[10] = 0xff;
    a[11] = 0xff;
    __u32 ip = ctx->user_ip4;
    __builtin_memcpy(&a[12], &ip, 4);
    return egress_verdict(a, bpf_ntohs(ctx->user_port));
}

static __always_inline int egress6(struct bpf_sock_addr *ctx)
{
    __u8 a[16];
    __u32 w;
    w = ctx->user_ip6[0]; __builtin_memcpy(&a[0], &w, 4);
    w = ctx->user_ip6[1]; __builtin_memcpy(&a[4], &w, 4);
    w = ctx->user_ip6[2]; __builtin_memcpy(&a[8], &w, 4);
    w = ctx->user_ip6[3]; __builtin_memcpy(&a[12], &w, 4);
    return egress_verdict(a, bpf_ntohs(ctx->user_port));
}

SEC("cgroup/connect4") int guard_connect4(struct bpf_sock_addr *ctx) { return egress4(ctx); }
SEC("cgroup/connect6") int guard_connect6(struct bpf_sock_addr *ctx) { return egress6(ctx); }
SEC("cgroup/sendmsg4") int guard_sendmsg4(struct bpf_sock_addr *ctx) { return egress4(ctx); }
SEC("cgroup/sendmsg6") int guard_sendmsg6(struct bpf_sock_addr *ctx) { return egress6(ctx); }

/* Raw IP sockets (the hook sees AF_INET/AF_INET6 only; packet sockets are reported, not refused). */
SEC("cgroup/sock_create")
int guard_sock_create(struct bpf_sock *ctx)
{
    bool monitor = false;
    if (ctx->type != SOCK_RAW || !enforced_member(TE_GUARDS_RAWSOCK, &monitor))
        return 1;
    set_verdict(monitor ? TE_GUARD_MONITOR : TE_GUARD_REFUSED);
    return monitor ? 1 : 0;
}

/* Writes to /proc/sys: refused, and reported here (no syscall handler sees the name). */
SEC("cgroup/sysctl")
int guard_sysctl(struct bpf_sysctl *ctx)
{
    bool monitor = false;
    struct te_tracked *t = ctx->write ? enforced_member(TE_GUARDS_SYSCTL, &monitor) : NULL;
    if (!t)
        return 1;
    struct te_event *e = event_begin(TE_SYSCTL, t->session, 0, monitor ? 0 : -1 /* EPERM */);
    if (e) {
        e->a[0] = 1;
        e->guard = monitor ? TE_GUARD_MONITOR : TE_GUARD_REFUSED;
        __u32 off = e->h.size;
        e->s[1].off = off;
        e->s[1].enc = TE_STR_PLAIN;
        if (off <= STR_LIMIT) {
            long n = bpf_sysctl_get_name(ctx, (char *)e + off, 256, 0);
            if (n > 0) {
                e->s[1].len = n;
                e->h.size = off + n + 1;
            }
        }
        event_emit(e);
    }
    return monitor ? 1 : 0;
}

/* Raw disks and memory devices. */
SEC("cgroup/dev")
int guard_device(struct bpf_cgroup_dev_ctx *ctx)
{
    __u32 type = ctx->access_type & 0xffff, access = ctx->access_type >> 16;
    bool mem = type == BPF_DEVCG_DEV_CHAR && ctx->major == 1 && (ctx->minor == 1 || ctx->minor == 2 || ctx->minor == 4);
    if (type != BPF_DEVCG_DEV_BLOCK && !mem)
        return 1;
    bool monitor = false;
    struct te_tracked *t = enforced_member(TE_GUARDS_DEVICE, &monitor);
    if (!t)
        return 1;
    struct te_event *e = event_begin(TE_DEVICE, t->session, 0, monitor ? 0 : -1);
    if (e) {
        e->a[0] = access;
        e->a[1] = ctx->major;
        e->a[2] = ctx->minor;
        e->a[3] = type;
        e->guard = monitor ? TE_GUARD_MONITOR : TE_GUARD_REFUSED;
        event_emit(e);
    }
    return monitor ? 1 : 0;
}
