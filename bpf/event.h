/* SPDX-License-Identifier: GPL-2.0 */
/* Building a record in the per-CPU scratch and handing it to the ring buffer. */
#ifndef TETHER_EVENT_H
#define TETHER_EVENT_H

static __always_inline struct te_event *event_begin(__u16 kind, const struct member *m, long nr, long ret)
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
    e->session = m->session;
    e->root_tgid = m->root;
    e->agent = m->agent;
    e->mode = m->mode;
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
    __u64 flags = e->guard & TE_GUARD_HELD ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP; /* a stopped caller waits */
    struct cpu_state *cpu = bpf_map_lookup_elem(&cpu_state, &zero);
    if (cpu) {
        cpu->unwoken += size;
        if (cpu->unwoken >= wakeup_bytes || flags == BPF_RB_FORCE_WAKEUP) {
            cpu->unwoken = 0;
            flags = BPF_RB_FORCE_WAKEUP;
        }
    }
    if (!bpf_ringbuf_output(&events, e, size, flags)) {
        stat_inc(TE_STAT_EVENTS);
        return;
    }
    /* Full (a flood, or a reader that fell behind). A record a guard matched (or noted:
     * a write the rules judge where no guard acts, a credential read) is what a rule needs
     * most, and an exec is what every later record of its process is judged by (what runs,
     * the homes it was given): those go on the urgent ring. Anything else is lost for
     * good, and the loss itself is a record there, naming the session whose record it was. */
    bool keep = e->guard || e->h.kind == TE_EXEC;
    if (keep && !bpf_ringbuf_output(&urgent, e, size, BPF_RB_FORCE_WAKEUP)) {
        stat_inc(TE_STAT_RESCUED);
        stat_inc(TE_STAT_EVENTS);
        return;
    }
    stat_inc(keep ? TE_STAT_URGENT_DROPS : TE_STAT_DROPS);
    if (!cpu)
        return;
    cpu->lost++;
    __u64 now = bpf_ktime_get_boot_ns();
    if (cpu->loss_ns && now - cpu->loss_ns < 10000000ull) /* one loss record per CPU per 10 ms */
        return;
    /* The lost record's header stays (its session, pid, syscall); its strings go. */
    __u64 kind = e->h.kind;
    e->h.kind = TE_LOSS;
    e->h.size = sizeof(struct te_event);
    e->h.time_ns = now;
    e->a[0] = cpu->lost;
    e->a[1] = kind;
    e->a[2] = e->a[3] = 0;
    __builtin_memset(e->s, 0, sizeof(e->s));
    if (bpf_ringbuf_output(&urgent, e, sizeof(struct te_event), BPF_RB_FORCE_WAKEUP)) {
        stat_inc(TE_STAT_URGENT_DROPS); /* the count stays: the next loss record carries it */
        return;
    }
    stat_inc(TE_STAT_EVENTS);
    cpu->lost = 0;
    cpu->loss_ns = now;
}

/* A refusal in a session under TE_MODE_HOLD (a confined session that explains itself):
 * the caller stops on its way back from the syscall, before it can report the failure and
 * exit, until user space has written the reason to its stderr and continued it. Without
 * the stop, the tool that failed and the shell around it are gone (their pipe closed)
 * long before the reason could reach the agent. Opens for reading are never held. */
static __always_inline void hold_refused(struct te_event *e)
{
    if (!(e->mode & TE_MODE_HOLD))
        return;
    if (e->result != -1 /* EPERM */ && e->result != -13 /* EACCES */ && e->result != -18 /* EXDEV */)
        return;
    if (e->h.kind == TE_OPEN && !(e->a[0] & (O_ACCMODE | O_CREAT | O_TRUNC)))
        return;
    if (!bpf_send_signal(SIGSTOP))
        e->guard |= TE_GUARD_HELD;
    else
        stat_inc(TE_STAT_GUARD_FAIL);
}

/* A syscall handler's record: held if refused (above), then emitted. */
static __always_inline void syscall_emit(struct te_event *e)
{
    hold_refused(e);
    event_emit(e);
}

#define STR_LIMIT (sizeof(struct te_event) + TE_STRAREA - TE_STR_MAX)

/* A NUL-terminated string into `slot`: the caller's (`kernel` false), or one the kernel
 * holds (an io_uring request's copy of a path). Returns its length, or -1. */
static __always_inline long str_read(struct te_event *e, int slot, const char *ptr, bool kernel)
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
    long n = !ptr ? -1 : kernel ? bpf_probe_read_kernel_str((char *)e + off, TE_STR_MAX, ptr)
                                : bpf_probe_read_user_str((char *)e + off, TE_STR_MAX, ptr);
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

static __always_inline long str_user(struct te_event *e, int slot, const char *uptr) { return str_read(e, slot, uptr, false); }
static __always_inline long str_kernel(struct te_event *e, int slot, const char *kptr) { return str_read(e, slot, kptr, true); }

/* First byte of a string slot already in the record. */
static __always_inline char str_first(struct te_event *e, int slot)
{
    __u32 off = e->s[slot & (TE_NSTR - 1)].off;
    if (off >= sizeof(struct scratch))
        return 0;
    return ((char *)e)[off];
}

#endif
