/* SPDX-License-Identifier: GPL-2.0 */
/* Handlers: ptrace, namespaces, bpf, signals, io_uring, memfd, mounts, modules. */
#ifndef TETHER_SYS_PRIV_H
#define TETHER_SYS_PRIV_H

/* ---- privileged ---- */

static __always_inline void numbers(struct call *s, long nr, long ret, __u16 kind, __u64 a0, __u64 a1, __u64 a2)
{
    struct te_event *e = event_begin(kind, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = a0;
    e->a[1] = a1;
    e->a[2] = a2;
    syscall_emit(e);
}
static __always_inline void on_ptrace(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_PTRACE, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[0];
    e->a[1] = (int)s->args[1];
    if ((guards_enabled() & TE_GUARDS_TAMPER) && pid_protected(tgid_of((int)s->args[1])))
        guard_act(e, s, TE_GUARD_TAMPER);
    syscall_emit(e);
}
static __always_inline void on_unshare(struct call *s, long nr, long ret) { numbers(s, nr, ret, TE_UNSHARE, s->args[0], 0, 0); }
static __always_inline void on_setns(struct call *s, long nr, long ret) { numbers(s, nr, ret, TE_SETNS, (int)s->args[0], s->args[1], 0); }
static __always_inline void on_bpf(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_BPF, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[0];
    if (guards_enabled() & TE_GUARDS_TAMPER)
        guard_act(e, s, TE_GUARD_TAMPER);
    syscall_emit(e);
}
/* Signals: tampering when aimed at Tether (by pid, or at everyone with -1). */
static __always_inline void signal_event(struct call *s, long nr, long ret, __s64 target, __s64 target_tgid, __u64 sig, __u64 via)
{
    struct te_event *e = event_begin(TE_KILL, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = target;
    e->a[1] = sig;
    e->a[2] = via;
    if (sig != 0 && (guards_enabled() & TE_GUARDS_TAMPER) && (pid_protected(target_tgid) || target_tgid == -1))
        guard_act(e, s, TE_GUARD_TAMPER);
    syscall_emit(e);
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

/* Syscalls Tether reports by number only: what they do cannot be judged from their
 * arguments here (an io_uring submission, a file handle, another process's memory). */
static __always_inline void on_restricted(struct call *s, long nr, long ret) { numbers(s, nr, ret, TE_RESTRICTED, 0, 0, 0); }
HOOK(io_uring_enter, 0, on_restricted)
HOOK(io_uring_register, 0, on_restricted)
HOOK(delete_module, 0, on_restricted)
HOOK(kexec_load, 0, on_restricted)
HOOK(kexec_file_load, 0, on_restricted)
HOOK(open_by_handle_at, 0, on_restricted)
HOOK(process_vm_readv, 0, on_restricted)
HOOK(process_vm_writev, 0, on_restricted)
HOOK(pidfd_getfd, 0, on_restricted)
HOOK(userfaultfd, 0, on_restricted)
HOOK(reboot, 0, on_restricted)
HOOK(swapon, 0, on_restricted)
HOOK(swapoff, 0, on_restricted)
HOOK(acct, 0, on_restricted)
HOOK(settimeofday, 0, on_restricted)
HOOK(clock_settime, 0, on_restricted)
HOOK(clock_adjtime, 0, on_restricted)
HOOK(iopl, 0, on_restricted)
HOOK(ioperm, 0, on_restricted)

static __always_inline void on_memfd_create(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MEMFD, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[1];
    str_user(e, 1, (const char *)s->args[0]);
    syscall_emit(e);
}
HOOK(memfd_create, 2, on_memfd_create)

static __always_inline void on_mount(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MOUNT, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[3];
    path_arg(e, 0, AT_FDCWD, (const char *)s->args[1]);
    if (s->args[0])
        str_user(e, 2, (const char *)s->args[0]);
    if (s->args[2])
        str_user(e, 3, (const char *)s->args[2]);
    syscall_emit(e);
}
static __always_inline void on_umount(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_UMOUNT, AT_FDCWD, (const char *)s->args[0], s->args[1], 0); }
static __always_inline void on_chroot(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_CHROOT, AT_FDCWD, (const char *)s->args[0], 0, 0); }
static __always_inline void on_pivot_root(struct call *s, long nr, long ret) { two_paths(s, nr, ret, TE_PIVOT_ROOT, AT_FDCWD, (const char *)s->args[0], AT_FDCWD, (const char *)s->args[1], 0); }
HOOK(mount, 5, on_mount)
HOOK(umount2, 2, on_umount)
HOOK(chroot, 1, on_chroot)
HOOK(pivot_root, 2, on_pivot_root)

/* The new mount API. */
static __always_inline void on_fsopen(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MOUNT_API, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = TE_MAPI_FSOPEN;
    e->a[1] = s->args[1];
    str_user(e, 1, (const char *)s->args[0]);
    syscall_emit(e);
}
static __always_inline void mapi_path(struct call *s, long nr, long ret, __u64 op, long dirfd, const char *uptr, __u64 flags)
{
    struct te_event *e = event_begin(TE_MOUNT_API, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = op;
    e->a[1] = flags;
    path_arg(e, 0, dirfd, uptr);
    syscall_emit(e);
}
static __always_inline void on_fsmount(struct call *s, long nr, long ret) { numbers(s, nr, ret, TE_MOUNT_API, TE_MAPI_FSMOUNT, s->args[1], s->args[2]); }
static __always_inline void on_move_mount(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MOUNT_API, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = TE_MAPI_MOVE_MOUNT;
    e->a[1] = s->args[4];
    path_arg(e, 0, (int)s->args[2], (const char *)s->args[3]);
    path_arg(e, 2, (int)s->args[0], (const char *)s->args[1]);
    syscall_emit(e);
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
    struct te_event *e = event_begin(TE_MODULE, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = 1;
    e->a[1] = s->args[1];
    str_user(e, 1, (const char *)s->args[2]);
    if (guards_enabled() & TE_GUARDS_TAMPER)
        guard_act(e, s, TE_GUARD_TAMPER);
    syscall_emit(e);
}
static __always_inline void on_finit_module(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_MODULE, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = 2;
    e->a[1] = s->args[2];
    str_fd_path(e, 0, (int)s->args[0], 0);
    str_user(e, 1, (const char *)s->args[1]);
    if (guards_enabled() & TE_GUARDS_TAMPER)
        guard_act(e, s, TE_GUARD_TAMPER);
    syscall_emit(e);
}
HOOK(init_module, 3, on_init_module)
HOOK(finit_module, 3, on_finit_module)

#endif
