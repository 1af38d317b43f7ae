/* SPDX-License-Identifier: GPL-2.0 */
/* Handlers: sockets, connect, bind, send, listen. */
#ifndef TETHER_SYS_NET_H
#define TETHER_SYS_NET_H

/* ---- network ---- */

/* Decode a user sockaddr into family/port/addr (and a unix path into slot 1). */
static __always_inline void sockaddr_user(struct te_event *e, const void *uaddr, long len)
{
    if (!uaddr || len < 2)
        return;
    __u16 family = 0;
    bpf_probe_read_user(&family, sizeof(family), uaddr);
    e->family = family;
    if (family == AF_INET) {
        struct sockaddr_in sin = {};
        bpf_probe_read_user(&sin, sizeof(sin), uaddr);
        e->port = bpf_ntohs(sin.sin_port);
        __builtin_memcpy(e->addr, &sin.sin_addr, 4);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 sin6 = {};
        bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
        e->port = bpf_ntohs(sin6.sin6_port);
        __builtin_memcpy(e->addr, &sin6.sin6_addr, 16);
    } else if (family == AF_UNIX) {
        const char *path = (const char *)uaddr + 2;
        char first = 0;
        bpf_probe_read_user(&first, 1, path);
        if (first == 0 && len > 3) {
            str_user(e, 1, path + 1);
            e->s[1].flags |= TE_STRF_ABSTRACT;
        } else {
            str_user(e, 1, path);
            /* a relative socket path names a file in the caller's cwd: its kernel path, as
             * for any relative path (user space could only guess it once the caller is gone) */
            if (first != '/')
                str_base(e, 0, AT_FDCWD);
        }
    }
}

/* What a cgroup hook decided for this thread's syscall, if anything. */
static __always_inline __u32 take_verdict(void)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    __u32 *v = bpf_map_lookup_elem(&verdicts, &tid);
    if (!v)
        return 0;
    __u32 g = *v;
    bpf_map_delete_elem(&verdicts, &tid);
    return g;
}

/* The deputy a unix stream connect reached through a socket a service manager listens on
 * for it (systemd's socket activation): the listener is the manager, which starts the
 * deputy with the connection. The file the listener bound travels with the connection (the
 * peer socket carries the listener's path, as the kernel resolved it at bind), and is in
 * deputy_exes by inode when user space found the manager listening there for a deputy. */
static __always_inline __u32 activated_kind(struct sock *sk)
{
    struct sock *peer = KPTR(struct unix_sock, sk)->peer;
    if (!peer)
        return 0;
    struct dentry *d = KPTR(struct unix_sock, peer)->path.dentry;
    return d ? deputy_file_kind(d->d_inode) : 0;
}

/* A unix stream connect that succeeded: who listens at the other end, as the kernel
 * recorded it when that process called listen() (sk_peer_pid), whatever path led there.
 * A listener outside the session whose executable is a deputy (a server that runs
 * commands for its clients) is registered in `deputies`, so that what it forks while the
 * member lives joins the session; the deputy guard ends the member here, before it has
 * sent the deputy a byte. */
static __always_inline void unix_peer(struct te_event *e, struct call *s)
{
    struct task_struct *task = current_task();
    struct file *f = fd_file(task, (int)s->args[0]);
    if (!f || (f->f_inode->i_mode & S_IFMT) != S_IFSOCK)
        return; /* the fd was closed or replaced since */
    struct socket *sock = KPTR(struct socket, f->private_data);
    struct sock *sk = sock->sk;
    if (!sk || sk->__sk_common.skc_family != AF_UNIX)
        return;
    struct pid *peer = sk->sk_peer_pid;
    if (!peer)
        return;
    __u32 tgid = BPF_CORE_READ(peer, numbers[0].nr);
    const struct cred *cred = sk->sk_peer_cred;
    __u64 euid = cred ? cred->euid.val : 0;
    __u32 flags = TE_PEER_KNOWN, kind = 0;
    struct te_tracked *t = bpf_map_lookup_elem(&tracked, &tgid);
    if (t && t->session == s->m.session) {
        flags |= TE_PEER_MEMBER;
    } else if (bpf_ksym_exists(bpf_task_from_pid)) {
        struct task_struct *listener = bpf_task_from_pid(tgid);
        if (listener) {
            kind = deputy_kind(KPTR(struct task_struct, listener));
            bpf_task_release(listener);
        }
        if (!kind && (kind = activated_kind(sk)))
            flags |= TE_PEER_ACTIVATED;
        if (kind & TE_DEPUTY_TCP_ONLY) {
            kind = 0; /* sshd: a login's agent socket is what its client should reach */
            flags &= ~TE_PEER_ACTIVATED;
        }
    }
    e->a[2] = tgid;
    if (kind) {
        flags |= TE_PEER_DEPUTY;
        if (!(flags & TE_PEER_ACTIVATED)) { /* the manager's forks are not the deputy's */
            struct te_deputy d = { .session = s->m.session, .member = bpf_get_current_pid_tgid() >> 32, .kind = kind };
            mark_tracked(tgid, true);
            bpf_map_update_elem(&deputies, &tgid, &d, BPF_ANY);
        }
        if (guards_enabled() & TE_GUARDS_DEPUTY)
            guard_act(e, s, TE_GUARD_DEPUTY);
    }
    e->a[3] = flags | (__u64)(kind & 0xff) << 8 | euid << 32;
}

static __always_inline void sock_call(struct call *s, long nr, long ret, __u16 kind, const void *uaddr, long len, __u64 a1)
{
    struct te_event *e = event_begin(kind, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = (int)s->args[0];
    e->a[1] = a1;
    sockaddr_user(e, uaddr, len);
    if (kind == TE_CONNECT || kind == TE_SENDTO)
        e->guard = take_verdict();
    if (kind == TE_CONNECT && ret == 0)
        unix_peer(e, s); /* by the socket's own family: the sockaddr is the caller's memory */
    syscall_emit(e);
}

/* socket(): only raw and packet sockets are reported. */
static __always_inline void on_socket(struct call *s, long nr, long ret)
{
    __u32 type = s->args[1] & 0xf;
    if (type != SOCK_RAW && s->args[0] != AF_PACKET)
        return;
    struct te_event *e = event_begin(TE_SOCKET, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = s->args[0];
    e->a[1] = type;
    e->a[2] = s->args[2];
    e->guard = take_verdict();
    syscall_emit(e);
}
HOOK(socket, 3, on_socket)
static __always_inline void on_connect(struct call *s, long nr, long ret) { sock_call(s, nr, ret, TE_CONNECT, (void *)s->args[1], s->args[2], 0); }
static __always_inline void on_bind(struct call *s, long nr, long ret) { sock_call(s, nr, ret, TE_BIND, (void *)s->args[1], s->args[2], 0); }
static __always_inline void on_sendto(struct call *s, long nr, long ret)
{
    if (!s->args[4])
        return; /* no explicit destination: the connect was reported */
    sock_call(s, nr, ret, TE_SENDTO, (void *)s->args[4], s->args[5], s->args[2]);
}
static __always_inline void on_sendmsg(struct call *s, long nr, long ret)
{
    struct user_msghdr msg = {};
    bpf_probe_read_user(&msg, sizeof(msg), (void *)s->args[1]);
    if (!msg.msg_name)
        return;
    sock_call(s, nr, ret, TE_SENDTO, msg.msg_name, msg.msg_namelen, ret > 0 ? ret : 0);
}
/* sendmmsg: many datagrams in one call, each to its own destination. The cgroup hooks
 * judge every one of them; the record names the first (a0 fd, a1 datagrams sent). */
static __always_inline void on_sendmmsg(struct call *s, long nr, long ret)
{
    struct mmsghdr first = {};
    bpf_probe_read_user(&first, sizeof(first), (void *)s->args[1]);
    if (!first.msg_hdr.msg_name) {
        take_verdict(); /* a connected socket: its connect was reported; a verdict would go stale */
        return;
    }
    sock_call(s, nr, ret, TE_SENDTO, first.msg_hdr.msg_name, first.msg_hdr.msg_namelen, ret > 0 ? ret : 0);
}
HOOK(connect, 3, on_connect)
HOOK(bind, 3, on_bind)
HOOK(sendto, 6, on_sendto)
HOOK(sendmsg, 3, on_sendmsg)
HOOK(sendmmsg, 4, on_sendmmsg)

/* listen: the local address comes from the kernel's socket. */
static __always_inline void on_listen(struct call *s, long nr, long ret)
{
    struct te_event *e = event_begin(TE_LISTEN, &s->m, nr, ret);
    if (!e)
        return;
    e->a[0] = (int)s->args[0];
    e->a[1] = (int)s->args[1];
    struct task_struct *task = current_task();
    struct file *f = fd_file(task, (int)s->args[0]);
    if (f) {
        struct socket *sock = BPF_CORE_READ(f, private_data);
        struct sock *sk = BPF_CORE_READ(sock, sk);
        __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
        e->family = family;
        e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
        if (family == AF_INET) {
            __u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
            __builtin_memcpy(e->addr, &a, 4);
        } else if (family == AF_INET6) {
            BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_rcv_saddr);
        }
    }
    syscall_emit(e);
}
HOOK(listen, 2, on_listen)

#endif
