/* SPDX-License-Identifier: GPL-2.0 */
/* Handlers: opens, renames, links, symlinks and the other path calls. */
#ifndef TETHER_SYS_FILE_H
#define TETHER_SYS_FILE_H

/* `how`: openat2's open_how, whose flags a second thread can rewrite while the call runs
 * (`read`: the exit read it); the flags it began with count too (entered.h). */
static __always_inline void open_common(struct call *s, long nr, long ret, long dirfd, const char *uptr, __u64 flags, __u64 mode,
                                        __u64 how, bool read)
{
    struct te_event *e = event_begin(TE_OPEN, &s->m, nr, ret);
    if (!e)
        return;
    long n = str_user(e, 1, uptr);
    if (how)
        how_entered(e, how, read, &flags);
    e->a[0] = flags;
    e->a[1] = mode;
    if (ret >= 0) {
        opened_file(e, s, fd_file(current_task(), ret), flags);
    } else if (!(n > 0 && str_first(e, 1) == '/')) {
        str_base(e, 0, dirfd);
    } else {
        str_root(e, 0);
    }
    syscall_emit(e);
}
static __always_inline void on_open(struct call *s, long nr, long ret) { open_common(s, nr, ret, AT_FDCWD, (const char *)s->args[0], s->args[1], s->args[2], 0, false); }
static __always_inline void on_creat(struct call *s, long nr, long ret) { open_common(s, nr, ret, AT_FDCWD, (const char *)s->args[0], O_CREAT | O_WRONLY | O_TRUNC, s->args[1], 0, false); }
static __always_inline void on_openat(struct call *s, long nr, long ret) { open_common(s, nr, ret, (int)s->args[0], (const char *)s->args[1], s->args[2], s->args[3], 0, false); }
static __always_inline void on_openat2(struct call *s, long nr, long ret)
{
    struct open_how how = {};
    bool read = bpf_probe_read_user(&how, sizeof(how), (void *)s->args[2]) == 0;
    open_common(s, nr, ret, (int)s->args[0], (const char *)s->args[1], how.flags, how.mode, s->args[2], read);
}
HOOK(open, 3, on_open)
HOOK(creat, 2, on_creat)
HOOK(openat, 4, on_openat)
HOOK(openat2, 4, on_openat2)

/* Two-path calls: old into slots 0/1, new into 2/3. */
static __always_inline void two_paths(struct call *s, long nr, long ret, __u16 kind,
                                      long olddfd, const char *old, long newdfd, const char *new, __u64 flags)
{
    struct te_event *e = event_begin(kind, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = flags;
    long od = path_arg(e, 0, olddfd, old);
    long nd = path_arg(e, 2, newdfd, new);
    if (ret == 0) /* an exchange puts something new at both names */
        entry_guard_stage(e, s, nd, od, kind == TE_RENAME && (flags & RENAME_EXCHANGE));
    syscall_emit(e);
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
    struct te_event *e = event_begin(TE_SYMLINK, &s->m, nr, ret);
    if (!e)
        return;
    str_user(e, 1, target);
    str_entered(e, 1, target);
    long nd = path_arg(e, 2, newdfd, linkpath);
    if (ret == 0)
        entry_guard_stage(e, s, nd, 0, false);
    syscall_emit(e);
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
    struct call c = { .m = cpu->member, .ctx = ctx };
    bool first = cpu->slots & 1;
    entry_guard(e, &c, first ? 3 : 1, cpu->dirfd[first ? 0 : 1]);
    if (first && (cpu->slots & 2) && !(e->guard & TE_GUARD_KILLED)) {
        cpu->slots = 2; /* again, for the other name (one copy of the code to verify) */
        bpf_tail_call(ctx, &handlers, TE_SLOT_ENTRY_GUARD);
    }
    syscall_emit(e);
    return 0;
}

/* One-path calls with up to two numbers. */
static __always_inline void one_path(struct call *s, long nr, long ret, __u16 kind, long dirfd, const char *uptr, __u64 a0, __u64 a1)
{
    struct te_event *e = event_begin(kind, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = a0;
    e->a[1] = a1;
    path_arg(e, 0, dirfd, uptr);
    syscall_emit(e);
}
/* fd-only calls: the path of the open file. */
static __always_inline void fd_path(struct call *s, long nr, long ret, __u16 kind, long fd, __u64 a0, __u64 a1)
{
    struct te_event *e = event_begin(kind, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = a0;
    e->a[1] = a1;
    str_fd_path(e, 0, fd, 0);
    syscall_emit(e);
}
static __always_inline void on_unlink(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_UNLINK, AT_FDCWD, (const char *)s->args[0], 0, 0); }
static __always_inline void on_unlinkat(struct call *s, long nr, long ret)
{
    __u16 kind = (s->args[2] & AT_REMOVEDIR) ? TE_RMDIR : TE_UNLINK;
    one_path(s, nr, ret, kind, (int)s->args[0], (const char *)s->args[1], 0, 0);
}
static __always_inline void on_rmdir(struct call *s, long nr, long ret) { one_path(s, nr, ret, TE_RMDIR, AT_FDCWD, (const char *)s->args[0], 0, 0); }
/* mkdir makes something new at a name, as a symlink does: a protected name (Tether's
 * configuration directory before it exists, a persistence directory) is judged by the
 * entry guard, on slot 1 (the stage's second pass: slots = 2). */
static __always_inline void mkdir_common(struct call *s, long nr, long ret, long dirfd, const char *uptr, __u64 mode)
{
    struct te_event *e = event_begin(TE_MKDIR, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = mode;
    long d = path_arg(e, 0, dirfd, uptr);
    if (ret == 0)
        entry_guard_slots(e, s, 0, d, 2);
    syscall_emit(e);
}
static __always_inline void on_mkdir(struct call *s, long nr, long ret) { mkdir_common(s, nr, ret, AT_FDCWD, (const char *)s->args[0], s->args[1]); }
static __always_inline void on_mkdirat(struct call *s, long nr, long ret) { mkdir_common(s, nr, ret, (int)s->args[0], (const char *)s->args[1], s->args[2]); }
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
/* Extended attributes: only security.* names are reported. A file capability
 * (security.capability) raises the privileges of whoever runs the file later: root's, for
 * cap_setuid, to anyone. a2: the permitted set the value grants. */
#define VFS_CAP_FLAGS_LEN 12 /* magic_etc and the first permitted/inheritable pair */
static __always_inline void xattr_common(struct call *s, long nr, long ret, long dirfd, const char *uptr, bool by_fd,
                                         const char *uname, const void *value, __u64 size, __u64 flags)
{
    char prefix[9];
    if (bpf_probe_read_user(prefix, sizeof(prefix), uname) || prefix[0] != 's' || prefix[1] != 'e' || prefix[2] != 'c' ||
        prefix[3] != 'u' || prefix[4] != 'r' || prefix[5] != 'i' || prefix[6] != 't' || prefix[7] != 'y' || prefix[8] != '.')
        return;
    struct te_event *e = event_begin(TE_SETXATTR, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = flags;
    e->a[1] = size;
    if (size >= 20) {
        struct { __u32 magic_etc, permitted0, inheritable0, permitted1, inheritable1; } cap = {};
        if (bpf_probe_read_user(&cap, sizeof(cap), value) == 0)
            e->a[2] = cap.permitted0 | (__u64)cap.permitted1 << 32;
    } else if (size >= VFS_CAP_FLAGS_LEN) {
        __u32 cap[3] = {};
        if (bpf_probe_read_user(cap, sizeof(cap), value) == 0)
            e->a[2] = cap[1];
    }
    if (by_fd)
        str_fd_path(e, 0, dirfd, 0);
    else
        path_arg(e, 0, dirfd, uptr);
    str_user(e, 2, uname);
    syscall_emit(e);
}
static __always_inline void on_setxattr(struct call *s, long nr, long ret) { xattr_common(s, nr, ret, AT_FDCWD, (const char *)s->args[0], false, (const char *)s->args[1], (void *)s->args[2], s->args[3], s->args[4]); }
static __always_inline void on_fsetxattr(struct call *s, long nr, long ret) { xattr_common(s, nr, ret, (int)s->args[0], NULL, true, (const char *)s->args[1], (void *)s->args[2], s->args[3], s->args[4]); }
static __always_inline void on_setxattrat(struct call *s, long nr, long ret)
{
    /* setxattrat(dfd, path, at_flags, name, struct xattr_args *{value, size, flags}, usize) */
    struct { __u64 value; __u32 size, flags; } args = {};
    bpf_probe_read_user(&args, sizeof(args), (void *)s->args[4]);
    xattr_common(s, nr, ret, (int)s->args[0], (const char *)s->args[1], false, (const char *)s->args[3], (void *)args.value, args.size, args.flags);
}
HOOK(setxattr, 5, on_setxattr)
HOOK(lsetxattr, 5, on_setxattr)
HOOK(fsetxattr, 5, on_fsetxattr)
HOOK(setxattrat, 6, on_setxattrat)

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

#endif
