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
/* ---- reaching Tether's processes: signals, their routes, memory, descriptors ---- */

/* The pid behind a pidfd (or a /proc/PID directory fd, which pidfd_send_signal also
 * takes), read from the kernel's file; 0 if `fd` is neither. */
static __always_inline __s64 pidfd_target(long fd)
{
    struct file *f = fd_file(current_task(), fd);
    if (!f)
        return 0;
    struct inode *inode = f->f_inode;
    struct pid *p;
    if (inode->i_sb->s_magic == PROC_SUPER_MAGIC)
        p = KPTR(struct proc_inode, (void *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode))->pid;
    else /* pidfs keeps the struct pid in the inode; older kernels in private_data */
        p = inode->i_private ? inode->i_private : f->private_data;
    return p ? KPTR(struct pid, p)->numbers[0].nr : 0;
}

/* The process group of process `tgid` (the caller's own for 0); -1 if it is gone. */
static __always_inline __s64 pgrp_of(__s64 tgid)
{
    if (tgid == 0) {
        struct pid *p = current_task()->signal->pids[PIDTYPE_PGID];
        return p ? p->numbers[0].nr : -1;
    }
    if (!bpf_ksym_exists(bpf_task_from_pid))
        return -1;
    struct task_struct *t = bpf_task_from_pid(tgid);
    if (!t)
        return -1;
    struct pid *p = KPTR(struct task_struct, t)->signal->pids[PIDTYPE_PGID];
    __s64 g = p ? KPTR(struct pid, p)->numbers[0].nr : -1;
    bpf_task_release(t);
    return g;
}

struct pgrp_scan { __s64 pgrp; __u8 found; };
static long pgrp_holds(struct bpf_map *map, __u32 *tgid, __u8 *v, struct pgrp_scan *c)
{
    if (pgrp_of(*tgid) == c->pgrp)
        c->found = 1;
    return c->found; /* 1 ends the walk */
}

/* Is one of Tether's processes in process group `pgrp`? A signal, or an I/O signal's
 * owner, aimed at a group reaches every process in it, whatever pid the caller named. */
static __always_inline bool pgrp_protected(__s64 pgrp)
{
    struct pgrp_scan c = { .pgrp = pgrp };
    if (pgrp <= 0)
        return false;
    bpf_for_each_map_elem(&protected_pids, pgrp_holds, &c, 0);
    return c.found;
}

/* kill(2)'s target: a pid, 0 (the caller's group), -1 (everyone) or -PGRP. Does it
 * reach Tether? */
static __always_inline bool target_protected(__s64 target)
{
    if (target > 0)
        return pid_protected(target);
    if (target == -1)
        return true;
    return pgrp_protected(target == 0 ? pgrp_of(0) : -target);
}

/* Who a signal was sent to, when that is one process outside the caller's session:
 * its executable (s0, the path of the file the kernel runs for it; its command name when it
 * is already past its exit's mm teardown) and its euid, a3 = TE_TARGET_* | euid << 32. Read
 * from the kernel now, since a process killed is gone before user space could look. */
static __always_inline void signal_target(struct te_event *e, struct call *s, __s64 target)
{
    if (target <= 0 || !bpf_ksym_exists(bpf_task_from_pid))
        return;
    struct task_struct *found = bpf_task_from_pid(target);
    if (!found)
        return;
    struct task_struct *t = KPTR(struct task_struct, found);
    __u32 tgid = t->tgid;
    struct te_tracked *m = bpf_map_lookup_elem(&tracked, &tgid);
    if (!m || m->session != s->m.session) {
        const struct cred *cred = t->cred;
        __u64 flags = TE_TARGET_KNOWN | (__u64)(cred ? cred->euid.val : 0) << 32;
        struct mm_struct *mm = t->mm;
        struct file *exe = mm ? mm->exe_file : NULL;
        if (exe) {
            str_path(e, 0, &exe->f_path, 0);
        } else {
            __u32 off = e->h.size;
            e->s[0].off = off;
            e->s[0].enc = TE_STR_PLAIN;
            long n = off <= STR_LIMIT ? bpf_probe_read_kernel_str((char *)e + off, TE_COMM_LEN, t->comm) : -1;
            if (n > 0) {
                e->s[0].len = n - 1;
                e->h.size = off + n;
                flags |= TE_TARGET_COMM;
            } else {
                e->s[0].flags = TE_STRF_FAULT;
            }
        }
        e->a[3] = flags;
    }
    bpf_task_release(found);
}

/* Signals: tampering when they reach Tether (by pid, by its process group, or everyone). */
static __always_inline void signal_event(struct call *s, long nr, long ret, __s64 target, bool tether, __u64 sig, __u64 via)
{
    struct te_event *e = event_begin(TE_KILL, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = target;
    e->a[1] = sig;
    e->a[2] = via;
    if (sig != 0)
        signal_target(e, s, target); /* also when refused (EPERM): the attempt names its target */
    if (sig != 0 && tether && (guards_enabled() & TE_GUARDS_TAMPER))
        guard_act(e, s, TE_GUARD_TAMPER);
    syscall_emit(e);
}
static __always_inline void on_kill(struct call *s, long nr, long ret) { signal_event(s, nr, ret, (int)s->args[0], target_protected((int)s->args[0]), s->args[1], TE_KILLVIA_KILL); }
static __always_inline void on_tkill(struct call *s, long nr, long ret) { signal_event(s, nr, ret, (int)s->args[0], pid_protected(tgid_of((int)s->args[0])), s->args[1], TE_KILLVIA_TKILL); }
static __always_inline void on_tgkill(struct call *s, long nr, long ret) { signal_event(s, nr, ret, (int)s->args[1], pid_protected((int)s->args[0]), s->args[2], TE_KILLVIA_TGKILL); }
/* rt_sigqueueinfo(tgid, sig, info) and rt_tgsigqueueinfo(tgid, tid, sig, info): a signal
 * with a payload, sent as kill(2) and tgkill(2) send theirs. */
static __always_inline void on_rt_sigqueueinfo(struct call *s, long nr, long ret) { signal_event(s, nr, ret, (int)s->args[0], target_protected((int)s->args[0]), s->args[1], TE_KILLVIA_SIGQUEUE); }
static __always_inline void on_rt_tgsigqueueinfo(struct call *s, long nr, long ret) { signal_event(s, nr, ret, (int)s->args[1], pid_protected((int)s->args[0]), s->args[2], TE_KILLVIA_TGSIGQUEUE); }
static __always_inline void on_pidfd_send_signal(struct call *s, long nr, long ret)
{
    __s64 target = pidfd_target((int)s->args[0]);
    /* PIDFD_SIGNAL_PROCESS_GROUP: the signal goes to the whole group of that process */
    bool tether = target > 0 && ((s->args[3] & 4) ? pgrp_protected(pgrp_of(target)) : pid_protected(target));
    signal_event(s, nr, ret, target, tether, s->args[1], TE_KILLVIA_PIDFD);
}

/* fcntl(F_SETOWN, F_SETOWN_EX) and ioctl(FIOSETOWN, SIOCSPGRP) name who gets a file's I/O
 * signals (SIGIO, or any signal F_SETSIG picks): a route for a signal with no kill(2) at
 * all. Reported (as a signal `via` TE_KILLVIA_SETOWN) only when the owner is Tether. */
static __always_inline void owner_event(struct call *s, long nr, long ret, __s64 owner)
{
    /* a positive owner is a process, a negative one a process group */
    if (ret < 0 || owner == 0 || !(owner > 0 ? pid_protected(tgid_of(owner)) : pgrp_protected(-owner)))
        return;
    struct te_event *e = event_begin(TE_KILL, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = owner;
    e->a[1] = 29; /* SIGIO, unless F_SETSIG chose another */
    e->a[2] = TE_KILLVIA_SETOWN;
    if (guards_enabled() & TE_GUARDS_TAMPER)
        guard_act(e, s, TE_GUARD_TAMPER);
    syscall_emit(e);
}
static __always_inline void on_fcntl(struct call *s, long nr, long ret)
{
    if (s->args[1] == 8 /* F_SETOWN */) {
        owner_event(s, nr, ret, (int)s->args[2]);
    } else if (s->args[1] == 15 /* F_SETOWN_EX */) {
        struct { int type; int pid; } own = {};
        bpf_probe_read_user(&own, sizeof(own), (void *)s->args[2]);
        /* F_OWNER_TID 0, F_OWNER_PID 1, F_OWNER_PGRP 2 */
        owner_event(s, nr, ret, own.type == 2 ? -(__s64)own.pid : own.pid);
    }
}
/* TIOCSTI: a byte pushed into a terminal's input as if typed there. Whoever reads that
 * terminal next (the person's shell, once the agent is done) runs what was pushed. The
 * terminal guard ends the caller on its return from the first one: one byte lands, and
 * user space discards the terminal's pending input. */
static __always_inline void tty_push(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_IOCTL, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = (int)s->args[0];
    e->a[1] = s->args[1];
    __u8 c = 0;
    bpf_probe_read_user(&c, 1, (void *)s->args[2]);
    e->a[2] = c;
    str_fd_path(e, 0, (int)s->args[0], 0);
    if (ret == 0 && (guards_enabled() & TE_GUARDS_TTY))
        guard_act(e, s, TE_GUARD_TTY);
    syscall_emit(e);
}
static __always_inline void on_ioctl(struct call *s, long nr, long ret)
{
    if (s->args[1] == 0x5412 /* TIOCSTI */) {
        tty_push(s, nr, ret);
        return;
    }
    if (s->args[1] != 0x8901 /* FIOSETOWN */ && s->args[1] != 0x8902 /* SIOCSPGRP */)
        return;
    int owner = 0;
    bpf_probe_read_user(&owner, sizeof(owner), (void *)s->args[2]);
    owner_event(s, nr, ret, owner);
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
HOOK(rt_sigqueueinfo, 3, on_rt_sigqueueinfo)
HOOK(rt_tgsigqueueinfo, 4, on_rt_tgsigqueueinfo)
HOOK(fcntl, 3, on_fcntl)
HOOK(ioctl, 3, on_ioctl)
HOOK(io_uring_setup, 2, on_io_uring_setup)

/* Syscalls Tether reports by number only: what they do cannot be judged from their
 * arguments here (an io_uring submission, a file handle, another process's memory). */
static __always_inline void on_restricted(struct call *s, long nr, long ret) { numbers(s, nr, ret, TE_RESTRICTED, 0, 0, 0); }

/* Another process's memory or descriptors (process_vm_readv/writev, pidfd_getfd), and a
 * handle on a process (pidfd_open, reported only when it names Tether): a0 = the target.
 * Reaching Tether this way is tampering: Tether's maps (the tracked set, the guard
 * switches) are a stolen fd or a memory write away. A call the kernel refused (seccomp,
 * Landlock) reached nothing: reported, not killed. */
static __always_inline void reach_event(struct call *s, long nr, long ret, __s64 target, bool always)
{
    bool tether = pid_protected(tgid_of(target));
    if (!always && !tether)
        return;
    struct te_event *e = event_begin(TE_RESTRICTED, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = target > 0 ? target : 0;
    if (tether && (guards_enabled() & TE_GUARDS_TAMPER)) {
        if (ret >= 0)
            guard_act(e, s, TE_GUARD_TAMPER);
        else
            e->guard |= TE_GUARD_TAMPER; /* refused: it reached nothing, nothing to end */
    }
    syscall_emit(e);
}
static __always_inline void on_process_vm(struct call *s, long nr, long ret) { reach_event(s, nr, ret, (int)s->args[0], true); }
static __always_inline void on_pidfd_getfd(struct call *s, long nr, long ret) { reach_event(s, nr, ret, pidfd_target((int)s->args[0]), true); }
static __always_inline void on_pidfd_open(struct call *s, long nr, long ret) { reach_event(s, nr, ret, (int)s->args[0], false); }
/* A connect or send a ring made inline was judged by the egress guard's cgroup hook for
 * this thread: its verdict goes on this record (no connect syscall is there to take it,
 * and a later one must not). */
static __always_inline void on_uring_enter(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_RESTRICTED, &s->m, nr, ret);
    if (!e)
        return;
    e->guard = take_verdict();
    syscall_emit(e);
}
HOOK(io_uring_enter, 0, on_uring_enter)
HOOK(io_uring_register, 0, on_restricted)
HOOK(delete_module, 0, on_restricted)
HOOK(kexec_load, 0, on_restricted)
HOOK(kexec_file_load, 0, on_restricted)
/* open_by_handle_at names no path: the file it opened is read from the returned fd, an
 * open record of its own after the restricted one (what it opened is judged as any open:
 * /etc/shadow by handle is a credential read). */
static __always_inline void on_open_by_handle_at(struct call *s, long nr, long ret)
{
    numbers(s, nr, ret, TE_RESTRICTED, 0, 0, 0);
    if (ret < 0)
        return;
    struct te_event *e = event_begin(TE_OPEN, &s->m, nr, ret);
    if (!e)
        return;
    __u64 flags = s->args[2];
    e->a[0] = flags;
    opened_file(e, s, fd_file(current_task(), ret), flags);
    syscall_emit(e);
}
HOOK(open_by_handle_at, 3, on_open_by_handle_at)
HOOK(process_vm_readv, 1, on_process_vm)
HOOK(process_vm_writev, 1, on_process_vm)
HOOK(pidfd_getfd, 1, on_pidfd_getfd)
HOOK(pidfd_open, 1, on_pidfd_open)
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
