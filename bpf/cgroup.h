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

static __always_inline int egress4(struct bpf_sock_addr *ctx)
{
    __u8 a[16] = {};
    a[10] = 0xff;
    a[11] = 0xff;
    __u32 ip = ctx->user_ip4;
    __builtin_memcpy(&a[12], &ip, 4);
    return egress_verdict(a, bpf_ntohs(ctx->user_port));
}

static __always_inline int egress6(struct bpf_sock_addr *ctx)
{
    __u8 a[16];
    __u32 w;
    w = ctx->user_ip6[0]; __builtin_memcpy(&a[0], &w, 4);
    w = ctx->user_ip6[1]; __builtin_memcpy(&a[4], &w, 4);
    w = ctx->user_ip6[2]; __builtin_memcpy(&a[8], &w, 4);
    w = ctx->user_ip6[3]; __builtin_memcpy(&a[12], &w, 4);
    return egress_verdict(a, bpf_ntohs(ctx->user_port));
}

SEC("cgroup/connect4") int guard_connect4(struct bpf_sock_addr *ctx) { return egress4(ctx); }
SEC("cgroup/connect6") int guard_connect6(struct bpf_sock_addr *ctx) { return egress6(ctx); }
SEC("cgroup/sendmsg4") int guard_sendmsg4(struct bpf_sock_addr *ctx) { return egress4(ctx); }
SEC("cgroup/sendmsg6") int guard_sendmsg6(struct bpf_sock_addr *ctx) { return egress6(ctx); }

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
