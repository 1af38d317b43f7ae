/* SPDX-License-Identifier: GPL-2.0 */
/* Scheduler hooks: inheritance at fork, sessions started at exec, pruning at exit. */
#ifndef TETHER_SCHED_H
#define TETHER_SCHED_H

/* ---- scheduler: inheritance, exec, exit ---- */

/* A child of a deputy a member reached (see unix_peer): while that member lives and the
 * deputy still runs the executable it was reached as, the child joins the member's
 * session with the member's entry; the fork record names the deputy. */
static __always_inline bool deputy_child(struct task_struct *parent, __u32 ptgid, struct te_tracked *copy)
{
    struct te_deputy *d = bpf_map_lookup_elem(&deputies, &ptgid);
    if (!d)
        return false;
    __u32 member = d->member;
    struct te_tracked *m = bpf_map_lookup_elem(&tracked, &member);
    if (!m || m->session != d->session || deputy_kind(KPTR(struct task_struct, parent)) != d->kind)
        return false;
    *copy = *m;
    return true;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
    __u32 ptgid = parent->tgid, ctgid = child->tgid, deputy = 0;
    if (ptgid == ctgid || !maybe_tracked(ptgid))
        return 0; /* a new thread, or surely untracked */
    struct te_tracked copy;
    struct te_tracked *t = bpf_map_lookup_elem(&tracked, &ptgid);
    if (t)
        copy = *t;
    else if (deputy_child(parent, ptgid, &copy))
        deputy = ptgid;
    else
        return 0;
    if (track_put(ctgid, &copy))
        stat_inc(TE_STAT_TRACK_FULL);
    struct member m;
    member_of(&copy, &m);
    struct te_event *e = event_begin(TE_FORK, &m, 0, ctgid);
    if (!e)
        return 0;
    e->a[0] = ctgid;
    e->a[1] = deputy;
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

/* Does an untracked exec match the watch policy? Returns the match's flags | agent << 16,
 * or -1. When selectors of several agents match, the most specific wins, the same order
 * `tether check-policy` documents and user space uses for running processes: the
 * executable (its inode, which no rename or copy carries along), then the cgroup, then
 * the command name, then the uid. */
static __always_inline __s64 watched(struct task_struct *task, struct linux_binprm *bprm)
{
    __u32 zero = 0;
    __u32 *mask = bpf_map_lookup_elem(&watch_config, &zero);
    __u32 *v = NULL;
    if (!mask || !*mask)
        return -1;
    if (*mask & 8) {
        struct te_watch_inode key = inode_key(BPF_CORE_READ(bprm, file, f_inode));
        if ((v = bpf_map_lookup_elem(&watch_inode, &key)))
            return *v;
    }
    if (*mask & 4) {
        __u64 cg = bpf_get_current_cgroup_id();
        if ((v = bpf_map_lookup_elem(&watch_cgroup, &cg)))
            return *v;
    }
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
    return -1;
}

/* ---- the environment an exec starts with ----
 * A home is where a program looks for ~/.bashrc, ~/.config/systemd/user, ~/.aws: the
 * passwd database's, unless the process's HOME (or XDG_CONFIG_HOME, XDG_DATA_HOME,
 * ZDOTDIR) says otherwise. And LD_PRELOAD, PYTHONPATH, NODE_OPTIONS... make a trusted
 * program run the caller's code. Both are read here, from the strings the exec laid out
 * on the new stack, before the program runs a single instruction that could change them;
 * /proc/PID/environ later would show whatever the process wrote there since. */
struct env_scan {
    __u64 pos, end;   /* next string, end of the area (user addresses) */
    __u32 keep_off;   /* where the kept strings start in the record */
    __u32 flags;      /* TE_ENV_* */
    __u32 left;       /* strings still to read (bprm->envc) */
    __u8 mid;         /* pos is inside a string longer than env_buf */
};

#define W8(a, b, c, d, e, f, g, h) ((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | \
                                    (__u64)(e) << 32 | (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)
static __always_inline __u64 low_bytes(__u64 w, int n) { return n >= 8 ? w : w & ((1ull << (n * 8)) - 1); }
/* Does the string (first 16 bytes in w0, w1; n bytes with its NUL) start with the `len`-byte
 * name (its bytes in x0, x1, '=' included)? */
static __always_inline bool env_is(__u64 w0, __u64 w1, long n, int len, __u64 x0, __u64 x1)
{
    return n > len && low_bytes(w0, len) == x0 && (len <= 8 || low_bytes(w1, len - 8) == x1);
}

/* Which TE_ENV_* the variable in w0, w1 is, or 0 to skip it. */
static __always_inline __u32 env_kind(__u64 w0, __u64 w1, long n)
{
    if (env_is(w0, w1, n, 5, W8('H','O','M','E','=',0,0,0), 0) ||
        env_is(w0, w1, n, 8, W8('Z','D','O','T','D','I','R','='), 0) ||
        env_is(w0, w1, n, 16, W8('X','D','G','_','C','O','N','F'), W8('I','G','_','H','O','M','E','=')) ||
        env_is(w0, w1, n, 14, W8('X','D','G','_','D','A','T','A'), W8('_','H','O','M','E','=',0,0)))
        return TE_ENV_HOME;
    if (env_is(w0, w1, n, 11, W8('L','D','_','P','R','E','L','O'), W8('A','D','=',0,0,0,0,0)) ||
        env_is(w0, w1, n, 9, W8('L','D','_','A','U','D','I','T'), W8('=',0,0,0,0,0,0,0)) ||
        env_is(w0, w1, n, 16, W8('L','D','_','L','I','B','R','A'), W8('R','Y','_','P','A','T','H','=')))
        return TE_ENV_LOADER;
    if (env_is(w0, w1, n, 11, W8('P','Y','T','H','O','N','P','A'), W8('T','H','=',0,0,0,0,0)) ||
        env_is(w0, w1, n, 11, W8('P','Y','T','H','O','N','H','O'), W8('M','E','=',0,0,0,0,0)) ||
        env_is(w0, w1, n, 14, W8('P','Y','T','H','O','N','S','T'), W8('A','R','T','U','P','=',0,0)) ||
        env_is(w0, w1, n, 14, W8('P','Y','T','H','O','N','I','N'), W8('S','P','E','C','T','=',0,0)) ||
        env_is(w0, w1, n, 13, W8('N','O','D','E','_','O','P','T'), W8('I','O','N','S','=',0,0,0)) ||
        env_is(w0, w1, n, 10, W8('N','O','D','E','_','P','A','T'), W8('H','=',0,0,0,0,0,0)) ||
        env_is(w0, w1, n, 9, W8('P','E','R','L','5','O','P','T'), W8('=',0,0,0,0,0,0,0)) ||
        env_is(w0, w1, n, 9, W8('P','E','R','L','5','L','I','B'), W8('=',0,0,0,0,0,0,0)) ||
        env_is(w0, w1, n, 8, W8('R','U','B','Y','O','P','T','='), 0) ||
        env_is(w0, w1, n, 8, W8('R','U','B','Y','L','I','B','='), 0) ||
        env_is(w0, w1, n, 9, W8('B','A','S','H','_','E','N','V'), W8('=',0,0,0,0,0,0,0)))
        return TE_ENV_INTERPRETER;
    return 0;
}

static long env_step(__u64 index, struct env_scan *c)
{
    __u32 zero = 0;
    struct env_buf *b = bpf_map_lookup_elem(&env_buf, &zero);
    struct te_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!b || !e)
        return 1;
    if (c->left == 0 || c->pos >= c->end)
        return 1;
    long n = bpf_probe_read_user_str(b->s, sizeof(b->s), (void *)c->pos);
    if (n <= 0) {
        c->flags |= TE_ENV_INCOMPLETE;
        return 1;
    }
    bool mid = c->mid;
    /* a string longer than the buffer comes back cut (n == size): the rest is read next,
     * and is no variable's start */
    c->mid = n == sizeof(b->s);
    c->pos += c->mid ? n - 1 : n;
    if (!c->mid)
        c->left--;
    if (mid)
        return 0;
    __u64 w0 = *(__u64 *)&b->s[0], w1 = *(__u64 *)&b->s[8];
    __u32 kind = env_kind(w0, w1, n);
    if (!kind)
        return 0;
    c->flags |= kind;
    /* kept whole, with its NUL, while the record has room */
    __u32 off = e->h.size;
    if (c->mid || n > TE_STR_MAX || off - c->keep_off + n > TE_ENV_KEEP || off > sizeof(struct scratch) - TE_STR_MAX) {
        c->flags |= TE_ENV_CUT;
        return 0;
    }
    if (bpf_probe_read_kernel((char *)e + off, n & (TE_STR_MAX - 1), b->s) == 0)
        e->h.size = off + (n & (TE_STR_MAX - 1));
    return 0;
}

/* Reads the new environment into the record (see TE_ENV_* in tether_abi.h); returns a2. */
static __always_inline __u64 env_scan(struct te_event *e, struct mm_struct *mm, struct linux_binprm *bprm)
{
    struct env_scan c = {
        .pos = BPF_CORE_READ(mm, env_start), .end = BPF_CORE_READ(mm, env_end),
        .keep_off = e->h.size, .left = BPF_CORE_READ(bprm, envc),
    };
    /* read whole even when the record has no room left to keep a variable (TE_ENV_CUT) */
    bpf_loop(TE_ENV_STRINGS, env_step, &c, 0);
    if (c.left)
        c.flags |= TE_ENV_INCOMPLETE;
    __u32 len = e->h.size - c.keep_off;
    return (c.keep_off & 0xffff) | (__u64)(len & 0xffff) << 16 | (__u64)c.flags << 32;
}

/* A process outside every session that starts one of the policy's scripted deputies: its
 * executable is the interpreter's file (deputy_interps, by inode; every other exec leaves
 * after that lookup) and one of its first arguments is the script's absolute path (as the
 * policy spells it, or its real path) or its file name with the script's directory the
 * working directory (deputy_scripts, by hash), read from the new image's stack as the
 * kernel laid it out from its launcher's (no member launched it: a member's exec is a
 * member's). It is registered in deputy_procs before it runs, so a runner restarted after
 * a crash is a deputy from its first instruction, not from user space's next look (which
 * also finds the spellings this cannot: a path through other directories, another name
 * for the script's file). */
#define TE_DEPUTY_ARGS 4
static __always_inline void deputy_exec(struct task_struct *task, struct linux_binprm *bprm)
{
    struct te_deputy_script key = { .interp = inode_key(bprm->file->f_inode) };
    if (!bpf_map_lookup_elem(&deputy_interps, &key.interp))
        return;
    __u32 zero = 0;
    struct env_buf *b = bpf_map_lookup_elem(&env_buf, &zero);
    struct mm_struct *mm = task->mm;
    if (!b || !mm)
        return;
    __u64 pos = mm->arg_start, end = mm->arg_end;
    for (int i = 0; i < TE_DEPUTY_ARGS && pos < end; i++) {
        long n = bpf_probe_read_user_str(b->s, TE_STR_MAX, (const void *)pos);
        if (n <= 0)
            return;
        pos += n;
        if (i == 0)
            continue; /* the interpreter's own name */
        key.hash = te_str_hash(b->s, n - 1);
        key.dir.dev = key.dir.ino = 0;
        __u32 *kind = bpf_map_lookup_elem(&deputy_scripts, &key);
        if (!kind && b->s[0] != '/') { /* a file name in the working directory */
            key.dir = inode_key(task->fs->pwd.dentry->d_inode);
            kind = bpf_map_lookup_elem(&deputy_scripts, &key);
        }
        if (!kind)
            continue;
        __u32 tgid = task->tgid;
        struct te_deputy_proc p = { .kind = *kind, .start = start_ticks(task) };
        bpf_map_update_elem(&deputy_procs, &tgid, &p, BPF_ANY);
        return;
    }
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 tgid = task->tgid;
    __u32 flags = 0;
    struct te_tracked *t = tracked_entry(tgid);
    struct te_tracked cur = {};
    if (t) {
        cur = *t;
    } else {
        deputy_exec(task, bprm);
        __s64 match = watched(task, bprm);
        if (match < 0)
            return 0;
        cur.flags = match & 0xffff;
        cur.agent = match >> 16;
        /* A new session: boot time and CPU make the id unique; the top bit says the kernel made it. */
        cur.session = (1ULL << 63) | ((bpf_ktime_get_boot_ns() << 8) & ~(1ULL << 63)) | (bpf_get_smp_processor_id() & 0xff);
        cur.root_tgid = tgid;
        if (track_put(tgid, &cur)) {
            stat_inc(TE_STAT_TRACK_FULL);
            return 0;
        }
        flags |= TE_EXEC_SESSION_START;
    }
    struct member m;
    member_of(&cur, &m);
    struct te_event *e = event_begin(TE_EXEC, &m, 0, 0);
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
    /* a #! script: binfmt_script gave the exec a new interpreter name (a new string) */
    if (BPF_CORE_READ(bprm, interp) != BPF_CORE_READ(bprm, filename))
        flags |= TE_EXEC_SCRIPT;
    e->a[1] = flags;
    e->a[2] = env_scan(e, mm, bprm);
    /* An environment the kernel cannot read whole may hide a HOME or an LD_PRELOAD past
     * what it read (padding is cheap): in enforce mode such a program never runs its first
     * instruction. Nothing honest comes near TE_ENV_STRINGS variables. */
    if ((e->a[2] >> 32) & TE_ENV_INCOMPLETE && m.mode & TE_MODE_ENFORCE) {
        if (bpf_send_signal(SIGKILL))
            stat_inc(TE_STAT_GUARD_FAIL);
        else
            e->guard |= TE_GUARD_KILLED;
    }
    struct inode *exe = KPTR(struct inode, BPF_CORE_READ(bprm, file, f_inode));
    e->a[3] = exe->i_mode | (__u64)exe->i_uid.val << 32;
    event_emit(e);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
    __u32 tgid = task->tgid;
    if (!maybe_tracked(tgid))
        return 0;
    struct te_tracked *t = bpf_map_lookup_elem(&tracked, &tgid);
    __u32 tid = task->pid;
    bpf_map_delete_elem(&entered, &tid); /* a later thread with its id began no call */
    if (BPF_CORE_READ(task, signal, live.counter) != 0)
        return 0; /* other threads remain */
    if (!t) {
        /* a deputy a member reached: its registration goes with it (a later process
         * with its pid is nobody's deputy) */
        if (bpf_map_delete_elem(&deputies, &tgid) == 0)
            mark_tracked(tgid, false);
        return 0;
    }
    struct member m;
    member_of(t, &m);
    track_drop(tgid);
    struct te_event *e = event_begin(TE_EXIT, &m, 0, 0);
    if (!e)
        return 0;
    int code = BPF_CORE_READ(task, exit_code);
    e->a[0] = (code >> 8) & 0xff;
    e->a[1] = code & 0x7f;
    event_emit(e);
    return 0;
}

#endif
