/* SPDX-License-Identifier: GPL-2.0 */
/* Finding the directory of a rename/link/symlink destination again, in the dcache. */
#ifndef TETHER_RESOLVE_H
#define TETHER_RESOLVE_H

/* ---- destination of a rename/link/symlink, resolved in the dcache ----
 * These calls hand the kernel's resolution to no fd, so the destination's directory is
 * found again here: from the base the kernel used (root, cwd or dirfd), each component
 * of the path (read at exit, after the kernel used it) is looked up among the cached
 * children of the directory before it. A just-completed call has every directory on the
 * way in the dcache. A symlinked directory on the way is followed when its target is in
 * the inode (a fast symlink: ext4's and xfs's short ones, tmpfs's), once: a symlink within
 * its target, a target kept in a data block, or a cache scan past its bound leaves the
 * destination unresolved: the event says so and user space judges it. */
#define RESOLVE_CHILDREN 4096 /* children looked at per component */
#define RESOLVE_MOUNTS 64     /* child mounts looked at per mount crossing */
#define RESOLVE_LINK_MAX 256  /* a followed symlink's target, NUL included */

struct resolve {
    __u64 d, m;      /* directory reached so far: dentry, mount (plain addresses) */
    __u32 pos, end;  /* the path: next byte, end (offsets in the record) */
    __u32 coff, clen;/* component being read */
    __u8 fail;
    __u8 followed;   /* a symlink on the way was followed */
};

struct scan {
    __u64 node;      /* next child (its d_sib), or next child mount (its mnt_child) */
    __u64 head;      /* list head, for the mount list */
    __u64 want;      /* component length, or the mountpoint dentry */
    __u64 found;
};

/* Compares a candidate child's name (of the length wanted) with rb->want, NUL padded
 * both: straight-line code, which the verifier walks once. */
static __always_inline bool name_equal(struct resolve_buf *rb, struct dentry *c, __u32 len)
{
    __builtin_memset(rb->cand, 0, sizeof(rb->cand));
    if (bpf_probe_read_kernel(rb->cand, len & NAME_MAX, c->d_name.name))
        return false;
    __u64 diff = 0;
#pragma unroll
    for (int i = 0; i < NAME_WORDS; i++) {
        diff |= rb->cand[i] ^ rb->want[i];
        asm volatile("" : "+r"(diff)); /* one word at a time: no tree of partial results on the stack */
    }
    return diff == 0;
}

static long scan_child(__u64 index, struct scan *sc)
{
    __u32 zero = 0;
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, &zero);
    if (!rb || !sc->node)
        return 1;
    __u64 caddr = sc->node - bpf_core_field_offset(struct dentry, d_sib);
    struct dentry *c = KPTR(struct dentry, caddr);
    sc->node = (__u64)c->d_sib.next;
    if (c->d_name.len != sc->want || !c->d_inode)
        return 0; /* other length, or a negative dentry */
    if (!name_equal(rb, c, sc->want))
        return 0;
    sc->found = caddr;
    return 1;
}

static long scan_mount(__u64 index, struct scan *sc)
{
    if (sc->node == sc->head)
        return 1;
    __u64 maddr = sc->node - bpf_core_field_offset(struct mount, mnt_child);
    struct mount *cm = KPTR(struct mount, maddr);
    sc->node = (__u64)cm->mnt_child.next;
    if ((__u64)cm->mnt_mountpoint != sc->want)
        return 0;
    sc->found = maddr; /* the last one mounted there is on top: keep looking */
    return 0;
}

static long resolve_link_byte(__u64 index, struct resolve *r);

/* The directory a symlink found on the way names (its target in the inode, read into the
 * scratch past the record, with a '/' after it so that its last component is looked up as
 * a directory too), from the directory the symlink (`dentry`) is in (r->d) or from the
 * caller's root; into r->d, r->m. A global function: the verifier walks it once. */
__noinline int follow_link(struct resolve *r, __u64 dentry)
{
    __u32 zero = 0;
    struct te_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!r || !e || !dentry)
        return 0;
    struct inode *ino = KPTR(struct dentry, dentry)->d_inode;
    if (!ino || (ino->i_mode & S_IFMT) != S_IFLNK)
        return 0;
    const char *target = ino->i_link;
    if (!target)
        return 0; /* the target is in a data block: not read here */
    __u32 at = e->h.size;
    if (at > sizeof(struct scratch) - RESOLVE_LINK_MAX - 1)
        return 0;
    long n = bpf_probe_read_kernel_str((char *)e + at, RESOLVE_LINK_MAX, target);
    if (n <= 1 || n >= RESOLVE_LINK_MAX)
        return 0;
    __u32 last = at + n - 1;
    if (last >= sizeof(struct scratch))
        return 0;
    ((char *)e)[last] = '/';
    struct resolve l = { .d = r->d, .m = r->m, .pos = at, .end = at + n };
    if (((char *)e)[at] == '/') {
        struct task_struct *task = current_task();
        l.d = (__u64)task->fs->root.dentry;
        l.m = (__u64)real_mount(task->fs->root.mnt);
    }
    bpf_loop(RESOLVE_LINK_MAX, resolve_link_byte, &l, 0);
    if (l.fail || l.clen)
        return 0;
    r->d = l.d;
    r->m = l.m;
    return 1;
}

/* One path component: "." stays, ".." goes up (across mounts), a name is looked up, and
 * with `follow` a symlink found is followed (follow_link). */
static __always_inline void resolve_component(struct resolve *r, struct te_event *e, bool follow)
{
    __u32 off = r->coff, len = r->clen;
    if (off >= sizeof(struct scratch) - 2)
        goto fail;
    char c0 = ((char *)e)[off], c1 = ((char *)e)[off + 1];
    struct dentry *d = KPTR(struct dentry, r->d);
    struct mount *m = KPTR(struct mount, r->m);
    if (len == 1 && c0 == '.')
        return;
    if (len == 2 && c0 == '.' && c1 == '.') {
        for (int i = 0; i < 8 && r->d == (__u64)m->mnt.mnt_root; i++) {
            if ((__u64)m->mnt_parent == r->m)
                return; /* the root's parent is the root */
            r->d = (__u64)m->mnt_mountpoint;
            r->m = (__u64)m->mnt_parent;
            d = KPTR(struct dentry, r->d);
            m = KPTR(struct mount, r->m);
        }
        r->d = (__u64)d->d_parent;
        return;
    }
    __u32 zero = 0;
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, &zero);
    if (!rb || len > NAME_MAX || !bpf_core_field_exists(d->d_children))
        goto fail;
    __builtin_memset(rb->want, 0, sizeof(rb->want));
    if (bpf_probe_read_kernel(rb->want, len & NAME_MAX, (char *)e + off))
        goto fail;
    struct scan sc = { .node = (__u64)d->d_children.first, .want = len };
    bpf_loop(RESOLVE_CHILDREN, scan_child, &sc, 0);
    if (!sc.found)
        goto fail;
    struct dentry *child = KPTR(struct dentry, sc.found);
    struct inode *ino = child->d_inode;
    if (ino && (ino->i_mode & S_IFMT) == S_IFLNK) {
        __u64 addr = 0; /* as a number: a global function takes no kernel pointer */
        if (follow && !bpf_probe_read_kernel(&addr, sizeof(addr), &sc.found) && follow_link(r, addr)) {
            r->followed = 1;
            return;
        }
        goto fail;
    }
    if (!ino || (ino->i_mode & S_IFMT) != S_IFDIR)
        goto fail; /* not a directory */
    r->d = sc.found;
    for (int i = 0; i < 4 && (child->d_flags & DCACHE_MOUNTED); i++) {
        /* the child scan's context again: the stack is short (one more frame on this path
         * when a symlink's target is walked) */
        sc.head = r->m + bpf_core_field_offset(struct mount, mnt_mounts);
        sc.want = r->d;
        sc.node = (__u64)m->mnt_mounts.next;
        sc.found = 0;
        bpf_loop(RESOLVE_MOUNTS, scan_mount, &sc, 0);
        if (!sc.found)
            goto fail;
        m = KPTR(struct mount, sc.found);
        r->m = sc.found;
        r->d = (__u64)m->mnt.mnt_root;
        child = KPTR(struct dentry, r->d);
    }
    return;
fail:
    r->fail = 1;
}

static __always_inline long resolve_next(__u64 index, struct resolve *r, bool follow)
{
    __u32 zero = 0;
    struct te_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!e || r->fail)
        return 1;
    __u32 pos = r->pos + index;
    if (pos >= r->end || pos >= sizeof(struct scratch))
        return 1;
    if (((char *)e)[pos] != '/') {
        if (r->clen++ == 0)
            r->coff = pos;
        return 0;
    }
    if (r->clen) {
        /* a component followed by more path: a directory on the way */
        resolve_component(r, e, follow);
        r->clen = 0;
    }
    return 0;
}

/* A byte of the path; of a followed symlink's target (no symlink followed within it). */
static long resolve_byte(__u64 index, struct resolve *r) { return resolve_next(index, r, true); }
static long resolve_link_byte(__u64 index, struct resolve *r) { return resolve_next(index, r, false); }

/* Resolves the directory that the path in string slot `slot` names its last component
 * in, starting from dirfd (or the cwd, or the root for an absolute path). On success the
 * directory is in r->d and the last component at r->coff/r->clen. */
static __always_inline bool resolve_parent(struct te_event *e, int slot, long dirfd, struct resolve *r)
{
    struct te_str *str = &e->s[slot & (TE_NSTR - 1)];
    if (str->flags & (TE_STRF_TRUNCATED | TE_STRF_FAULT) || str->len == 0)
        return false;
    __u32 end = str->off + str->len, off = str->off + str->skip; /* skip: see proc_link */
    if (str->skip > str->len || off >= sizeof(struct scratch) || end > sizeof(struct scratch) || off >= end)
        return false;
    struct task_struct *task = current_task();
    const struct path *base;
    if (((char *)e)[off] == '/') {
        base = &task->fs->root;
    } else if (dirfd == AT_FDCWD) {
        base = &task->fs->pwd;
    } else {
        struct file *f = fd_file(task, dirfd);
        if (!f)
            return false;
        base = &f->f_path;
    }
    r->d = (__u64)base->dentry;
    r->m = (__u64)real_mount(base->mnt);
    r->pos = off;
    r->end = end;
    /* trailing slashes belong to the last component ("dir/" names dir) */
    for (int i = 0; i < 64 && r->end > off + 1; i++) {
        if (r->end - 1 >= sizeof(struct scratch) || ((char *)e)[r->end - 1] != '/')
            break;
        r->end--;
    }
    bpf_loop(TE_STR_MAX, resolve_byte, r, 0);
    if (r->fail || r->clen == 0)
        return false;
    /* the last component must name an entry, not "." or ".." */
    if (r->coff >= sizeof(struct scratch) - 2)
        return false;
    char c0 = ((char *)e)[r->coff], c1 = ((char *)e)[r->coff + 1];
    if (c0 == '.' && (r->clen == 1 || (r->clen == 2 && c1 == '.')))
        return false;
    return true;
}

#endif
