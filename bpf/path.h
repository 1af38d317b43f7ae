/* SPDX-License-Identifier: GPL-2.0 */
/* Paths from the kernel's own objects: dentry walks, fd tables, the cwd. */
#ifndef TETHER_PATH_H
#define TETHER_PATH_H

struct walk {
    struct dentry *d; /* plain addresses: a bpf_loop context holds no typed pointers */
    struct mount *m;
    __u32 slot;      /* never read, but written: without it the verifier prunes the walk's
                      * states less well (measured: ~57K more instructions to verify) */
    __u8 done;
    __u8 truncated;
};

static __always_inline struct mount *real_mount(struct vfsmount *mnt)
{
    return (struct mount *)((void *)mnt - bpf_core_field_offset(struct mount, mnt));
}

/* One step of a path walk: append the current name (leaf first) or cross a mount. */
static long walk_step(__u64 index, struct walk *w)
{
    __u32 zero = 0;
    struct te_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!e)
        return 1;
    struct dentry *d = KPTR(struct dentry, w->d);
    struct mount *m = KPTR(struct mount, w->m);
    struct dentry *parent = d->d_parent;
    struct dentry *mnt_root = m->mnt.mnt_root;
    if (d == mnt_root || d == parent) {
        struct mount *up = m->mnt_parent;
        if (up == m || d != mnt_root) {
            w->done = 1;
            return 1;
        }
        w->d = m->mnt_mountpoint;
        w->m = up;
        return 0;
    }
    __u32 off = e->h.size;
    if (off > sizeof(struct scratch) - (NAME_MAX + 1)) {
        w->truncated = 1;
        return 1;
    }
    /* The name's length is known: a bounded copy, not a byte-by-byte string read. A
     * short name lives inside the dentry: five plain loads, no helper call. */
    __u32 len = d->d_name.len & NAME_MAX;
    const unsigned char *name = d->d_name.name;
    if (len == 0) {
        w->truncated = 1;
        return 1;
    }
    if (bpf_core_field_exists(d->d_shortname) && len < sizeof(d->d_shortname) &&
        (__u64)name == (__u64)w->d + bpf_core_field_offset(struct dentry, d_shortname)) {
        __u64 *dst = (__u64 *)((char *)e + off);
        dst[0] = d->d_shortname.words[0];
        dst[1] = d->d_shortname.words[1];
        dst[2] = d->d_shortname.words[2];
        dst[3] = d->d_shortname.words[3];
        dst[4] = d->d_shortname.words[4];
    } else if (bpf_probe_read_kernel((char *)e + off, len, name)) {
        w->truncated = 1;
        return 1;
    }
    ((char *)e)[off + len] = 0;
    e->h.size = off + len + 1;
    w->d = parent;
    return 0;
}

/* Append the absolute path of dentry `d` on mount `m` to string slot `slot`. */
static __always_inline void str_dpath(struct te_event *e, int slot, struct dentry *d, struct mount *m, __u8 flags)
{
    if (slot < 0 || slot >= TE_NSTR)
        return;
    struct walk w = {};
    w.d = d;
    w.m = m;
    w.slot = slot;
    __u32 start = e->h.size;
    e->s[slot].off = start;
    e->s[slot].enc = TE_STR_DPATH;
    if (!d) {
        e->s[slot].flags = flags | TE_STRF_FAULT;
        return;
    }
    if (d->d_inode->__i_nlink == 0)
        flags |= TE_STRF_DELETED;
    bpf_loop(TE_PATH_DEPTH, walk_step, &w, 0);
    if (!w.done)
        flags |= TE_STRF_TRUNCATED;
    e->s[slot].len = e->h.size - start;
    e->s[slot].flags = flags;
}

/* Append the absolute path of `p` to string slot `slot`. */
static __always_inline void str_path(struct te_event *e, int slot, const struct path *p, __u8 flags)
{
    str_dpath(e, slot, p->dentry, real_mount(p->mnt), flags);
}

static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
    if (fd < 0)
        return NULL;
    struct fdtable *fdt = task->files->fdt;
    if (fd >= fdt->max_fds)
        return NULL;
    /* fds[fd] by a plain load: read through a type whose first field is a pointer. */
    struct callback_head *slot = KPTR(struct callback_head, (__u64)fdt->fd + fd * sizeof(void *));
    struct callback_head *f = slot->next;
    return f ? KPTR(struct file, f) : NULL;
}

/* Path of an open fd into `slot`; false if the fd is not open. */
static __always_inline bool str_fd_path(struct te_event *e, int slot, long fd, __u8 flags)
{
    struct task_struct *task = current_task();
    struct file *f = fd_file(task, fd);
    if (!f)
        return false;
    str_path(e, slot, &f->f_path, flags);
    return true;
}

/* The directory a relative path is resolved against: dirfd, or the cwd. */
static __always_inline void str_base(struct te_event *e, int slot, long dirfd)
{
    struct task_struct *task = current_task();
    if (dirfd == AT_FDCWD) {
        struct fs_struct *fs = task->fs;
        str_path(e, slot, &fs->pwd, TE_STRF_BASE);
        return;
    }
    if (!str_fd_path(e, slot, dirfd, TE_STRF_BASE)) {
        e->s[slot & (TE_NSTR - 1)].flags = TE_STRF_BASE | TE_STRF_FAULT;
        e->s[slot & (TE_NSTR - 1)].enc = TE_STR_DPATH;
    }
}

/* An absolute requested path is resolved from the caller's root. Where that root is not
 * where the path walk stops (the caller is in a chroot), its path goes into `slot`, so the
 * string is read under it as the kernel read it: "/cron.d/x" from a chroot into /etc is
 * /etc/cron.d/x. Elsewhere nothing is written (a few plain loads). */
static __always_inline void str_root(struct te_event *e, int slot)
{
    struct path *root = &current_task()->fs->root;
    struct vfsmount *mnt = root->mnt;
    struct mount *m = KPTR(struct mount, real_mount(mnt)); /* a plain address first: it lies before mnt */
    if (root->dentry == mnt->mnt_root && m->mnt_parent == m)
        return;
    str_path(e, slot, root, TE_STRF_ROOT);
}

#define TE_PROC_ROOT (-1000) /* proc_link: the rest is absolute, from the caller's root */

/* The caller's own cwd, root or open file spelled as a path through procfs's magic links
 * ("/proc/self/cwd/x", "/proc/thread-self/cwd/x", "/proc/self/root/x", "/proc/self/fd/N/x",
 * "/proc/self/fd/N"), which the dentry resolver cannot follow and user space could only
 * guess at later (the caller may be gone, and /proc/self would be Tether's). Returns the
 * prefix's length and in *dirfd what the rest is relative to: AT_FDCWD, the fd, or
 * TE_PROC_ROOT; 0 for any other path. */
static __always_inline __u32 proc_link(struct te_event *e, int slot, long *dirfd)
{
    struct te_str *str = &e->s[slot & (TE_NSTR - 1)];
    __u32 off = str->off, len = str->len;
    if (off > STR_LIMIT || len < 14 || len >= TE_STR_MAX)
        return 0;
    /* the prefix on the stack: constant offsets into it need no bounds proof */
    char p[32] = {};
    if (bpf_probe_read_kernel(p, sizeof(p), (const char *)e + off))
        return 0;
    if (p[0] != '/' || p[1] != 'p' || p[2] != 'r' || p[3] != 'o' || p[4] != 'c' || p[5] != '/')
        return 0;
    __u32 i;
    if (p[6] == 's' && p[7] == 'e' && p[8] == 'l' && p[9] == 'f' && p[10] == '/')
        i = 11;
    else if (len >= 21 && p[6] == 't' && p[7] == 'h' && p[8] == 'r' && p[9] == 'e' && p[10] == 'a' && p[11] == 'd' &&
             p[12] == '-' && p[13] == 's' && p[14] == 'e' && p[15] == 'l' && p[16] == 'f' && p[17] == '/')
        i = 18;
    else
        return 0;
    /* compared only up to len: beyond the string p holds what follows it in the record */
    if (p[i] == 'c' && p[i + 1] == 'w' && p[i + 2] == 'd' && (i + 3 == len || p[i + 3] == '/')) {
        *dirfd = AT_FDCWD;
        return i + 3 == len ? len : i + 4;
    }
    if (len >= i + 5 && p[i] == 'r' && p[i + 1] == 'o' && p[i + 2] == 'o' && p[i + 3] == 't' && p[i + 4] == '/') {
        *dirfd = TE_PROC_ROOT;
        return i + 4; /* keep the slash: the rest is absolute */
    }
    if (len >= i + 4 && p[i] == 'f' && p[i + 1] == 'd' && p[i + 2] == '/') {
        long fd = 0;
        __u32 j = i + 3, digits = 0;
        for (int k = 0; k < 7; k++) {
            if (j >= len)
                break;
            char c = p[j & (sizeof(p) - 1)];
            if (c < '0' || c > '9')
                break;
            fd = fd * 10 + (c - '0');
            j++;
            digits++;
        }
        if (!digits)
            return 0;
        if (j == len) {
            *dirfd = fd;
            return len;
        }
        if (p[j & (sizeof(p) - 1)] != '/')
            return 0;
        *dirfd = fd;
        return j + 1;
    }
    return 0;
}

/* What the path string already in slot+1 (`n`: its length, < 0 if it faulted) is
 * relative to, into `slot`: the directory a relative one is resolved against (the dirfd
 * itself for an empty one), the caller's root for an absolute one in a chroot (nothing
 * otherwise), the file or directory a /proc/self magic link stands for (see proc_link).
 * Returns the directory the path is relative to, for the entry guard. */
static __always_inline long path_base(struct te_event *e, int slot, long dirfd, long n)
{
    if (n > 0 && str_first(e, slot + 1) == '/') {
        long d = AT_FDCWD;
        __u32 skip = proc_link(e, slot + 1, &d);
        if (!skip) {
            str_root(e, slot);
            return dirfd;
        }
        e->s[(slot + 1) & (TE_NSTR - 1)].skip = skip;
        if (d == TE_PROC_ROOT) {
            str_root(e, slot); /* absolute: from the root, as any absolute path */
            return AT_FDCWD;
        }
        if (skip == e->s[(slot + 1) & (TE_NSTR - 1)].len && d != AT_FDCWD)
            str_fd_path(e, slot, d, 0); /* "/proc/self/fd/N": the open file itself */
        else
            str_base(e, slot, d);
        return d;
    }
    if (n == 0 && dirfd != AT_FDCWD) {
        str_fd_path(e, slot, dirfd, 0);
        return dirfd;
    }
    str_base(e, slot, dirfd);
    return dirfd;
}

static __always_inline void str_entered(struct te_event *e, int slot, const char *uptr);

/* A path argument: the caller's string into slot+1 (compared with the string the call
 * began with: entered.h), its base into slot (`path_base`). */
static __always_inline long path_arg(struct te_event *e, int slot, long dirfd, const char *uptr)
{
    long n = str_user(e, slot + 1, uptr);
    str_entered(e, slot + 1, uptr);
    return path_base(e, slot, dirfd, n);
}

#endif
