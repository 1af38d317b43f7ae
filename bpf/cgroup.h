/* SPDX-License-Identifier: GPL-2.0 */
/* Refusals: cgroup hooks truly refuse (EPERM), the operation never happens. */
#ifndef TETHER_CGROUP_H
#define TETHER_CGROUP_H

/* ---- refusals: cgroup hooks truly refuse (EPERM), the operation never happens ---- */

/* Is the caller a member the guard `guard_bit` covers? Fills `m` (and `monitor`: the guard
 * only reports for it). */
static __always_inline bool guarded_member(__u32 guard_bit, struct member *m, bool *monitor)
{
    if (!(guards_enabled() & guard_bit))
        return false;
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct te_tracked *t = tracked_entry(tgid);
    if (!t)
        return false;
    member_of(t, m);
    *monitor = !(m->mode & TE_MODE_ENFORCE);
    return true;
}

static __always_inline void set_verdict(__u32 g)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    bpf_map_update_elem(&verdicts, &tid, &g, BPF_ANY);
}

/* Does an entry's port list hold `port`? No range listed: any port. */
static __always_inline bool ports_hold(const struct te_net_ports *ports, __u16 port)
{
    if (ports->hi[0] == 0)
        return true;
    for (int i = 0; i < TE_NET_PORTS; i++) {
        if (ports->hi[i] != 0 && ports->lo[i] <= port && port <= ports->hi[i])
            return true;
    }
    return false;
}

/* 1 = allow, 0 = refuse. `addr` is the destination as ::ffff:a.b.c.d or IPv6, network order. */
static __always_inline int egress_verdict(__u8 addr[16], __u16 port)
{
    bool monitor = false;
    struct member m;
    if (!guarded_member(TE_GUARDS_EGRESS, &m, &monitor))
        return 1;
    struct te_net_key key = { .prefixlen = 16 + 128, .agent = 0 };
    __builtin_memcpy(key.addr, addr, 16);
    struct te_net_ports *deny = bpf_map_lookup_elem(&egress_deny, &key);
    bool denied = deny && ports_hold(deny, port);
    if (!denied) {
        key.agent = m.agent;
        struct te_net_ports *ports = bpf_map_lookup_elem(&egress_allow, &key);
        denied = !ports || !ports_hold(ports, port);
    }
    if (!denied)
        return 1;
    set_verdict(TE_GUARD_EGRESS | (monitor ? TE_GUARD_MONITOR : TE_GUARD_REFUSED));
    return monitor ? 1 : 0;
}

/* A TCP deputy's listening sockets, as they come and go: a process running a deputy's
 * executable (deputy_exes, by the file the kernel runs) that is no session's member starts
 * listening, or such a socket stops. Every TCP state change passes; anything but a listen
 * leaves after a compare. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_sock_state, const struct sock *sk, int oldstate, int newstate)
{
    if (newstate != TCP_LISTEN && oldstate != TCP_LISTEN)
        return 0;
    if (sk->sk_protocol != IPPROTO_TCP)
        return 0;
    __u64 key = (__u64)sk;
    if (newstate == TCP_LISTEN) {
        if (tracked_entry(bpf_get_current_pid_tgid() >> 32) || !deputy_kind(current_task()))
            return 0; /* a session's own server, or no deputy */
        __u16 port = sk->__sk_common.skc_num;
        if (bpf_map_update_elem(&deputy_listeners, &key, &port, BPF_NOEXIST))
            return 0;
        __u32 one = 1;
        __u32 *n = bpf_map_lookup_elem(&deputy_ports, &port);
        if (n)
            __sync_fetch_and_add(n, 1);
        else if (bpf_map_update_elem(&deputy_ports, &port, &one, BPF_NOEXIST) && (n = bpf_map_lookup_elem(&deputy_ports, &port)))
            __sync_fetch_and_add(n, 1); /* another CPU made it first */
        return 0;
    }
    __u16 *port = bpf_map_lookup_elem(&deputy_listeners, &key);
    if (!port)
        return 0;
    __u16 p = *port;
    bpf_map_delete_elem(&deputy_listeners, &key);
    __u32 *n = bpf_map_lookup_elem(&deputy_ports, &p);
    if (n && __sync_fetch_and_add(n, -1) <= 1)
        bpf_map_delete_elem(&deputy_ports, &p);
    return 0;
}

/* Is `addr` this host: loopback, the unspecified address (a connect to it reaches this
 * host), or one of its interfaces' addresses (local_addrs, from user space)? */
static __always_inline bool addr_local(__u8 a[16])
{
    __u64 hi;
    __builtin_memcpy(&hi, &a[0], 8);
    if (hi == 0 && a[8] == 0 && a[9] == 0) {
        bool zero4 = (a[12] | a[13] | a[14] | a[15]) == 0;
        if (a[10] == 0xff && a[11] == 0xff && (a[12] == 127 || zero4))
            return true; /* 127.0.0.0/8, 0.0.0.0 */
        if (a[10] == 0 && a[11] == 0 && (a[12] | a[13] | a[14]) == 0 && (a[15] | 1) == 1)
            return true; /* ::, ::1 */
    }
    struct te_local_addr key;
    __builtin_memcpy(key.addr, a, 16);
    return bpf_map_lookup_elem(&local_addrs, &key) != NULL;
}

/* A TCP connect to a port a deputy listens on (deputy_ports: a listen the kernel saw while
 * Tether ran) on an address of this host reaches the deputy: the deputy guard refuses it.
 * -1: no deputy there; 1: one, but the guard only reports (monitor); 0: refused.
 * (Listeners older than Tether are found by user space, refused by the deny list.) */
static __always_inline int deputy_verdict(struct bpf_sock_addr *ctx, __u8 addr[16])
{
    if (ctx->type != SOCK_STREAM)
        return -1;
    __u16 port = bpf_ntohs(ctx->user_port);
    if (!bpf_map_lookup_elem(&deputy_ports, &port))
        return -1;
    bool monitor = false;
    struct member m;
    if (!guarded_member(TE_GUARDS_DEPUTY, &m, &monitor) || !addr_local(addr))
        return -1;
    set_verdict(TE_GUARD_DEPUTY | (monitor ? TE_GUARD_MONITOR : TE_GUARD_REFUSED));
    return monitor ? 1 : 0;
}

static __always_inline void addr4(struct bpf_sock_addr *ctx, __u8 a[16])
{
    __builtin_memset(a, 0, 16);
    a[10] = 0xff;
    a[11] = 0xff;
    __u32 ip = ctx->user_ip4;
    __builtin_memcpy(&a[12], &ip, 4);
}

static __always_inline void addr6(struct bpf_sock_addr *ctx, __u8 a[16])
{
    __u32 w;
    w = ctx->user_ip6[0]; __builtin_memcpy(&a[0], &w, 4);
    w = ctx->user_ip6[1]; __builtin_memcpy(&a[4], &w, 4);
    w = ctx->user_ip6[2]; __builtin_memcpy(&a[8], &w, 4);
    w = ctx->user_ip6[3]; __builtin_memcpy(&a[12], &w, 4);
}

/* A connect: the deputy guard first (its verdict, the one the record carries, names the
 * deputy), then egress. */
static __always_inline int connect_verdict(struct bpf_sock_addr *ctx, __u8 a[16])
{
    int d = deputy_verdict(ctx, a);
    return d >= 0 ? d : egress_verdict(a, bpf_ntohs(ctx->user_port));
}

SEC("cgroup/connect4") int guard_connect4(struct bpf_sock_addr *ctx) { __u8 a[16]; addr4(ctx, a); return connect_verdict(ctx, a); }
SEC("cgroup/connect6") int guard_connect6(struct bpf_sock_addr *ctx) { __u8 a[16]; addr6(ctx, a); return connect_verdict(ctx, a); }
SEC("cgroup/sendmsg4") int guard_sendmsg4(struct bpf_sock_addr *ctx) { __u8 a[16]; addr4(ctx, a); return egress_verdict(a, bpf_ntohs(ctx->user_port)); }
SEC("cgroup/sendmsg6") int guard_sendmsg6(struct bpf_sock_addr *ctx) { __u8 a[16]; addr6(ctx, a); return egress_verdict(a, bpf_ntohs(ctx->user_port)); }

/* Raw IP sockets (the hook sees AF_INET/AF_INET6 only; packet sockets are reported, not refused). */
SEC("cgroup/sock_create")
int guard_sock_create(struct bpf_sock *ctx)
{
    bool monitor = false;
    struct member m;
    if (ctx->type != SOCK_RAW || !guarded_member(TE_GUARDS_RAWSOCK, &m, &monitor))
        return 1;
    set_verdict(monitor ? TE_GUARD_MONITOR : TE_GUARD_REFUSED);
    return monitor ? 1 : 0;
}

/* Writes to /proc/sys: refused, and reported here (no syscall handler sees the name). */
SEC("cgroup/sysctl")
int guard_sysctl(struct bpf_sysctl *ctx)
{
    bool monitor = false;
    struct member m;
    if (!ctx->write || !guarded_member(TE_GUARDS_SYSCTL, &m, &monitor))
        return 1;
    struct te_event *e = event_begin(TE_SYSCTL, &m, 0, monitor ? 0 : -1 /* EPERM */);
    if (e) {
        e->a[0] = 1;
        e->guard = monitor ? TE_GUARD_MONITOR : TE_GUARD_REFUSED;
        __u32 off = e->h.size;
        e->s[1].off = off;
        e->s[1].enc = TE_STR_PLAIN;
        if (off <= STR_LIMIT) {
            long n = bpf_sysctl_get_name(ctx, (char *)e + off, 256, 0);
            if (n > 0) {
                e->s[1].len = n;
                e->h.size = off + n + 1;
            }
        }
        event_emit(e);
    }
    return monitor ? 1 : 0;
}

/* Raw disks and memory devices. */
SEC("cgroup/dev")
int guard_device(struct bpf_cgroup_dev_ctx *ctx)
{
    __u32 type = ctx->access_type & 0xffff, access = ctx->access_type >> 16;
    bool mem = type == BPF_DEVCG_DEV_CHAR && ctx->major == 1 && (ctx->minor == 1 || ctx->minor == 2 || ctx->minor == 4);
    if (type != BPF_DEVCG_DEV_BLOCK && !mem)
        return 1;
    bool monitor = false;
    struct member m;
    if (!guarded_member(TE_GUARDS_DEVICE, &m, &monitor))
        return 1;
    struct te_event *e = event_begin(TE_DEVICE, &m, 0, monitor ? 0 : -1);
    if (e) {
        e->a[0] = access;
        e->a[1] = ctx->major;
        e->a[2] = ctx->minor;
        e->a[3] = type;
        e->guard = monitor ? TE_GUARD_MONITOR : TE_GUARD_REFUSED;
        event_emit(e);
    }
    return monitor ? 1 : 0;
}

#endif
