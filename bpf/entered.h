/* SPDX-License-Identifier: GPL-2.0 */
/* A path-only syscall's strings as they were when it began. The exit hook reads a path
 * from the caller's memory after the call ran; a second thread of the caller can rewrite
 * it in between (the kernel copied the real one at entry), so the record, the guards and
 * the rules would judge a name the kernel never used. So each such call's strings are
 * hashed at its entry too (tp_btf/sys_enter: every syscall passes, only these are read),
 * and the exit compares. A difference is the record's to say
 * (TE_STRF_RACED) and, with the guards on, a kill in enforce mode: where the call acted is
 * unknown. What this cannot see: a string rewritten and put back between the entry's
 * read and the kernel's copy, or again before the exit's (two writes within the call).
 * A string whose page was not present at entry (a tracepoint cannot fault it in; the
 * kernel's copy did) cannot be compared: the record says so (TE_STRF_UNVERIFIED), since
 * an unmapped page is also how a caller would keep its string from being read then. */
#ifndef TETHER_ENTERED_H
#define TETHER_ENTERED_H

struct str_hash_ctx {
    const char *p;
    __u64 h;
};

static long str_hash_word(__u64 i, void *data)
{
    struct str_hash_ctx *c = data;
    __u64 w = 0;
    bpf_probe_read_kernel(&w, sizeof(w), c->p + (i & (TE_STR_MAX / 8 - 1)) * 8);
    c->h = (c->h ^ w) * 0x100000001b3ull;
    return 0;
}

/* FNV-1a, 64-bit, over `len` bytes at `p` (a string already in kernel memory), a word at
 * a time. bpf_loop, so the verifier walks the loop's body once, not once per possible
 * length in every handler (that took a second more at every load); a kernel without it
 * (before 5.17) hashes nothing, and the exit's comparison always agrees. */
static __always_inline __u64 te_str_hash(const char *p, __u32 len)
{
    struct str_hash_ctx c = { .p = p, .h = 0xcbf29ce484222325ull ^ len };
    if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop))
        return 0;
    __u32 full = len / 8, rest = len & 7;
    bpf_loop(full, str_hash_word, &c, 0);
    if (rest) { /* the last bytes alone: what follows them differs between the copies */
        __u64 w = 0;
        bpf_probe_read_kernel(&w, rest, p + (full & (TE_STR_MAX / 8 - 1)) * 8);
        c.h = (c.h ^ w) * 0x100000001b3ull;
    }
    return c.h;
}

/* The caller's string at `uptr`, hashed now; false if it cannot be read. */
static __always_inline bool entered_hash(__u64 uptr, __u64 *h)
{
    __u32 zero = 0;
    struct env_buf *b = bpf_map_lookup_elem(&env_buf, &zero);
    if (!b)
        return false;
    long n = bpf_probe_read_user_str(b->s, TE_STR_MAX, (const void *)uptr);
    if (n <= 0)
        return false;
    *h = te_str_hash(b->s, n - 1);
    return true;
}

/* Argument `i` (0-5) of the syscall in `regs` (x86-64 calling convention). */
static __always_inline __u64 entry_arg(struct pt_regs *regs, __u32 i)
{
    switch (i) {
    case 0: return regs->di;
    case 1: return regs->si;
    case 2: return regs->dx;
    case 3: return regs->r10;
    case 4: return regs->r8;
    default: return regs->r9;
    }
}

/* Every syscall enters here; those of tether_entered.def, by a tracked thread, leave the
 * hashes of their strings (entered_args says which arguments) for their exit. One hook
 * for all: a syscall's own tracepoints would each be a perf event to attach (measured:
 * two seconds more at every start for these 26). */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr)
{
    if (nr < 0 || nr >= TE_SYSCALL_SLOTS)
        return 0;
    __u8 spec = entered_args[nr];
    if (!(spec & TE_ENTERED_ON))
        return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if (!tracked_entry(id >> 32))
        return 0;
    __u32 tid = id, a = spec & 7, b = (spec >> 3) & 7;
    struct te_entered v = { .nr = nr };
    v.uptr[0] = entry_arg(regs, a);
    if (spec & TE_ENTERED_HOW) {
        if (bpf_probe_read_user(&v.hash[0], sizeof(v.hash[0]), (void *)v.uptr[0]))
            v.unread |= 1;
    } else if (v.uptr[0] && !entered_hash(v.uptr[0], &v.hash[0])) {
        v.unread |= 1;
    }
    if (b != TE_ENTERED_NONE) {
        v.uptr[1] = entry_arg(regs, b);
        if (v.uptr[1] && !entered_hash(v.uptr[1], &v.hash[1]))
            v.unread |= 2;
    }
    bpf_map_update_elem(&entered, &tid, &v, BPF_ANY);
    return 0;
}

/* This thread's entry record of the running syscall for argument `uptr`, taken (each is
 * judged once); NULL if there is none (the call has no entry hook), or if it was unreadable
 * then: string slot `slot` is then marked TE_STRF_UNVERIFIED. */
static __always_inline struct te_entered *entered_take(struct te_event *e, int slot, __u64 uptr, int *which)
{
    __u32 tid = bpf_get_current_pid_tgid();
    struct te_entered *v = bpf_map_lookup_elem(&entered, &tid);
    if (!v || !uptr || v->nr != e->syscall)
        return NULL;
    int i = v->uptr[0] == uptr ? 0 : v->uptr[1] == uptr ? 1 : -1;
    if (i < 0)
        return NULL;
    v->uptr[i] = 0;
    if (v->unread & (1u << i)) {
        e->s[slot & (TE_NSTR - 1)].flags |= TE_STRF_UNVERIFIED;
        return NULL;
    }
    *which = i;
    return v;
}

/* Slot `slot` of the record is not what the call was given: marked, and with the guards on
 * the caller dies in enforce mode (its session freezes), as for a guarded location: where
 * a successful call acted is unknown. */
static __always_inline void str_raced(struct te_event *e, int slot)
{
    e->s[slot & (TE_NSTR - 1)].flags |= TE_STRF_RACED;
    if (e->result < 0 || !(guards_enabled() & (TE_GUARDS_WRITE | TE_GUARDS_TAMPER)))
        return;
    struct call c = { .m = { .session = e->session, .mode = e->mode } };
    guard_act(e, &c, TE_GUARD_UNRESOLVED);
}

/* Compares string slot `slot`, read at exit from `uptr`, with its hash at entry. */
static __always_inline void str_entered(struct te_event *e, int slot, const char *uptr)
{
    int i = 0;
    struct te_entered *v = entered_take(e, slot, (__u64)uptr, &i);
    if (!v)
        return;
    struct te_str *s = &e->s[slot & (TE_NSTR - 1)];
    if (s->off > STR_LIMIT)
        return; /* the record had no room for it: nothing to compare */
    if ((s->flags & TE_STRF_FAULT) || te_str_hash((const char *)e + s->off, s->len) != v->hash[i & 1])
        str_raced(e, slot);
}

/* openat2's flags as the exit read them (`*flags`) against those at its entry: a change
 * is marked on the path's slot and the entry's flags are added to `*flags`, so the guards
 * and the rules judge what the call may have done. */
static __always_inline void how_entered(struct te_event *e, __u64 how_ptr, bool read, __u64 *flags)
{
    int i = 0;
    struct te_entered *v = entered_take(e, 1, how_ptr, &i); /* the path's slot says it */
    if (!v || i != 0)
        return;
    if (read && v->hash[0] == *flags)
        return;
    *flags |= v->hash[0];
    str_raced(e, 1);
}

#endif
