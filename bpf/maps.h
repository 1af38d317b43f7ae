/* SPDX-License-Identifier: GPL-2.0 */
/* Settings the loader fills before load, every map, and the tracked-set operations. */
#ifndef TETHER_MAPS_H
#define TETHER_MAPS_H

/* ---- settings the loader fills before load ---- */

/* Wake the reader once per this many bytes a CPU writes; in between, the reader's timed
 * poll collects them (batched wakeups, not one per event). A wakeup is an inter-processor
 * interrupt, which a VM pays for with an exit: keep them rare. */
const volatile __u32 wakeup_bytes = 1 << 20;

/* A bit per syscall number that has a handler: any other syscall of a tracked process
 * is dismissed before its `tracked` entry is looked up. */
const volatile __u64 reported_syscalls[TE_SYSCALL_SLOTS / 64];

/* Per syscall number, which arguments of it the entry hook reads (entered.h; the calls of
 * tether_entered.def): TE_ENTERED_ON, the first argument's index, the second's
 * (TE_ENTERED_NONE: none) and TE_ENTERED_HOW. */
const volatile __u8 entered_args[TE_SYSCALL_SLOTS];

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

/* Who the caller is, as its tracked entry says: the kernel's decision, on every record. */
struct member {
    __u64 session;
    __u32 root;   /* te_tracked.root_tgid */
    __u16 agent;  /* te_tracked.agent */
    __u16 mode;   /* TE_MODE_*, from the entry's own mode or its agent's (member_of) */
};

/* What a handler knows of the syscall that just returned. */
struct call {
    __u64 args[6];
    struct member m;
    void *ctx;     /* the program's context, for a tail call to a later stage */
};

/* Per-CPU state of the hot path. `call`: the tracked entry the dispatcher found, for the
 * handler it tail-calls (a tail call keeps no locals); the handler runs on the same CPU
 * before anything else can. It is also a cache: while `call_tgid` calls again and the
 * generation of `tracked` is still `call_gen`, `call` is current and the hash is not
 * looked up. `unwoken`: bytes this CPU has written since it last woke the reader. */
struct cpu_state {
    struct te_tracked call;
    struct member member; /* `call` as member_of reads it: cached with it (a change of an
                           * agent's mode bumps the generation too) */
    __u64 call_gen;
    __u32 call_tgid;
    __u64 unwoken;
    __s64 dirfd[2];  /* for the entry guard stage: base of string slot 3, of slot 1 */
    __u32 slots;     /* for the entry guard stage: 1 = judge slot 3, 2 = slot 1 too */
    __u64 lost;      /* records this CPU lost for good since its last loss record */
    __u64 loss_ns;   /* when this CPU last wrote a loss record */
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

/* What must not be lost with a flood: records a guard matched, when `events` is full, and
 * the loss records that say what was lost, in which session. Ordinary records never go
 * here, so filling `events` with cheap ones cannot fill this one. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 << 10);
} urgent SEC(".maps");

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

/* One user string at a time, to look at in place: an environment string at exec (env_scan
 * in sched.h), a path-only call's string at its entry (entered.h). */
struct env_buf {
    char s[TE_STR_MAX];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct env_buf);
} env_buf SEC(".maps");

/* What a tracked thread's path-only syscall was given when it began (entered.h): the
 * caller's pointers and a hash of the strings they held then, so that its exit can tell
 * whether the string it reads is still the one the kernel used. Keyed by thread id. */
struct te_entered {
    __u64 uptr[2];   /* the call's string (or open_how) arguments; 0 once judged */
    __u64 hash[2];   /* of the string's bytes (open_how: its flags) at entry */
    __u32 nr;        /* the syscall */
    __u32 unread;    /* bit i: uptr[i] could not be read at entry (its page not present) */
};
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 8192);
    __type(key, __u32);
    __type(value, struct te_entered);
} entered SEC(".maps");

/* Counters (enum te_stat), per CPU so they cost no atomics. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TE_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

/* Watch policy compiled to exact keys: an untracked exec matching any starts a session.
 * Value: the new session's te_tracked flags | agent slot << 16. When several match, the
 * most specific wins: executable, then cgroup, then command name, then uid (`watched`). */
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

/* Slot -> agent (TE_AGENT_*, name): the mode a session follows, unless it has its own.
 * User space writes it at load and reload; it is pinned with `tracked`, so what a slot
 * means outlives a restart. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TE_AGENT_MAX);
    __type(key, __u32);
    __type(value, struct te_agent);
} agents SEC(".maps");

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

/* Executables of servers that run commands for whoever connects to them (tmux, screen,
 * an editor's server), by identity -> their kind (user space names it) | the guard plan
 * that wrote it << TE_GUARD_GEN_SHIFT; and the unix socket files a service manager listens
 * on for one of them (socket activation: activated_kind), by the same key (a socket file
 * is never an executable). Written with the guard plan. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 128);
    __type(key, struct te_watch_inode);
    __type(value, __u32);
} deputy_exes SEC(".maps");

/* Processes that run a deputy's script under an interpreter, by tgid (struct
 * te_deputy_proc): what deputy_exes cannot tell apart by the executable. Written with the
 * guard plan, from user space's look at the host's processes (at most 512, beside the last
 * plan's), and by the kernel at such a process's exec (deputy_exec). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 2048);
    __type(key, __u32);
    __type(value, struct te_deputy_proc);
} deputy_procs SEC(".maps");

/* The interpreters of the policy's scripted deputies (dev, ino -> 1 | generation), and
 * their scripts (struct te_deputy_script -> kind | generation): an exec of one of those
 * interpreters with the script among its first arguments is registered in deputy_procs
 * by the kernel at once (deputy_exec in sched.h). Written with the guard plan. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct te_watch_inode);
    __type(value, __u32);
} deputy_interps SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 128);
    __type(key, struct te_deputy_script);
    __type(value, __u32);
} deputy_scripts SEC(".maps");

/* TCP listening sockets a deputy opened while Tether ran, as the kernel saw the listen
 * (inet_sock_set_state): socket -> its port; and port -> how many such sockets listen on
 * it (sshd listens twice, on IPv4 and IPv6). A member's connect to one of those ports on
 * an address of this host reaches the deputy: refused from the first instant, not from
 * user space's next look at the socket tables. Written by the kernel only. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u64);
    __type(value, __u16);
} deputy_listeners SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u16);
    __type(value, __u32);
} deputy_ports SEC(".maps");

/* This host's interface addresses (loopback and the unspecified addresses aside: those
 * are this host by their value) -> 1 | the guard plan's generation. Written with the
 * guard plan. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, struct te_local_addr);
    __type(value, __u32);
} local_addrs SEC(".maps");

/* Deputies members reached: tgid -> te_deputy. The deputy's tracked_bits bit is set (a
 * deliberately stale bit: its syscalls cost the hash lookup, its forks are looked at). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, struct te_deputy);
} deputies SEC(".maps");

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
    __u64 link;             /* a symlink met within a followed target (resolve.h), */
    __u32 rest;             /* and where that target's text goes on after it */
    __u32 pad;
    /* lookup_child's walk (a hash bucket, or a directory's children): here, not on the
     * stack, which the walks that reach it have nearly filled */
    __u64 node, dir, wanted, found; /* wanted: the length, and the hash in the high half */
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct resolve_buf);
} resolve_buf SEC(".maps");

/* The dcache's hash table as user space found it at load (struct te_dcache: where it is,
 * its shift), so the resolver looks a name up in its bucket, as the kernel does, rather
 * than scanning a directory's children; table 0: not found, the scan alone. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct te_dcache);
} dcache_table SEC(".maps");

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
/* Refused whatever an allow-list says: cloud metadata (every port), and the ports of
 * services that run commands for whoever reaches them (a container runtime's API). Key:
 * agent 0, value: the ports refused (none listed: every port), and the plan that wrote it. */
struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 256);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct te_net_key);
    __type(value, struct te_net_ports);
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

/* The caller as its entry says: session, root, agent, and the mode the guards follow (the
 * session's own, else its agent's as `agents` has it now, so a reload's change of an
 * agent's mode reaches its running sessions at once). */
static __always_inline void member_of(const struct te_tracked *t, struct member *m)
{
    m->session = t->session;
    m->root = t->root_tgid;
    m->agent = t->agent;
    __u16 hold = t->flags & TE_TRACK_HOLD ? TE_MODE_HOLD : 0;
    if (t->flags & TE_TRACK_MODE_SET) {
        m->mode = hold | TE_MODE_OWN | (t->flags & TE_TRACK_ENFORCE ? TE_MODE_ENFORCE : 0);
        return;
    }
    __u32 slot = t->agent;
    struct te_agent *a = bpf_map_lookup_elem(&agents, &slot);
    m->mode = hold | (a && (a->flags & TE_AGENT_ENFORCE) ? TE_MODE_ENFORCE : 0);
}

static __always_inline void stat_inc(__u32 key)
{
    __u64 *v = bpf_map_lookup_elem(&stats, &key);
    if (v)
        (*v)++;
}

#endif
