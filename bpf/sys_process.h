/* SPDX-License-Identifier: GPL-2.0 */
/* Handlers: sessions, credentials, failed execs. */
#ifndef TETHER_SYS_PROCESS_H
#define TETHER_SYS_PROCESS_H

/* ---- process ---- */

static __always_inline void on_setsid(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_SETSID, &s->m, nr, ret);
    if (e)
        syscall_emit(e);
}
HOOK(setsid, 0, on_setsid)

static __always_inline void ids(struct call *s, long nr, long ret, __u16 kind, __u64 variant, int nargs)
{
    struct te_event *e = event_begin(kind, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = (__u32)s->args[0];
    e->a[1] = nargs > 1 ? (__u32)s->args[1] : (__u32)-1;
    e->a[2] = nargs > 2 ? (__u32)s->args[2] : (__u32)-1;
    e->a[3] = variant;
    syscall_emit(e);
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
    struct te_event *e = event_begin(TE_CAPSET, &s->m, nr, ret);
    if (!e)
        return;
    struct { __u32 effective, permitted, inheritable; } d[2] = {};
    bpf_probe_read_user(&d, sizeof(d), (void *)s->args[1]);
    e->a[0] = d[0].effective | ((__u64)d[1].effective << 32);
    e->a[1] = d[0].permitted | ((__u64)d[1].permitted << 32);
    e->a[2] = d[0].inheritable | ((__u64)d[1].inheritable << 32);
    syscall_emit(e);
}
HOOK(capset, 2, on_capset)

/* A successful exec is reported by sched_process_exec; sys_exit reports failures. */
static __always_inline void exec_failed(struct call *s, long nr, long ret, long dirfd, const char *uptr)
{
    if (ret >= 0)
        return;
    struct te_event *e = event_begin(TE_EXEC, &s->m, nr, ret);
    if (!e)
        return;
    long n = str_user(e, 3, uptr);
    if (!(n > 0 && str_first(e, 3) == '/'))
        str_base(e, 2, dirfd);
    syscall_emit(e);
}
static __always_inline void on_execve(struct call *s, long nr, long ret) { exec_failed(s, nr, ret, AT_FDCWD, (const char *)s->args[0]); }
static __always_inline void on_execveat(struct call *s, long nr, long ret) { exec_failed(s, nr, ret, (int)s->args[0], (const char *)s->args[1]); }
HOOK(execve, 3, on_execve)
HOOK(execveat, 5, on_execveat)

#endif
