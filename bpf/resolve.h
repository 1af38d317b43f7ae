/* SPDX-License-Identifier: GPL-2.0 */
/* Finding the directory of a rename/link/symlink destination again, in the dcache. */
#ifndef TETHER_RESOLVE_H
#define TETHER_RESOLVE_H

/* ---- destination of a rename/link/symlink, resolved in the dcache ----
 * These calls hand the kernel's resolution to no fd, so the destination's directory is
 * found again here: from the base the kernel used (root, cwd or dirfd), each component
 * of the path (read at exit, after the kernel used it) is looked up in the directory
 * before it, in the dcache's hash table as the kernel looks it up, or where that cannot be
 * made among the directory's cached children, newest first, to a bound (lookup_child). A
 * just-completed call has every directory on the way in the dcache. A symlinked directory
 * on the way is followed when its target is in the inode (a fast symlink: ext4's and
 * xfs's short ones, tmpfs's), and so is a symlink
 * within that target, to RESOLVE_LINK_LEVELS symlinks in all (d -> /tmp/x/cron.d with
 * /tmp/x -> /etc is two): more, a target kept in a data block, or (without the hash
 * table) a cache scan past its bound leaves the destination unresolved: the event says so
 * and user space judges it. */
#define RESOLVE_CHILDREN 4096 /* children looked at per component, when the hashed lookup
                               * cannot be made */
#define RESOLVE_BUCKET 64     /* dentries looked at in one hash bucket */
#define RESOLVE_MOUNTS 64     /* child mounts looked at per mount crossing */
#define RESOLVE_LINK_MAX 256  /* a followed symlink's target, NUL included */
#define RESOLVE_TEXT 512      /* a target with what is left of the one it was met in */
#define RESOLVE_LINK_LEVELS 4 /* symlinks followed for one symlink on the path */

struct resolve {
    __u64 d, m;      /* directory reached so far: dentry, mount (plain addresses) */
    __u32 pos, end;  /* the path: next byte, end (offsets in the record) */
    __u32 coff, clen;/* component being read */
    __u8 fail;       /* RESOLVE_FAILED, or RESOLVE_LINKED: a symlink met within a target
                      * stopped the walk (resolve_buf's link and rest say which, and where
                      * the text goes on) */
    __u8 followed;   /* a symlink on the way was followed */
};
#define RESOLVE_FAILED 1
#define RESOLVE_LINKED 2

struct scan {
    __u64 node;      /* next child (its d_sib), or next child mount (its mnt_child) */
    __u64 head;      /* list head, for the mount list */
    __u64 want;      /* component length, or the mountpoint dentry */
    __u64 found;
};

/* The key of a one-entry map, kept off the stack (lookup_child and its walks are deep in
 * the resolver's calls). */
const volatile __u32 first_key = 0;

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

/* A child of the directory being walked (lookup_child: rb->node is its d_sib): the one
 * named rb->want? */
static long scan_child(__u64 index, void *unused)
{
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, (void *)&first_key);
    if (!rb || !rb->node)
        return 1;
    __u64 caddr = rb->node - bpf_core_field_offset(struct dentry, d_sib);
    struct dentry *c = KPTR(struct dentry, caddr);
    rb->node = (__u64)c->d_sib.next;
    if (c->d_name.len != (__u32)rb->wanted || !c->d_inode)
        return 0; /* other length, or a negative dentry */
    if (!name_equal(rb, c, rb->wanted))
        return 0;
    rb->found = caddr;
    return 1;
}

/* The dcache's hash of a name in a directory, as the kernel's path walk computes it
 * (fs/namei.c, 64-bit word at a time: the directory's dentry is the salt): the name's
 * whole words mixed in, the rest (NUL padded in rb->want) folded in last. User space
 * checked at load that it is the kernel's for the dentries it sampled (dcache_table is
 * set only then). A global function, on its own frame: lookup_child's stays small. */
#define DCACHE_ROL(v, n) (((v) << (n)) | ((v) >> (64 - (n))))
__noinline __u32 dcache_hash(__u64 salt, __u32 len)
{
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, (void *)&first_key);
    if (!rb)
        return 0;
    __u64 x = 0, y = salt;
    __u32 words = len / 8;
    for (int i = 0; i < NAME_WORDS - 1; i++) {
        if (i >= words)
            break;
        x ^= rb->want[i];
        y ^= x;
        x = DCACHE_ROL(x, 12);
        x += y;
        y = DCACHE_ROL(y, 45);
        y *= 9;
    }
    x ^= rb->want[words & (NAME_WORDS - 1)];
    y ^= x * 0x61C8864680B583EBull;
    y *= 0x61C8864680B583EBull;
    return y >> 32;
}

/* A dentry of the hash bucket being walked (lookup_child: rb->node is its d_hash): the
 * child of rb->dir named rb->want (rb->wanted: its length, and its hash in the high half)? */
static long scan_bucket(__u64 index, void *unused)
{
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, (void *)&first_key);
    if (!rb || !rb->node)
        return 1;
    __u64 caddr = rb->node - bpf_core_field_offset(struct dentry, d_hash);
    struct dentry *c = KPTR(struct dentry, caddr);
    rb->node = (__u64)c->d_hash.next;
    __u32 len = rb->wanted & 0xffff;
    if ((__u64)c->d_parent != rb->dir || c->d_name.hash != (__u32)(rb->wanted >> 32) || c->d_name.len != len || !c->d_inode)
        return 0;
    if (!name_equal(rb, c, len))
        return 0;
    rb->found = caddr;
    return 1;
}

/* The child of directory `dir` (its address as a number) named by resolve_buf's want (len
 * bytes), as a number, or 0: looked up in the dcache's hash table as the kernel's own
 * lookup does, and where that finds nothing (the table unknown, a filesystem that hashes
 * names its own way) among the directory's cached children, newest first, to a bound. A
 * global function: the verifier walks it once, not once per path that reaches it. */
__noinline __u64 lookup_child(__u64 dir, __u32 len)
{
    struct te_dcache *t = bpf_map_lookup_elem(&dcache_table, (void *)&first_key);
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, (void *)&first_key);
    if (!t || !rb || !dir || len > NAME_MAX)
        return 0;
    rb->dir = dir;
    rb->found = 0;
    if (t->table && t->shift < 32) {
        __u32 hash = dcache_hash(dir, len);
        if (!bpf_probe_read_kernel(&rb->node, sizeof(rb->node), (void *)(t->table + (__u64)(hash >> t->shift) * 8))) {
            rb->node &= ~1ull; /* bit 0 is the bucket's lock */
            rb->wanted = len | (__u64)hash << 32;
            bpf_loop(RESOLVE_BUCKET, scan_bucket, NULL, 0);
        }
    }
    if (!rb->found) {
        rb->node = (__u64)KPTR(struct dentry, dir)->d_children.first;
        rb->wanted = len;
        bpf_loop(RESOLVE_CHILDREN, scan_child, NULL, 0);
    }
    return rb->found;
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

/* One symlink's text walked (see follow_link): its target (in the inode of `dentry`),
 * read into the area `level` says with a '/' after it so that its last component is
 * looked up as a directory too, then `left` bytes at `rest` (what was left of the text it
 * was met in), from l->d, l->m, or from the caller's root for an absolute target. 1:
 * walked (or stopped at a symlink within it: l->fail is RESOLVE_LINKED); 0: cannot be
 * followed. A global function: the verifier walks it once, whatever calls it how often. */
__noinline int follow_text(struct resolve *l, __u64 dentry, __u32 level, __u32 rest, __u32 left)
{
    __u32 zero = 0;
    struct te_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!l || !e || !dentry)
        return 0;
    struct inode *ino = KPTR(struct dentry, dentry)->d_inode;
    if (!ino || (ino->i_mode & S_IFMT) != S_IFLNK)
        return 0;
    const char *target = ino->i_link;
    if (!target)
        return 0; /* the target is in a data block: not read here */
    __u32 at = e->h.size + (level & 1) * RESOLVE_TEXT;
    if (at > sizeof(struct scratch) - RESOLVE_TEXT)
        return 0;
    long n = bpf_probe_read_kernel_str((char *)e + at, RESOLVE_LINK_MAX, target);
    if (n <= 1 || n >= RESOLVE_LINK_MAX)
        return 0;
    __u32 last = at + n - 1;
    if (last >= sizeof(struct scratch) - RESOLVE_TEXT)
        return 0; /* (for the verifier: the rest appended fits) */
    ((char *)e)[last] = '/';
    if (left) {
        if (n + left > RESOLVE_TEXT || rest > sizeof(struct scratch) - RESOLVE_TEXT)
            return 0;
        if (bpf_probe_read_kernel((char *)e + last + 1, left & (RESOLVE_TEXT - 1), (char *)e + rest))
            return 0;
    }
    struct resolve w = { .d = l->d, .m = l->m, .pos = at, .end = at + n + left }; /* bpf_loop's context is on the stack */
    if (((char *)e)[at] == '/') {
        struct task_struct *task = current_task();
        w.d = (__u64)task->fs->root.dentry;
        w.m = (__u64)real_mount(task->fs->root.mnt);
    }
    bpf_loop(RESOLVE_TEXT, resolve_link_byte, &w, 0);
    *l = w;
    return w.fail != RESOLVE_FAILED;
}

/* The directory a symlink found on the way (`dentry`) names, from the directory it is in
 * (r->d) or from the caller's root; into r->d, r->m. A symlink met within its target
 * stops that walk: its own target, followed by what was left of the text, is the next
 * text, walked from where the walk stood (two areas past the record, in turn), to
 * RESOLVE_LINK_LEVELS symlinks in all. The texts are walked in r itself (the stack is
 * short), and the path's own walk state is put back after. */
__noinline int follow_link(struct resolve *r, __u64 dentry)
{
    __u32 zero = 0;
    struct resolve_buf *rb = bpf_map_lookup_elem(&resolve_buf, &zero);
    if (!r || !rb)
        return 0;
    __u32 pos = r->pos, end = r->end, coff = r->coff, clen = r->clen;
    __u32 rest = 0, left = 0;
    int ok = 0;
    for (int level = 0; level < RESOLVE_LINK_LEVELS; level++) {
        if (!follow_text(r, dentry, level, rest, left))
            break;
        if (r->fail != RESOLVE_LINKED) {
            ok = !r->fail && !r->clen;
            break;
        }
        dentry = rb->link;
        rest = rb->rest;
        left = r->end > rest ? r->end - rest : 0;
    }
    r->pos = pos;
    r->end = end;
    r->coff = coff;
    r->clen = clen;
    r->fail = 0;
    return ok;
}

/* One path component: "." stays, ".." goes up (across mounts), a name is looked up, and
 * a symlink found is followed (follow_link), or, in a target's text (`follow` false),
 * left in resolve_buf (link, rest) for follow_link's next level. */
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
    /* the directory as a number (a global function takes no kernel pointer) */
    struct scan sc = {};
    if (bpf_probe_read_kernel(&sc.head, sizeof(sc.head), &r->d))
        goto fail;
    sc.found = lookup_child(sc.head, len);
    if (!sc.found)
        goto fail;
    struct dentry *child = KPTR(struct dentry, sc.found);
    struct inode *ino = child->d_inode;
    if (ino && (ino->i_mode & S_IFMT) == S_IFLNK) {
        if (!follow) { /* within a target: follow_link's next level */
            rb->link = sc.found;
            rb->rest = off + len + 1;
            r->fail = RESOLVE_LINKED; /* the walk stops here */
            return;
        }
        /* as a number: a global function takes no kernel pointer (into the scan's unused
         * head: the stack is short) */
        if (bpf_probe_read_kernel(&sc.head, sizeof(sc.head), &sc.found))
            goto fail;
        if (follow_link(r, sc.head)) {
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
    r->fail = RESOLVE_FAILED;
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

/* A byte of the path; of a followed symlink's target (a symlink within it is left to
 * follow_link). */
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

/* Samples of the dcache for user space to find its hash table by (te_dcache_sample):
 * every open file's dentry and its directory's, as a bpf_iter over the tasks' files that
 * user space reads once per load. Runs only when read; attached to nothing. */
static __always_inline void dcache_sample_one(struct seq_file *seq, struct dentry *d)
{
    struct te_dcache_sample s = {};
    s.dentry = (__u64)d;
    s.parent = (__u64)d->d_parent;
    s.pprev = (__u64)d->d_hash.pprev;
    s.hash = d->d_name.hash;
    s.len = d->d_name.len;
    bpf_probe_read_kernel_str(s.name, sizeof(s.name), d->d_name.name);
    bpf_seq_write(seq, &s, sizeof(s));
}

SEC("iter/task_file")
int dcache_sample(struct bpf_iter__task_file *ctx)
{
    struct file *f = ctx->file;
    if (!f || !f->f_path.dentry)
        return 0;
    struct dentry *d = KPTR(struct dentry, f->f_path.dentry);
    dcache_sample_one(ctx->meta->seq, d);
    if (d->d_parent && (__u64)d->d_parent != (__u64)d)
        dcache_sample_one(ctx->meta->seq, KPTR(struct dentry, d->d_parent));
    return 0;
}

#endif
