/* SPDX-License-Identifier: GPL-2.0 */
/* io_uring's requests: no syscall hands them over, so they are read at submission. */
#ifndef TETHER_URING_H
#define TETHER_URING_H

#define IORING_FILE_INDEX_ALLOC (~0U) /* UAPI: an open into a direct descriptor the ring picks */

/* A request's path: the kernel's own copy (`struct filename`, made when the request was
 * prepared: what the operation will use, whatever the caller's memory says later) into
 * slot+1, its base into slot. */
static __always_inline long uring_path(struct te_event *e, int slot, long dirfd, struct filename *f)
{
    return path_base(e, slot, dirfd, str_kernel(e, slot + 1, f ? f->name : NULL));
}

/* A rename's or link's two paths into slots 0/1 and 2/3, as two_paths lays them out;
 * returns the new name's dirfd. */
static __always_inline long uring_two_paths(struct te_event *e, int flags, long old_dfd, struct filename *old,
                                            long new_dfd, struct filename *new)
{
    e->a[0] = flags;
    uring_path(e, 0, old_dfd, old);
    return uring_path(e, 2, new_dfd, new);
}

/* Is a ring's open of string slot 1 one of Tether's /proc entries, as proc_guard judges an
 * opened file: "/proc/N/..." where N (a process or one of its threads) is protected, for
 * writing, or its "mem" at all? Read from the kernel's own copy of the path, in this plain
 * spelling only (another spelling is judged by the rules, by its normalized path). */
static __always_inline bool uring_proc_tamper(struct te_event *e, bool write)
{
    struct te_str *str = &e->s[1];
    __u32 off = str->off, len = str->len;
    if (len < 8 || len >= TE_STR_MAX || off > sizeof(struct scratch) - TE_STR_MAX)
        return false;
    char p[24] = {};
    if (bpf_probe_read_kernel(p, sizeof(p), (char *)e + off))
        return false;
    if (!(p[0] == '/' && p[1] == 'p' && p[2] == 'r' && p[3] == 'o' && p[4] == 'c' && p[5] == '/'))
        return false;
    __s64 n = 0;
    bool slash = false;
#pragma unroll
    for (int i = 6; i < 17; i++) {
        char c = p[i];
        if (c >= '0' && c <= '9') {
            n = n * 10 + (c - '0');
            continue;
        }
        slash = c == '/' && i > 6;
        break;
    }
    if (!slash || !pid_protected(tgid_of(n)))
        return false;
    if (write)
        return true;
    char tail[4] = {};
    if (bpf_probe_read_kernel(tail, sizeof(tail), (char *)e + off + len - 4))
        return false;
    return tail[0] == '/' && tail[1] == 'm' && tail[2] == 'e' && tail[3] == 'm';
}

/* A tracked process's io_uring request that makes or moves a name (open, rename, link,
 * symlink, unlink, mkdir; their paths from the kernel's own copies), connects or sends a
 * datagram to an address (sendmsg), as the record its syscall would make, numbered
 * TE_SYSCALL_URING | opcode. Submission comes before the operation runs (inline, or later
 * in a worker), so the record has no outcome: result 0, and user space says it was
 * submitted; the egress guard's cgroup hook still judges the connect when it runs (its
 * verdict goes on io_uring_enter's record). Reads, writes, and sends on a connected socket
 * are not decoded. The opcodes are the UAPI's. */
SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(uring_submit, struct io_kiocb *req)
{
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct te_tracked *t = tracked_entry(tgid);
    if (!t)
        return 0;
    struct member m;
    member_of(t, &m);
    __u8 op = req->opcode;
    /* the operation's data: the first bytes of the request, read as that operation's type */
    void *cmd = (void *)req + bpf_core_field_offset(struct io_kiocb, cmd);
    __u16 kind;
    switch (op) {
    case IORING_OP_OPENAT:
    case IORING_OP_OPENAT2: kind = TE_OPEN; break;
    case IORING_OP_RENAMEAT: kind = TE_RENAME; break;
    case IORING_OP_LINKAT: kind = TE_LINK; break;
    case IORING_OP_SYMLINKAT: kind = TE_SYMLINK; break;
    case IORING_OP_UNLINKAT: kind = KPTR(struct io_unlink, cmd)->flags & AT_REMOVEDIR ? TE_RMDIR : TE_UNLINK; break;
    case IORING_OP_MKDIRAT: kind = TE_MKDIR; break;
    case IORING_OP_CONNECT: kind = TE_CONNECT; break;
    case IORING_OP_SENDMSG:
    case IORING_OP_SENDMSG_ZC: kind = TE_SENDTO; break;
    default: return 0;
    }
    /* a datagram's destination, from the caller's msghdr (as sendmsg's is); none: the
     * socket is connected, and its connect was reported */
    struct user_msghdr msg = {};
    if (kind == TE_SENDTO) {
        struct io_sr_msg *sr = KPTR(struct io_sr_msg, cmd);
        if (bpf_probe_read_user(&msg, sizeof(msg), sr->umsg) || !msg.msg_name)
            return 0;
    }
    struct te_event *e = event_begin(kind, &m, TE_SYSCALL_URING | op, 0);
    if (!e)
        return 0;
    /* the string slot of a name the request makes something new at, and its dirfd: for
     * the entry guard below, as the syscall's record has it judged */
    int made = -1;
    long made_dirfd = AT_FDCWD;
    if (kind == TE_OPEN) {
        struct io_open *o = KPTR(struct io_open, cmd);
        e->a[0] = o->how.flags;
        e->a[1] = o->how.mode;
        long d = uring_path(e, 0, o->dfd, o->filename);
        bool write = o->how.flags & (O_ACCMODE | O_CREAT | O_TRUNC);
        if (write) {
            made = 1;
            made_dirfd = d;
        }
        if (uring_proc_tamper(e, write) && (guards_enabled() & TE_GUARDS_TAMPER)) {
            struct call c = { .m = m };
            guard_act(e, &c, TE_GUARD_TAMPER);
            made = -1; /* judged */
        }
    } else if (kind == TE_RENAME) {
        struct io_rename *r = KPTR(struct io_rename, cmd);
        made_dirfd = uring_two_paths(e, r->flags, r->old_dfd, r->oldpath, r->new_dfd, r->newpath);
        made = 3;
    } else if (kind == TE_LINK) {
        struct io_link *l = KPTR(struct io_link, cmd);
        made_dirfd = uring_two_paths(e, l->flags, l->old_dfd, l->oldpath, l->new_dfd, l->newpath);
        made = 3;
    } else if (kind == TE_SYMLINK) {
        struct io_link *l = KPTR(struct io_link, cmd);
        struct filename *target = l->oldpath;
        str_kernel(e, 1, target ? target->name : NULL);
        made_dirfd = uring_path(e, 2, l->new_dfd, l->newpath);
        made = 3;
    } else if (kind == TE_CONNECT) {
        /* The destination from the caller's memory, as a connect syscall's is: the kernel's
         * copy sits in request data whose layout differs between kernel versions (measured:
         * not where this kernel's BTF places it). What is refused is exact: the egress
         * guard's cgroup hook judges its own copy when the connect runs. */
        struct io_connect *c = KPTR(struct io_connect, cmd);
        e->a[0] = req->cqe.fd;
        sockaddr_user(e, c->addr, c->addr_len);
    } else if (kind == TE_SENDTO) {
        e->a[0] = req->cqe.fd;
        sockaddr_user(e, msg.msg_name, msg.msg_namelen);
    } else if (kind == TE_MKDIR) {
        struct io_mkdir *d = KPTR(struct io_mkdir, cmd);
        e->a[0] = d->mode;
        made_dirfd = uring_path(e, 0, d->dfd, d->filename);
        made = 1;
    } else {
        struct io_unlink *u = KPTR(struct io_unlink, cmd);
        uring_path(e, 0, u->dfd, u->filename);
    }
    /* The write and tamper guards judge the name as they do a syscall's: a persistence
     * location or Tether's own files. The request itself runs right after (inline, in
     * this same io_uring_enter), so what it makes lands; but in enforce mode the caller
     * dies on its return and its session freezes, before it can write a byte into what it
     * opened, and the rules undo what landed. */
    if (made == 1 || made == 3) {
        struct call c = { .m = m };
        entry_guard(e, &c, made, made_dirfd);
    }
    event_emit(e);
    return 0;
}

/* The file a ring's open made: fd `res` in the caller's table, or (a direct descriptor)
 * the ring's own slot `file_slot - 1`, or `res` when the ring chose the slot. */
static __always_inline struct file *uring_opened(struct io_ring_ctx *ring, struct io_open *o, __s32 res)
{
    __u32 slot = o->file_slot;
    if (!slot)
        return fd_file(current_task(), res);
    __u32 index = slot == IORING_FILE_INDEX_ALLOC ? (__u32)res : slot - 1;
    if (index >= ring->file_table.data.nr)
        return NULL;
    /* nodes[index] by a plain load, as fd_file reads an fd table's cell */
    struct callback_head *cell = KPTR(struct callback_head, (__u64)ring->file_table.data.nodes + index * sizeof(void *));
    struct io_rsrc_node *node = cell->next ? KPTR(struct io_rsrc_node, cell->next) : NULL;
    if (!node)
        return NULL;
    __u64 ptr = node->file_ptr & ~3ull; /* FFS_NOWAIT | FFS_ISREG in the low bits */
    return ptr ? KPTR(struct file, ptr) : NULL;
}

/* A ring's open, completed: the file it opened, judged by the open guards as an open
 * syscall's is at its exit. The submission judged only the kernel's copy of the path, read
 * lexically: through a symlink of the agent's own (into /proc/<Tether>/, or a directory
 * into /etc/cron.d) it names nothing protected. Here the opened file's inodes decide.
 * Recorded only when a guard matched (the submission's record says the rest), as the
 * open's record with its outcome: TE_SYSCALL_URING | TE_SYSCALL_URING_DONE | opcode,
 * result the fd (or slot). In enforce mode the caller dies on its return from
 * io_uring_enter (a request linked after the open in the same submission still runs). A
 * request submitted with IOSQE_CQE_SKIP_SUCCESS posts no completion and is not seen here. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(uring_complete, struct io_ring_ctx *ring, void *request, struct io_uring_cqe *cqe)
{
    struct io_kiocb *req = KPTR(struct io_kiocb, request); /* a void * in the tracepoint's signature */
    __u8 op = req->opcode;
    if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2)
        return 0;
    __s32 res = cqe->res;
    if (res < 0 || !(guards_enabled() & (TE_GUARDS_WRITE | TE_GUARDS_TAMPER)))
        return 0;
    struct te_tracked *t = tracked_entry(bpf_get_current_pid_tgid() >> 32);
    if (!t)
        return 0;
    /* the submission's guard already killed it (and its record said why) */
    if (current_task()->pending.signal.sig[0] & (1ul << (SIGKILL - 1)))
        return 0;
    struct io_open *o = KPTR(struct io_open, (void *)req + bpf_core_field_offset(struct io_kiocb, cmd));
    struct file *f = uring_opened(ring, o, res);
    if (!f)
        return 0;
    struct member m;
    member_of(t, &m);
    struct te_event *e = event_begin(TE_OPEN, &m, TE_SYSCALL_URING | TE_SYSCALL_URING_DONE | op, res);
    if (!e)
        return 0;
    e->a[0] = o->how.flags;
    e->a[1] = o->how.mode;
    struct call c = { .m = m };
    opened_file(e, &c, f, o->how.flags);
    if (e->guard)
        event_emit(e); /* else nothing matched: the submission's record stands */
    return 0;
}

#endif
