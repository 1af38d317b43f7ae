/* SPDX-License-Identifier: GPL-2.0 */
/* The one syscall exit hook and the tail call to each syscall's handler. */
#ifndef TETHER_DISPATCH_H
#define TETHER_DISPATCH_H

/* ---- the syscall exit hook and its handlers ---- */

/* A member's 32-bit syscall: reported as one (TE_SYSCALL_COMPAT in the number); in
 * enforce mode the caller dies on its return, so at most this one call lands. seccomp's
 * kill of the 32-bit ABI (sessions Tether launches confined) has already skipped the call
 * and forced a SIGSYS: that is the kill, and says why. */
static __always_inline void compat_call(struct cpu_state *cpu, __u64 nr, long ret)
{
    struct te_event *e = event_begin(TE_RESTRICTED, &cpu->member, (nr & 0xffff) | TE_SYSCALL_COMPAT, ret);
    if (!e)
        return;
    struct task_struct *task = bpf_get_current_task_btf();
    if (task->pending.signal.sig[0] & (1ul << (31 /* SIGSYS */ - 1)))
        e->guard |= TE_GUARD_REFUSED; /* never ran */
    else if (cpu->member.mode & TE_MODE_ENFORCE) {
        if (bpf_send_signal(SIGKILL))
            stat_inc(TE_STAT_GUARD_FAIL);
        else
            e->guard |= TE_GUARD_KILLED;
    }
    event_emit(e);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
    __u64 nr = regs->orig_ax;
    /* The 32-bit entry (int 0x80, sysenter) numbers syscalls its own way: a 64-bit
     * handler would misread the call (32-bit 2 is fork, 64-bit 2 is open), and one with
     * none would pass unseen. One load from the current task tells. */
    bool compat = false;
#ifdef __TARGET_ARCH_x86
    compat = bpf_get_current_task_btf()->thread_info.status & 0x0002 /* TS_COMPAT */;
#endif
    if (!compat && (nr >= TE_SYSCALL_SLOTS || !(reported_syscalls[nr / 64] & (1ull << (nr & 63)))))
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
        member_of(t, &cpu->member);
        cpu->call_tgid = tgid;
        cpu->call_gen = g;
    }
    if (compat) {
        compat_call(cpu, nr, ret);
        return 0;
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
    c->m = cpu->member;
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

#endif
