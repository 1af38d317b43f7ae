/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel guards: kill the caller, freeze its session, judge what it touched. */
#ifndef TETHER_GUARDS_H
#define TETHER_GUARDS_H

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
    if (!(c->m.mode & TE_MODE_ENFORCE)) {
        e->guard |= what | TE_GUARD_MONITOR;
        return;
    }
    if (bpf_send_signal(SIGKILL))
        stat_inc(TE_STAT_GUARD_FAIL);
    else
        e->guard |= TE_GUARD_KILLED;
    freeze_session(c->m.session);
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



/* (dev, ino) of an inode, by plain loads: the key of protected_inodes and watch_inode. */
static __always_inline struct te_watch_inode inode_key(const void *inode)
{
    struct inode *i = KPTR(struct inode, inode);
    struct te_watch_inode key = { .dev = i->i_sb->s_dev, .ino = i->i_ino };
    return key;
}

/* When `task`'s process started, in clock ticks since boot, as /proc/PID/stat's field 22
 * says (te_deputy_proc.start). */
static __always_inline __u64 start_ticks(struct task_struct *task)
{
    return task->group_leader->start_boottime / (1000000000ull / TE_USER_HZ);
}

/* A file's deputy_exes value (a deputy's executable, or a socket file a service manager
 * listens on for one), the plan's generation aside; 0: none. */
static __always_inline __u32 deputy_file_kind(struct inode *inode)
{
    if (!inode)
        return 0;
    struct te_watch_inode key = inode_key(inode);
    __u32 *kind = bpf_map_lookup_elem(&deputy_exes, &key);
    return kind ? *kind & TE_PROTECT_MASK : 0; /* the high half is the guard plan's generation */
}

/* The deputy kind of a process's executable (its deputy_exes value, TE_DEPUTY_TCP_ONLY
 * included), or 0: by the file the kernel runs for it, not by its name. A process that
 * runs a deputy's script under an interpreter is named by deputy_procs instead (found by
 * user space, or at its exec), while it is that process (the same start). */
static __always_inline __u32 deputy_kind(struct task_struct *task)
{
    struct mm_struct *mm = task->mm;
    if (!mm)
        return 0;
    struct file *exe = mm->exe_file;
    if (!exe)
        return 0;
    __u32 kind = deputy_file_kind(exe->f_inode);
    if (kind)
        return kind;
    __u32 tgid = task->tgid;
    struct te_deputy_proc *p = bpf_map_lookup_elem(&deputy_procs, &tgid);
    if (!p || p->start != start_ticks(task))
        return 0;
    return p->kind & TE_PROTECT_MASK;
}

static __always_inline __u32 key_protection(struct te_watch_inode *key)
{
    __u32 *v = bpf_map_lookup_elem(&protected_inodes, key);
    return v ? *v & TE_PROTECT_MASK : 0;
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
    return v ? prot | (*v & TE_PROTECT_MASK) : prot;
}

/* Is `inode` under /proc/PID of one of Tether's processes or threads? By the proc inode's
 * pid, not by the path's digits. */
static __always_inline bool proc_inode_protected(struct inode *inode)
{
    if (!inode || inode->i_sb->s_magic != PROC_SUPER_MAGIC)
        return false;
    struct proc_inode *pi = KPTR(struct proc_inode, (void *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode));
    struct pid *pid = pi->pid;
    return pid && pid_protected(tgid_of(pid->numbers[0].nr));
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
    if (r.followed) { /* slot is a string slot (1 or 3): its base slot is before it */
        /* through a symlink: the record names the directory it led to (the base slot
         * before the string), and the string's last component against it */
        str_dpath(e, slot - 1, dir, KPTR(struct mount, r.m), TE_STRF_BASE);
        struct te_str *str = &e->s[slot & (TE_NSTR - 1)];
        if (r.coff >= str->off && r.coff - str->off <= str->len)
            str->skip = r.coff - str->off;
    }
    __u32 prot = entry_protection(dir, (char *)e + (r.coff & 0xffff), r.clen);
    /* Tether's /proc/PID: a ring's write open there through a symlink the kernel followed
     * is the tamper guard's at submission, as a plain "/proc/N/…" spelling is */
    if (dir->d_sb->s_magic == BPF_FS_MAGIC || proc_inode_protected(dir->d_inode))
        prot |= TE_PROTECT_TAMPER;
    if ((prot & TE_PROTECT_TAMPER) && (enabled & TE_GUARDS_TAMPER))
        guard_act(e, s, TE_GUARD_TAMPER);
    else if ((prot & TE_PROTECT_WRITE) && (enabled & TE_GUARDS_WRITE))
        guard_act(e, s, TE_GUARD_WRITE);
    else if (prot & TE_PROTECT_NOTE)
        e->guard |= TE_GUARD_NOTED;
}

/* Hands a finished rename/link/symlink record to the entry guard stage, which judges its
 * destination and emits it; returns only if there is no such stage, marking the record. */
static __always_inline void entry_guard_slots(struct te_event *e, struct call *s, long dirfd, long olddirfd, __u32 slots)
{
    if (!(guards_enabled() & (TE_GUARDS_WRITE | TE_GUARDS_TAMPER)))
        return;
    __u32 zero = 0;
    struct cpu_state *cpu = bpf_map_lookup_elem(&cpu_state, &zero);
    if (cpu) {
        cpu->dirfd[0] = dirfd;
        cpu->dirfd[1] = olddirfd;
        cpu->slots = slots;
        bpf_tail_call(s->ctx, &handlers, TE_SLOT_ENTRY_GUARD);
    }
    e->guard |= TE_GUARD_UNRESOLVED;
}

/* The new name is in slot 3 (a rename's, link's or symlink's destination); an exchange
 * makes something new at slot 1 too. */
static __always_inline void entry_guard_stage(struct te_event *e, struct call *s, long dirfd, long olddirfd, bool both)
{
    entry_guard_slots(e, s, dirfd, olddirfd, both ? 3 : 1);
}

/* A cgroup file that moves processes or freezes or kills a whole cgroup: cgroup.procs,
 * cgroup.threads, tasks (v1), cgroup.freeze, cgroup.kill, freezer.state (v1). Writing one
 * is how a process freezes or kills Tether without a signal (move it into a frozen cgroup,
 * freeze or kill its own), or leaves the cgroup its limits hang on. */
static __always_inline bool cgroup_control(struct dentry *d)
{
    char n[16] = {};
    __u32 len = d->d_name.len;
    if (len < 5 || len > 14 || bpf_probe_read_kernel(n, sizeof(n), d->d_name.name))
        return false;
    if (len == 5)
        return n[0] == 't' && n[1] == 'a' && n[2] == 's' && n[3] == 'k' && n[4] == 's';
    if (len == 13 && n[0] == 'f')
        return n[1] == 'r' && n[2] == 'e' && n[3] == 'e' && n[4] == 'z' && n[5] == 'e' && n[6] == 'r' && n[7] == '.' &&
               n[8] == 's' && n[9] == 't' && n[10] == 'a' && n[11] == 't' && n[12] == 'e';
    if (!(n[0] == 'c' && n[1] == 'g' && n[2] == 'r' && n[3] == 'o' && n[4] == 'u' && n[5] == 'p' && n[6] == '.'))
        return false;
    if (len == 12) /* procs */
        return n[7] == 'p' && n[8] == 'r' && n[9] == 'o' && n[10] == 'c' && n[11] == 's';
    if (len == 14) /* threads */
        return n[7] == 't' && n[8] == 'h' && n[9] == 'r' && n[10] == 'e' && n[11] == 'a' && n[12] == 'd' && n[13] == 's';
    if (len == 13) /* freeze */
        return n[7] == 'f' && n[8] == 'r' && n[9] == 'e' && n[10] == 'e' && n[11] == 'z' && n[12] == 'e';
    if (len == 11) /* kill */
        return n[7] == 'k' && n[8] == 'i' && n[9] == 'l' && n[10] == 'l';
    return false;
}

/* An open that can change content succeeded: is the file, or the directory it is in,
 * protected? Matched on the inodes the kernel opened, not on the caller's string.
 * a[2] = the file's size after the open, so the finding can state what remained. */
static __always_inline void open_guard(struct te_event *e, struct call *s, struct file *f)
{
    __u32 enabled = guards_enabled();
    if (!(enabled & (TE_GUARDS_WRITE | TE_GUARDS_TAMPER)) || !f)
        return;
    struct inode *inode = f->f_inode;
    struct dentry *dentry = f->f_path.dentry;
    struct te_watch_inode key = inode_key(inode);
    __u32 prot = key_protection(&key) |
                 entry_protection(dentry->d_parent, dentry->d_name.name, dentry->d_name.len);
    __u64 magic = inode->i_sb->s_magic;
    if (magic == BPF_FS_MAGIC)
        prot |= TE_PROTECT_TAMPER;
    if ((magic == CGROUP2_SUPER_MAGIC || magic == CGROUP_SUPER_MAGIC) && cgroup_control(dentry))
        prot |= TE_PROTECT_TAMPER;
    e->a[2] = inode->i_size;
    if ((prot & TE_PROTECT_TAMPER) && (enabled & TE_GUARDS_TAMPER))
        guard_act(e, s, TE_GUARD_TAMPER);
    else if ((prot & TE_PROTECT_WRITE) && (enabled & TE_GUARDS_WRITE))
        guard_act(e, s, TE_GUARD_WRITE);
    else if (prot & TE_PROTECT_NOTE)
        e->guard |= TE_GUARD_NOTED; /* the rules judge it: it must reach them */
}

/* An open under /proc/PID/ of one of Tether's processes: its memory (`mem`), or anything
 * there opened for writing (`oom_score_adj`, `attr/…`), is a way into Tether without a
 * signal or ptrace. Matched on the proc inode's pid, not on the path's digits. (Its fds
 * and mappings, `fd/N` and `map_files/…`, resolve to the files themselves; the kernel
 * refuses to reopen a BPF map or ring buffer that way, ENXIO.) */
static __always_inline void proc_guard(struct te_event *e, struct call *s, struct file *f, bool write)
{
    if (!f || !proc_inode_protected(f->f_inode))
        return;
    if (!write) {
        struct dentry *d = f->f_path.dentry;
        char c[4] = {};
        bpf_probe_read_kernel(c, sizeof(c), d->d_name.name);
        if (!(d->d_name.len == 3 && c[0] == 'm' && c[1] == 'e' && c[2] == 'm'))
            return; /* stat, status, cmdline: what ps and top read */
    }
    if (guards_enabled() & TE_GUARDS_TAMPER)
        guard_act(e, s, TE_GUARD_TAMPER);
}

/* A read open of a credential location (the file, its name in its directory, or a
 * directory of them: TE_PROTECT_SECRET, on the inodes the kernel opened) is noted: no guard
 * acts, but the rules judge the read, so a flood must not drop its record. Consulted with
 * the protected maps' switch (TE_GUARDS_WRITE, on whenever a plan protects or notes). */
static __always_inline void secret_note(struct te_event *e, struct file *f)
{
    if (!(guards_enabled() & TE_GUARDS_WRITE))
        return;
    struct dentry *dentry = f->f_path.dentry;
    struct te_watch_inode key = inode_key(f->f_inode);
    __u32 prot = key_protection(&key);
    if (!(prot & TE_PROTECT_SECRET))
        prot |= entry_protection(dentry->d_parent, dentry->d_name.name, dentry->d_name.len);
    if (prot & TE_PROTECT_SECRET)
        e->guard |= TE_GUARD_NOTED;
}

/* The file an open made (`flags` as the caller gave them): its path as the kernel has it
 * into slot 0, then the guards: what may change it (or, read, whether it is a credential),
 * then Tether's /proc entries. */
static __always_inline void opened_file(struct te_event *e, struct call *s, struct file *f, __u64 flags)
{
    if (!f)
        return;
    str_path(e, 0, &f->f_path, 0);
    /* The file's own mode decides, not only the flags the record has (a[0], set by the
     * caller): openat2's are in the caller's memory, which a second thread can rewrite. */
    if ((f->f_mode & FMODE_WRITE) && !(flags & O_ACCMODE)) {
        flags |= f->f_mode & FMODE_READ ? O_RDWR : O_WRONLY;
        e->a[0] = flags;
    }
    bool write = flags & (O_ACCMODE | O_CREAT | O_TRUNC);
    if (write)
        open_guard(e, s, f);
    else
        secret_note(e, f);
    if (!(e->guard & TE_GUARD_KILLED))
        proc_guard(e, s, f, write);
}

#endif
