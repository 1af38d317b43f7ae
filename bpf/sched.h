/* SPDX-License-Identifier: GPL-2.0 */
/* Scheduler hooks: inheritance at fork, sessions started at exec, pruning at exit. */
#ifndef TETHER_SCHED_H
#define TETHER_SCHED_H

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
    struct member m;
    member_of(&copy, &m);
    struct te_event *e = event_begin(TE_FORK, &m, 0, ctgid);
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
