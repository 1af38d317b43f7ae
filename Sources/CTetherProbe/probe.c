/* The only code that talks to libbpf. See include/tether_probe.h. */
#define _GNU_SOURCE
#include <spawn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <poll.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include "tether_probe.h"
#include "generated/tether.skel.h"
#include "generated/floor.skel.h"

#define MAX_LINKS 32

struct tp_probe {
    struct tether *skel;
    struct floor *floor;
    struct bpf_object *obj;
    struct ring *rb;
    struct ring *urgent; /* guard-matched records and loss records, when rb is full */
    struct bpf_link *links[MAX_LINKS];
    uint32_t nlinks;
    uint32_t nskipped;
    char cgroup_root[64];
    char pin_dir[200];
    int resumed;
    char skipped[1024];
    int ncpu;
    uint64_t *bits; /* tracked_bits, mapped */
    uint16_t guard_gen; /* the guard plan being written (tp_guard_begin) */
    tp_record_fn fn;
    void *ctx;
};

/* ---- libbpf diagnostics: keep the tail of the log for the error message ---- */

static __thread char *log_buf;
static __thread size_t log_len, log_cap;

static int log_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
    /* TETHER_LIBBPF_LOG=1 shows libbpf's whole output (verifier logs) on stderr. */
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("TETHER_LIBBPF_LOG") != NULL;
    if (verbose) {
        va_list copy;
        va_copy(copy, args);
        vfprintf(stderr, fmt, copy);
        va_end(copy);
    }
    if (level == LIBBPF_DEBUG || !log_buf)
        return 0;
    char line[1024];
    int n = vsnprintf(line, sizeof(line), fmt, args);
    if (n <= 0)
        return 0;
    if ((size_t)n >= sizeof(line))
        n = sizeof(line) - 1;
    if ((size_t)n >= log_cap)
        return 0;
    if (log_len + n >= log_cap) { /* keep the tail: the verifier's last words matter most */
        size_t drop = log_len + n - log_cap + 1;
        memmove(log_buf, log_buf + drop, log_len - drop);
        log_len -= drop;
    }
    memcpy(log_buf + log_len, line, n);
    log_len += n;
    log_buf[log_len] = 0;
    return 0;
}

static int fail(int rc, char *err, size_t errlen, const char *what)
{
    if (err && errlen) {
        char detail[512] = "";
        if (log_buf && log_len)
            snprintf(detail, sizeof(detail), "; libbpf: %s", log_len > 400 ? log_buf + log_len - 400 : log_buf);
        snprintf(err, errlen, "%s: %s%s%s", what, strerror(-rc), detail,
                 log_len ? " (TETHER_LIBBPF_LOG=1 shows libbpf's whole log)" : "");
    }
    return rc;
}

/* Syscall numbers of the handler programs (h_NAME), from the schema and this
 * architecture's headers; -1 for a syscall this architecture lacks (its handler is not
 * loaded, and tp_hooks names it). */
#include "tether_syscalls.h"
static const struct { const char *name; long nr; uint16_t kind; } syscalls[] = {
#define TE_SYSCALL(name, kind) { #name, SYS_##name, TE_##kind },
#ifdef SYS_open
#define TE_SYSCALL_LEGACY(name, kind) { #name, SYS_##name, TE_##kind },
#else
#define TE_SYSCALL_LEGACY(name, kind) { #name, -1, TE_##kind },
#endif
#include "tether_events.def"
};

static long syscall_nr(const char *name)
{
    for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++)
        if (strcmp(syscalls[i].name, name) == 0)
            return syscalls[i].nr;
    return -1;
}

/* The schema as C compiled it, for the test that holds the Swift side to it. */
static const struct { const char *json; uint16_t number; } kinds[] = {
#define TE_EVENT(name, number, swift, json, layout, doc) { json, number },
#include "tether_events.def"
};

int tp_schema_kind(uint32_t i, const char **json, uint16_t *number)
{
    if (i >= sizeof(kinds) / sizeof(kinds[0]))
        return -ENOENT;
    *json = kinds[i].json;
    *number = kinds[i].number;
    return 0;
}

int tp_schema_syscall(uint32_t i, const char **name, long *nr, uint16_t *kind)
{
    if (i >= sizeof(syscalls) / sizeof(syscalls[0]))
        return -ENOENT;
    *name = syscalls[i].name;
    *nr = syscalls[i].nr;
    *kind = syscalls[i].kind;
    return 0;
}

/* Later stages of a handler, tail-called at a fixed slot past the syscall numbers. */
static int stage_slot(const char *name)
{
    return strcmp(name, "stage_entry_guard") == 0 ? TE_SLOT_ENTRY_GUARD : -1;
}

static int is_handler(struct bpf_program *prog)
{
    const char *name = bpf_program__name(prog);
    return strncmp(name, "h_", 2) == 0 || stage_slot(name) >= 0;
}

/* A handler's slot in the tail-call table: its syscall number, or its stage's slot. */
static int handler_slot(struct bpf_program *prog)
{
    const char *name = bpf_program__name(prog);
    int slot = stage_slot(name);
    return slot >= 0 ? slot : syscall_nr(name + 2);
}

int tp_schema_handlers(char *names, size_t len)
{
    struct tether *skel = tether__open();
    if (!skel)
        return -errno;
    struct bpf_program *prog;
    size_t used = 0;
    int n = 0;
    names[0] = 0;
    bpf_object__for_each_program(prog, skel->obj) {
        const char *name = bpf_program__name(prog);
        if (strncmp(name, "h_", 2) != 0)
            continue;
        used += snprintf(names + used, used < len ? len - used : 0, "%s%s", n ? "," : "", name + 2);
        n++;
    }
    tether__destroy(skel);
    return used < len ? n : -E2BIG;
}

/* Handlers for syscalls this architecture lacks are not loaded; they are reported. */
static void skip_missing(struct tp_probe *p)
{
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, p->obj) {
        if (!is_handler(prog) || handler_slot(prog) >= 0)
            continue;
        bpf_program__set_autoload(prog, false);
        p->nskipped++;
        size_t used = strlen(p->skipped);
        snprintf(p->skipped + used, sizeof(p->skipped) - used, "%s%s", used ? "," : "",
                 bpf_program__name(prog) + 2);
    }
}

/* Does tracepoint `name`'s prototype (typedef `id`) have the arguments the program was
 * written for? io_uring_complete took (ctx, req, cqe) from 6.0 on; before, seven numbers,
 * which the verifier would refuse to read as pointers (failing the whole load). */
static int tracepoint_shape_fits(const struct btf *btf, int id, const char *name)
{
    if (strcmp(name, "io_uring_complete") != 0)
        return 1;
    const struct btf_type *t = btf__type_by_id(btf, id);
    if (t && btf_is_typedef(t))
        t = btf__type_by_id(btf, t->type);
    if (t && btf_is_ptr(t))
        t = btf__type_by_id(btf, t->type);
    return t && btf_is_func_proto(t) && btf_vlen(t) == 4; /* the context pointer, then three */
}

/* A hook on a tracepoint this kernel lacks (io_uring_submit_req came with 5.19; before,
 * it was io_uring_submit_sqe), or has in another shape, is not loaded: the load would fail
 * whole. It is reported. */
static void skip_missing_tracepoints(struct tp_probe *p)
{
    struct btf *vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux)
        return; /* no kernel BTF: the load says so */
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, p->obj) {
        const char *sec = bpf_program__section_name(prog);
        char type[128];
        if (strncmp(sec, "tp_btf/", 7) != 0 || strcmp(sec, "tp_btf/sys_exit") == 0)
            continue;
        snprintf(type, sizeof(type), "btf_trace_%s", sec + 7);
        int id = btf__find_by_name_kind(vmlinux, type, BTF_KIND_TYPEDEF);
        if (id >= 0 && tracepoint_shape_fits(vmlinux, id, sec + 7))
            continue;
        bpf_program__set_autoload(prog, false);
        p->nskipped++;
        size_t used = strlen(p->skipped);
        snprintf(p->skipped + used, sizeof(p->skipped) - used, "%s%s (no such tracepoint, or not of this shape)",
                 used ? "," : "", sec + 7);
    }
    btf__free(vmlinux);
}

/* The syscalls whose strings the entry hook reads, and which arguments hold them. */
static const struct { const char *name; int a, b, how; } entered_calls[] = {
#define ENTERED(name, a, b) { #name, a, b, 0 },
#define ENTERED_HOW(name, a) { #name, a, -1, 1 },
#include "tether_entered.def"
#undef ENTERED
#undef ENTERED_HOW
};

/* Tell the entry hook which syscalls it reads, by this architecture's numbers (before
 * load: read-only after). A call this architecture lacks is left out. */
static void mark_entered(struct tp_probe *p)
{
    for (size_t i = 0; i < sizeof(entered_calls) / sizeof(entered_calls[0]); i++) {
        int nr = syscall_nr(entered_calls[i].name);
        if (nr < 0 || nr >= TE_SYSCALL_SLOTS)
            continue;
        int b = entered_calls[i].b < 0 ? TE_ENTERED_NONE : entered_calls[i].b;
        p->skel->rodata->entered_args[nr] = TE_ENTERED_ON | (entered_calls[i].how ? TE_ENTERED_HOW : 0) |
                                            (uint8_t)entered_calls[i].a | (uint8_t)(b << 3);
    }
}

/* Tell the dispatcher which syscalls have a handler (before load: the bits are read-only). */
static void mark_reported(struct tp_probe *p)
{
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, p->obj) {
        if (!is_handler(prog) || !bpf_program__autoload(prog) || stage_slot(bpf_program__name(prog)) >= 0)
            continue;
        uint32_t nr = handler_slot(prog);
        if (nr < TE_SYSCALL_SLOTS)
            p->skel->rodata->reported_syscalls[nr / 64] |= 1ull << (nr % 64);
    }
}

/* Put each handler into the tail-call table at its syscall number. */
static int fill_handlers(struct tp_probe *p)
{
    int table = bpf_map__fd(p->skel->maps.handlers);
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, p->obj) {
        if (!is_handler(prog) || !bpf_program__autoload(prog))
            continue;
        uint32_t nr = handler_slot(prog);
        int fd = bpf_program__fd(prog);
        if (bpf_map_update_elem(table, &nr, &fd, BPF_ANY))
            return -errno;
    }
    /* Frozen: no one writes it after this, so a stolen fd or a BPF_OBJ_GET on its pin can
     * neither delete a handler (that syscall would go unreported for every watched
     * process) nor put another program in one's place. Each load has a table of its own
     * (see pin_handlers). */
    return bpf_map_freeze(table) ? -errno : 0;
}

/* Pins this load's table in place of the one an earlier instance left, once this load's
 * links have replaced that instance's: its programs tail-call into their own table until
 * they are detached, and a program array empties when its last user reference (the pin)
 * goes, so the guards keep their handlers while tetherd is down. */
static int pin_handlers(struct tp_probe *p)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/handlers", p->pin_dir);
    if (unlink(path) && errno != ENOENT)
        return -errno;
    return bpf_obj_pin(bpf_map__fd(p->skel->maps.handlers), path) ? -errno : 0;
}

/* After every change to `tracked`, as the kernel does: copies cached per CPU are stale. */
static void tracked_changed(struct tp_probe *p)
{
    if (p->bits)
        __atomic_fetch_add(&p->bits[TE_TRACKED_GEN], 1, __ATOMIC_SEQ_CST);
}

/* Before an entry is added: the kernel's fast path must never skip one that exists. */
static void set_tracked_bit(struct tp_probe *p, uint32_t tgid)
{
    __atomic_fetch_or(&p->bits[tgid / 64], 1ull << (tgid % 64), __ATOMIC_SEQ_CST);
}

/* Every tracked tgid whose bit in the mapped bitmap is clear gets it back (someone with the
 * map's fd cleared it: the kernel's fast path would skip that process's syscalls). Returns
 * how many were clear. */
int tp_repair_tracked_bits(struct tp_probe *p)
{
    if (!p->skel || !p->bits)
        return -ENOTSUP;
    int fd = bpf_map__fd(p->skel->maps.tracked), fixed = 0;
    uint32_t key, next;
    uint32_t *prev = NULL;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (next < TE_PID_LIMIT && !(__atomic_load_n(&p->bits[next / 64], __ATOMIC_SEQ_CST) & (1ull << (next % 64)))) {
            set_tracked_bit(p, next);
            fixed++;
        }
        key = next;
        prev = &key;
    }
    if (fixed)
        tracked_changed(p);
    return fixed;
}

/* Maps tracked_bits and sets the bit of every tgid already in `tracked` (pinned from an
 * earlier instance, perhaps one that had no bitmap), before any program is attached. */
static int map_tracked_bits(struct tp_probe *p)
{
    size_t size = (TE_TRACKED_WORDS + 1) * sizeof(uint64_t);
    if (bpf_map__value_size(p->skel->maps.tracked_bits) != sizeof(uint64_t) ||
        bpf_map__max_entries(p->skel->maps.tracked_bits) != TE_TRACKED_WORDS + 1)
        return -EINVAL;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(p->skel->maps.tracked_bits), 0);
    if (m == MAP_FAILED)
        return -errno;
    p->bits = m;
    int fd = bpf_map__fd(p->skel->maps.tracked);
    uint32_t key, next;
    uint32_t *prev = NULL;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (next < TE_PID_LIMIT)
            set_tracked_bit(p, next);
        key = next;
        prev = &key;
    }
    tracked_changed(p); /* whatever a pinned cpu_state cached is stale */
    return 0;
}

/* ---- pins ---- */

static int is_state_map(struct bpf_map *m)
{
    /* .rodata/.bss are per load; scratch is per event; handlers is per load, frozen, and
     * pinned by pin_handlers; dcache_table is learned and frozen by each load */
    return !bpf_map__is_internal(m) && strcmp(bpf_map__name(m), "scratch") != 0
           && strcmp(bpf_map__name(m), "handlers") != 0 && strcmp(bpf_map__name(m), "dcache_table") != 0;
}

/* A pinned map can be taken over only if it has this build's shape; one that does not
 * (an older version's) is unpinned, with a warning, so the load starts it afresh. */
static void drop_incompatible_pin(struct bpf_map *m, const char *path)
{
    int fd = bpf_obj_get(path);
    if (fd < 0)
        return;
    struct bpf_map_info info = {0};
    uint32_t len = sizeof(info);
    int same = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == bpf_map__type(m)
               && info.key_size == bpf_map__key_size(m) && info.value_size == bpf_map__value_size(m)
               && info.max_entries == bpf_map__max_entries(m) && info.map_flags == bpf_map__map_flags(m);
    close(fd);
    if (!same) {
        fprintf(stderr, "tether: pinned map %s is from an incompatible build; its state is discarded\n", path);
        unlink(path);
    }
}

static int set_pins(struct tp_probe *p)
{
    if (mkdir(p->pin_dir, 0700) && errno != EEXIST)
        return -errno;
    struct bpf_map *m;
    char path[300];
    bpf_object__for_each_map(m, p->obj) {
        if (!is_state_map(m))
            continue;
        snprintf(path, sizeof(path), "%s/%s", p->pin_dir, bpf_map__name(m));
        if (access(path, F_OK) == 0)
            drop_incompatible_pin(m, path);
        if (access(path, F_OK) == 0)
            p->resumed = 1;
        int rc = bpf_map__set_pin_path(m, path);
        if (rc)
            return rc;
    }
    return 0;
}

static void remove_pins(struct tp_probe *p)
{
    DIR *d = opendir(p->pin_dir);
    if (!d)
        return;
    struct dirent *ent;
    char path[600];
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", p->pin_dir, ent->d_name);
        unlink(path);
    }
    closedir(d);
}

/* Pin a new link, replacing one an earlier instance left: attach-then-detach, so the
 * hook is never without a program (for an instant both run). */
static int pin_link(struct tp_probe *p, struct bpf_program *prog, struct bpf_link *link)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/link_%s", p->pin_dir, bpf_program__name(prog));
    struct bpf_link *old = NULL;
    if (access(path, F_OK) == 0) {
        old = bpf_link__open(path);
        unlink(path);
    }
    int rc = bpf_link__pin(link, path);
    if (old)
        bpf_link__destroy(old);
    return rc;
}

int tp_unpin(struct tp_probe *p)
{
    if (!p->pin_dir[0])
        return 0;
    for (uint32_t i = 0; i < p->nlinks; i++)
        bpf_link__unpin(p->links[i]);
    if (p->skel)
        bpf_object__unpin_maps(p->obj, NULL);
    remove_pins(p);
    if (rmdir(p->pin_dir) && errno != ENOENT)
        return -errno;
    return 0;
}

int tp_unpin_links(struct tp_probe *p)
{
    if (!p->pin_dir[0])
        return 0; /* nothing was pinned */
    int rc = 0;
    for (uint32_t i = 0; i < p->nlinks; i++)
        if (bpf_link__unpin(p->links[i]) && !rc)
            rc = -errno;
    return rc;
}

int tp_resumed_pins(struct tp_probe *p)
{
    return p->resumed;
}

/* The cgroup v2 root: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones. */
static int open_cgroup_root(struct tp_probe *p)
{
    const char *roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
    for (size_t i = 0; i < 2; i++) {
        char probe[128];
        snprintf(probe, sizeof(probe), "%s/cgroup.controllers", roots[i]);
        if (access(probe, F_OK) == 0) {
            snprintf(p->cgroup_root, sizeof(p->cgroup_root), "%s", roots[i]);
            int fd = open(roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            return fd < 0 ? -errno : fd;
        }
    }
    return -ENOENT;
}

static int on_record(void *ctx, void *data, size_t size)
{
    struct tp_probe *p = ctx;
    return p->fn ? p->fn(p->ctx, data, size) : 0;
}

/* ---- the ring buffer, its data mapped once ----
 * libbpf's ring_buffer maps the data area twice, back to back, so that every record is
 * contiguous; the kernel's pages are resident from the mapping on, so the buffer counts
 * twice in the reader's RSS. Here the data is mapped once, and the rare record that wraps
 * past the end is copied whole into `wrap` before it is handed on. Same protocol as
 * libbpf's consumer: a record's 8-byte header (length, busy and discard bits) sits at
 * the consumer position, and the consumer position is published after each record. */
struct ring {
    int epoll_fd;
    size_t page, size;
    uint64_t *consumer_pos; /* the one page user space writes */
    uint64_t *producer_pos; /* read-only page, followed by the data */
    uint8_t *data;
    uint8_t *wrap;
    size_t wrap_cap;
};

static void ring_free(struct ring *r)
{
    if (!r)
        return;
    if (r->epoll_fd >= 0)
        close(r->epoll_fd);
    if (r->consumer_pos)
        munmap(r->consumer_pos, r->page);
    if (r->producer_pos)
        munmap(r->producer_pos, r->page + r->size);
    free(r->wrap);
    free(r);
}

static struct ring *ring_new(int map_fd, size_t size, int *rc)
{
    struct ring *r = calloc(1, sizeof(*r));
    if (!r) {
        *rc = -ENOMEM;
        return NULL;
    }
    r->epoll_fd = -1;
    r->page = (size_t)sysconf(_SC_PAGESIZE);
    r->size = size;
    void *c = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (c == MAP_FAILED)
        goto fail;
    r->consumer_pos = c;
    void *pd = mmap(NULL, r->page + size, PROT_READ, MAP_SHARED, map_fd, (off_t)r->page);
    if (pd == MAP_FAILED)
        goto fail;
    r->producer_pos = pd;
    r->data = (uint8_t *)pd + r->page;
    r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN };
    if (r->epoll_fd < 0 || epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, map_fd, &ev))
        goto fail;
    return r;
fail:
    *rc = -errno;
    ring_free(r);
    return NULL;
}

/* Hands on every complete record; returns how many, or -errno. */
static int ring_consume(struct ring *r, struct tp_probe *p)
{
    uint64_t mask = r->size - 1;
    uint64_t cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
    int n = 0;
    for (;;) {
        uint64_t prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
        if (cons >= prod)
            return n;
        while (cons < prod) {
            uint32_t *hdr = (uint32_t *)(r->data + (cons & mask));
            uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
            if (len & BPF_RINGBUF_BUSY_BIT)
                return n; /* being written: next time */
            uint32_t body = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
            int stop = 0;
            if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
                size_t off = (cons + BPF_RINGBUF_HDR_SZ) & mask;
                void *rec = r->data + off;
                if (off + body > r->size) {
                    if (body > r->wrap_cap) {
                        uint8_t *w = realloc(r->wrap, body);
                        if (!w)
                            return -ENOMEM;
                        r->wrap = w;
                        r->wrap_cap = body;
                    }
                    size_t first = r->size - off;
                    memcpy(r->wrap, r->data + off, first);
                    memcpy(r->wrap + first, r->data, body - first);
                    rec = r->wrap;
                }
                n++;
                stop = on_record(p, rec, body);
            }
            cons += (body + BPF_RINGBUF_HDR_SZ + 7) & ~(uint64_t)7;
            __atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
            if (stop)
                return n;
        }
    }
}

int tp_open(const struct tp_options *opts, tp_record_fn fn, void *ctx,
            struct tp_probe **out, char *err, size_t errlen)
{
    char logbuf[2048];
    log_buf = logbuf;
    log_len = 0;
    log_cap = sizeof(logbuf);
    logbuf[0] = 0;
    libbpf_set_print(log_print);

    int rc;
    struct tp_probe *p = calloc(1, sizeof(*p));
    if (!p)
        return fail(-ENOMEM, err, errlen, "allocating probe");
    p->fn = fn;
    p->ctx = ctx;
    p->ncpu = libbpf_num_possible_cpus();

    if (opts && opts->floor_only) {
        p->floor = floor__open();
        if (!p->floor) { rc = -errno; goto out_fail_open; }
        p->obj = p->floor->obj;
    } else {
        p->skel = tether__open();
        if (!p->skel) { rc = -errno; goto out_fail_open; }
        p->obj = p->skel->obj;
        uint32_t rb = opts && opts->ringbuf_bytes ? opts->ringbuf_bytes : 16u << 20;
        if (rb < 4096 || (rb & (rb - 1))) {
            rc = fail(-EINVAL, err, errlen, "ring buffer size must be a power of two >= 4096");
            goto out_destroy;
        }
        bpf_map__set_max_entries(p->skel->maps.events, rb);
        if (opts && opts->wakeup_bytes)
            p->skel->rodata->wakeup_bytes = opts->wakeup_bytes;
    }
    skip_missing(p);
    skip_missing_tracepoints(p);
    if (p->skel) {
        mark_reported(p);
        mark_entered(p);
    }
    if (p->skel && opts && opts->pin_dir && *opts->pin_dir) {
        snprintf(p->pin_dir, sizeof(p->pin_dir), "%s", opts->pin_dir);
        if ((rc = set_pins(p))) {
            fail(rc, err, errlen, "preparing pins (is bpffs mounted on /sys/fs/bpf?)");
            goto out_destroy;
        }
    }

    rc = p->floor ? floor__load(p->floor) : tether__load(p->skel);
    if (rc) {
        rc = fail(rc < 0 ? rc : -rc, err, errlen, "loading BPF programs");
        goto out_destroy;
    }
    if (p->skel && (rc = fill_handlers(p))) {
        fail(rc, err, errlen, "filling the syscall handler table");
        goto out_destroy;
    }
    if (p->skel && (rc = map_tracked_bits(p))) {
        fail(rc, err, errlen, "mapping the tracked bitmap");
        goto out_destroy;
    }
    struct bpf_program *prog;
    int cgfd = -1;
    bpf_object__for_each_program(prog, p->obj) {
        if (!bpf_program__autoload(prog) || is_handler(prog))
            continue;
        if (p->nlinks >= MAX_LINKS) {
            rc = fail(-E2BIG, err, errlen, "too many programs");
            goto out_destroy;
        }
        if (strncmp(bpf_program__section_name(prog), "iter/", 5) == 0)
            continue; /* run when read (tp_dcache_samples), attached to nothing */
        struct bpf_link *link;
        if (strncmp(bpf_program__section_name(prog), "cgroup/", 7) == 0) {
            /* refusals hang off the cgroup v2 root, so they apply to every process */
            if (cgfd == -1)
                cgfd = open_cgroup_root(p);
            if (cgfd < 0) {
                /* no cgroup v2 here: the refusals are unavailable, everything else works */
                cgfd = -2;
                p->nskipped++;
                size_t used = strlen(p->skipped);
                snprintf(p->skipped + used, sizeof(p->skipped) - used, "%s%s (no cgroup v2 root)", used ? "," : "",
                         bpf_program__section_name(prog));
                continue;
            }
            link = bpf_program__attach_cgroup(prog, cgfd);
        } else {
            link = bpf_program__attach(prog);
        }
        if (!link) {
            rc = -errno;
            char what[300];
            snprintf(what, sizeof(what), "attaching %s", bpf_program__section_name(prog));
            fail(rc, err, errlen, what);
            goto out_destroy;
        }
        p->links[p->nlinks++] = link;
        if (p->pin_dir[0] && (rc = pin_link(p, prog, link))) {
            fail(rc, err, errlen, "pinning a link");
            goto out_destroy;
        }
    }
    if (cgfd >= 0)
        close(cgfd);
    if (p->skel && p->pin_dir[0] && (rc = pin_handlers(p))) {
        fail(rc, err, errlen, "pinning the syscall handler table");
        goto out_destroy;
    }
    if (p->skel) {
        p->rb = ring_new(bpf_map__fd(p->skel->maps.events), bpf_map__max_entries(p->skel->maps.events), &rc);
        if (!p->rb) {
            rc = fail(rc, err, errlen, "mapping the ring buffer");
            goto out_destroy;
        }
        int ufd = bpf_map__fd(p->skel->maps.urgent);
        p->urgent = ring_new(ufd, bpf_map__max_entries(p->skel->maps.urgent), &rc);
        struct epoll_event ev = { .events = EPOLLIN };
        if (!p->urgent || epoll_ctl(p->rb->epoll_fd, EPOLL_CTL_ADD, ufd, &ev)) {
            rc = fail(p->urgent ? -errno : rc, err, errlen, "mapping the urgent ring buffer");
            goto out_destroy;
        }
    }
    log_buf = NULL;
    *out = p;
    return 0;

out_fail_open:
    fail(rc, err, errlen, "opening BPF object");
out_destroy:
    log_buf = NULL;
    tp_close(p);
    return rc;
}

void tp_close(struct tp_probe *p)
{
    if (!p)
        return;
    if (p->bits)
        munmap(p->bits, (TE_TRACKED_WORDS + 1) * sizeof(uint64_t));
    ring_free(p->rb);
    ring_free(p->urgent);
    for (uint32_t i = 0; i < p->nlinks; i++)
        bpf_link__destroy(p->links[i]);
    if (p->skel)
        tether__destroy(p->skel);
    if (p->floor)
        floor__destroy(p->floor);
    free(p);
}

int tp_hooks(struct tp_probe *p, uint32_t *attached, uint32_t *skipped, char *names, size_t nameslen)
{
    *attached = p->nlinks;
    *skipped = p->nskipped;
    if (names && nameslen)
        snprintf(names, nameslen, "%s", p->skipped);
    return 0;
}

int tp_poll(struct tp_probe *p, int timeout_ms)
{
    if (!p->rb)
        return -ENOTSUP;
    struct epoll_event ev;
    if (timeout_ms != 0 && epoll_wait(p->rb->epoll_fd, &ev, 1, timeout_ms) < 0 && errno != EINTR)
        return -errno;
    /* woken or timed out: records below the wakeup threshold do not wake us. The urgent
     * ring first: it is small and bounded, while a flood can keep the main one busy; so a
     * rescued record may come before older ordinary ones still in the main ring. */
    int n = p->urgent ? ring_consume(p->urgent, p) : 0;
    if (n < 0)
        return n;
    int m = ring_consume(p->rb, p);
    return m < 0 ? m : n + m;
}

int tp_stat_per_cpu(struct tp_probe *p, uint32_t key, uint64_t *out, uint32_t max)
{
    if (!p->skel)
        return -ENOTSUP;
    if (key >= TE_STAT_MAX)
        return -EINVAL;
    uint64_t vals[p->ncpu];
    if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.stats), &key, vals))
        return -errno;
    int n = p->ncpu < (int)max ? p->ncpu : (int)max;
    memcpy(out, vals, n * sizeof(uint64_t));
    return n;
}

int tp_stats(struct tp_probe *p, uint64_t *out)
{
    for (uint32_t k = 0; k < TE_STAT_MAX; k++) {
        uint64_t vals[p->ncpu];
        int n = tp_stat_per_cpu(p, k, vals, p->ncpu);
        if (n < 0)
            return n;
        out[k] = 0;
        for (int i = 0; i < n; i++)
            out[k] += vals[i];
    }
    return 0;
}

static int map_fd(struct tp_probe *p, struct bpf_map *m)
{
    return p->skel ? bpf_map__fd(m) : -1;
}

/* Adds a tgid to `tracked` (map_flags: BPF_ANY or BPF_NOEXIST), its bit in tracked_bits
 * set first so the kernel's fast path never skips an entry that exists. */
static int track(struct tp_probe *p, uint32_t tgid, uint64_t session, uint32_t root_tgid, uint16_t flags,
                 uint16_t agent, uint64_t map_flags)
{
    if (!p->skel || !p->bits)
        return -ENOTSUP;
    if (tgid >= TE_PID_LIMIT)
        return -ERANGE;
    set_tracked_bit(p, tgid);
    struct te_tracked v = { .session = session, .root_tgid = root_tgid, .flags = flags, .agent = agent };
    int rc = bpf_map_update_elem(map_fd(p, p->skel->maps.tracked), &tgid, &v, map_flags) ? -errno : 0;
    tracked_changed(p);
    return rc;
}

int tp_track(struct tp_probe *p, uint32_t tgid, uint64_t session, uint32_t root_tgid, uint16_t flags, uint16_t agent)
{
    return track(p, tgid, session, root_tgid, flags, agent, BPF_ANY);
}

int tp_track_new(struct tp_probe *p, uint32_t tgid, uint64_t session, uint32_t root_tgid, uint16_t flags, uint16_t agent)
{
    return track(p, tgid, session, root_tgid, flags, agent, BPF_NOEXIST);
}

int tp_untrack(struct tp_probe *p, uint32_t tgid)
{
    if (!p->skel)
        return -ENOTSUP;
    int rc = bpf_map_delete_elem(map_fd(p, p->skel->maps.tracked), &tgid) ? -errno : 0;
    tracked_changed(p);
    return rc;
}

int tp_lookup(struct tp_probe *p, uint32_t tgid, struct te_tracked *out)
{
    if (!p->skel)
        return -ENOTSUP;
    return bpf_map_lookup_elem(map_fd(p, p->skel->maps.tracked), &tgid, out) ? -errno : 0;
}

int tp_tracked(struct tp_probe *p, uint32_t *tgids, struct te_tracked *entries, uint32_t max)
{
    if (!p->skel)
        return -ENOTSUP;
    int fd = map_fd(p, p->skel->maps.tracked);
    uint32_t key, next, n = 0;
    void *prev = NULL;
    while (n < max && bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, &entries[n]) == 0)
            tgids[n++] = next;
        key = next;
        prev = &key;
    }
    return n;
}

/* ---- agents ---- */

int tp_agent_set(struct tp_probe *p, uint32_t slot, const char *name, uint32_t flags)
{
    if (!p->skel)
        return -ENOTSUP;
    struct te_agent a;
    memset(&a, 0, sizeof(a));
    size_t len = strlen(name);
    if (slot >= TE_AGENT_MAX || len >= sizeof(a.name))
        return -EINVAL;
    a.flags = flags;
    memcpy(a.name, name, len);
    int rc = bpf_map_update_elem(bpf_map__fd(p->skel->maps.agents), &slot, &a, BPF_ANY) ? -errno : 0;
    tracked_changed(p); /* the per-CPU copies of members carry their agent's mode */
    return rc;
}

int tp_agent_get(struct tp_probe *p, uint32_t slot, struct te_agent *out)
{
    if (!p->skel)
        return -ENOTSUP;
    if (slot >= TE_AGENT_MAX)
        return -EINVAL;
    if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.agents), &slot, out))
        return -errno;
    out->name[sizeof(out->name) - 1] = 0;
    return 0;
}

/* ---- watch policy ---- */

static int set_watch_bit(struct tp_probe *p, uint32_t bit)
{
    int fd = map_fd(p, p->skel->maps.watch_config);
    uint32_t zero = 0, mask = 0;
    if (bpf_map_lookup_elem(fd, &zero, &mask))
        return -errno;
    mask |= bit;
    return bpf_map_update_elem(fd, &zero, &mask, BPF_ANY) ? -errno : 0;
}

static int clear_map(const struct bpf_map *m)
{
    char key[256];
    int fd = bpf_map__fd(m);
    if (bpf_map__key_size(m) > sizeof(key))
        return -E2BIG;
    /* Deleting while iterating restarts from the first key each time. */
    while (bpf_map_get_next_key(fd, NULL, key) == 0) {
        if (bpf_map_delete_elem(fd, key))
            return -errno;
    }
    return 0;
}

int tp_watch_clear(struct tp_probe *p)
{
    if (!p->skel)
        return -ENOTSUP;
    uint32_t zero = 0, mask = 0;
    int rc = bpf_map_update_elem(map_fd(p, p->skel->maps.watch_config), &zero, &mask, BPF_ANY) ? -errno : 0;
    if (rc)
        return rc;
    struct bpf_map *maps[] = { p->skel->maps.watch_comm, p->skel->maps.watch_uid,
                               p->skel->maps.watch_cgroup, p->skel->maps.watch_inode };
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
        if ((rc = clear_map(maps[i])))
            return rc;
    return 0;
}

static int watch_put(struct tp_probe *p, struct bpf_map *m, const void *key, uint32_t bit, uint32_t value)
{
    if (!p->skel)
        return -ENOTSUP;
    if (bpf_map_update_elem(bpf_map__fd(m), key, &value, BPF_ANY))
        return -errno;
    return set_watch_bit(p, bit);
}

int tp_watch_comm(struct tp_probe *p, const char *comm, uint32_t value)
{
    char key[TE_COMM_LEN] = {0};
    strncpy(key, comm, TE_COMM_LEN - 1);
    return watch_put(p, p->skel ? p->skel->maps.watch_comm : NULL, key, 1, value);
}

int tp_watch_uid(struct tp_probe *p, uint32_t uid, uint32_t value)
{
    return watch_put(p, p->skel ? p->skel->maps.watch_uid : NULL, &uid, 2, value);
}

int tp_watch_cgroup(struct tp_probe *p, uint64_t cgroup_id, uint32_t value)
{
    return watch_put(p, p->skel ? p->skel->maps.watch_cgroup : NULL, &cgroup_id, 4, value);
}

int tp_watch_inode(struct tp_probe *p, uint64_t dev, uint64_t ino, uint32_t value)
{
    struct te_watch_inode key = { .dev = dev, .ino = ino };
    return watch_put(p, p->skel ? p->skel->maps.watch_inode : NULL, &key, 8, value);
}

static int watch_remove(struct tp_probe *p, struct bpf_map *m, const void *key)
{
    if (!p->skel)
        return -ENOTSUP;
    return bpf_map_delete_elem(bpf_map__fd(m), key) ? -errno : 0;
}

int tp_watch_remove_comm(struct tp_probe *p, const char *comm)
{
    char key[TE_COMM_LEN] = {0};
    strncpy(key, comm, TE_COMM_LEN - 1);
    return watch_remove(p, p->skel ? p->skel->maps.watch_comm : NULL, key);
}

int tp_watch_remove_uid(struct tp_probe *p, uint32_t uid)
{
    return watch_remove(p, p->skel ? p->skel->maps.watch_uid : NULL, &uid);
}

int tp_watch_remove_cgroup(struct tp_probe *p, uint64_t cgroup_id)
{
    return watch_remove(p, p->skel ? p->skel->maps.watch_cgroup : NULL, &cgroup_id);
}

int tp_watch_remove_inode(struct tp_probe *p, uint64_t dev, uint64_t ino)
{
    struct te_watch_inode key = { .dev = dev, .ino = ino };
    return watch_remove(p, p->skel ? p->skel->maps.watch_inode : NULL, &key);
}

int tp_watch_set_mask(struct tp_probe *p, uint32_t mask)
{
    if (!p->skel)
        return -ENOTSUP;
    uint32_t zero = 0;
    return bpf_map_update_elem(map_fd(p, p->skel->maps.watch_config), &zero, &mask, BPF_ANY) ? -errno : 0;
}

/* ---- signals ---- */

/* A pidfd of `pid` if, with the pidfd open, the kernel still has it in `session`: -ESRCH if
 * it is gone or not a member. */
static int member_pidfd(struct tp_probe *p, int pid, uint64_t session)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -errno;
    struct te_tracked t;
    int rc = tp_lookup(p, (uint32_t)pid, &t);
    if (rc == -ENOENT || (rc == 0 && t.session != session))
        rc = -ESRCH;
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

int tp_session_signal(struct tp_probe *p, int pid, uint64_t session, int sig)
{
    int fd = member_pidfd(p, pid, session);
    if (fd < 0)
        return fd;
    int rc = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) ? -errno : 0;
    close(fd);
    return rc;
}

int tp_session_open_fd(struct tp_probe *p, int pid, uint64_t session, int fdnum)
{
    int pfd = member_pidfd(p, pid, session);
    if (pfd < 0)
        return pfd;
    int rc;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fdnum);
    /* a new open file of our own: O_NONBLOCK here never changes the member's descriptor */
    int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    rc = fd < 0 ? -errno : 0;
    /* still alive after the open (its pidfd not readable): the pid was not reused meanwhile */
    struct pollfd pl = { .fd = pfd, .events = POLLIN };
    if (rc == 0 && poll(&pl, 1, 0) != 0)
        rc = -ESRCH;
    struct stat st;
    if (rc == 0 && fstat(fd, &st))
        rc = -errno;
    if (rc == 0 && !S_ISFIFO(st.st_mode) && !(S_ISCHR(st.st_mode) && isatty(fd)))
        rc = -ENOTTY; /* a file, socket, /dev/null: not the agent's terminal or tool output */
    if (rc && fd >= 0)
        close(fd);
    close(pfd);
    return rc ? rc : fd;
}

uint64_t tp_kernel_dev(uint64_t st_dev)
{
    return ((uint64_t)major(st_dev) << 20) | minor(st_dev);
}

/* ---- refusal: Landlock and seccomp (constants of newer ABIs defined here, since the
 * build host's headers may predate them; their values are the kernel's stable ABI) ---- */

#define TP_LL_CREATE_RULESET_VERSION (1U << 0)
#define TP_LL_RULE_PATH_BENEATH 1
#define TP_LL_RULE_NET_PORT 2
#define TP_LL_FS_FILE_RIGHTS ((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 14) | (1ULL << 15))

int tp_landlock_abi(void)
{
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, TP_LL_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

int tp_landlock_ruleset(uint64_t handled_fs, uint64_t handled_net, uint64_t scoped, int abi)
{
    struct { uint64_t fs, net, scoped; } attr = { handled_fs, handled_net, scoped };
    /* the attribute grew with the ABI: 1-3 know handled_access_fs, 4-5 also _net, 6+ scoped */
    size_t size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
    long fd = syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    return fd < 0 ? -errno : (int)fd;
}

int tp_landlock_allow_path(int ruleset_fd, const char *path, uint64_t access)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!S_ISDIR(st.st_mode))
        access &= TP_LL_FS_FILE_RIGHTS;
    struct __attribute__((packed)) { uint64_t allowed; int32_t parent_fd; } attr = { access, fd };
    long rc = access ? syscall(__NR_landlock_add_rule, ruleset_fd, TP_LL_RULE_PATH_BENEATH, &attr, 0) : 0;
    int e = errno;
    close(fd);
    return rc < 0 ? -e : 0;
}

int tp_landlock_allow_port(int ruleset_fd, uint64_t port, uint64_t access)
{
    struct { uint64_t allowed, port; } attr = { access, port };
    return syscall(__NR_landlock_add_rule, ruleset_fd, TP_LL_RULE_NET_PORT, &attr, 0) < 0 ? -errno : 0;
}

int tp_io_uring_probe(void)
{
    unsigned char params[120] = { 0 }; /* struct io_uring_params */
    long r = syscall(__NR_io_uring_setup, 1, params);
    if (r < 0)
        return errno;
    close((int)r);
    return 0;
}

#define TP_SYS(n) { #n, __NR_##n }
static const struct { const char *name; int nr; } refusable[] = {
    TP_SYS(io_uring_setup), TP_SYS(io_uring_enter), TP_SYS(io_uring_register),
    TP_SYS(bpf), TP_SYS(init_module), TP_SYS(finit_module), TP_SYS(delete_module),
    TP_SYS(kexec_load), TP_SYS(kexec_file_load), TP_SYS(open_by_handle_at),
    TP_SYS(process_vm_writev), TP_SYS(process_vm_readv), TP_SYS(pidfd_getfd), TP_SYS(userfaultfd),
    TP_SYS(reboot), TP_SYS(swapon), TP_SYS(swapoff), TP_SYS(acct),
#ifdef __NR_iopl
    TP_SYS(iopl), TP_SYS(ioperm),
#endif
    TP_SYS(settimeofday), TP_SYS(clock_settime), TP_SYS(clock_adjtime), TP_SYS(ptrace),
    TP_SYS(perf_event_open), TP_SYS(keyctl), TP_SYS(add_key), TP_SYS(request_key),
};

int tp_syscall_number(const char *name)
{
    for (size_t i = 0; i < sizeof(refusable) / sizeof(refusable[0]); i++)
        if (!strcmp(refusable[i].name, name))
            return refusable[i].nr;
    return -1;
}

int tp_seccomp_insn_size(void) { return (int)sizeof(struct sock_filter); }

int tp_seccomp_build(const int *refused, int count, int err, void *out, int max)
{
#if defined(__x86_64__)
    /* arch check, load nr, x32 check, one compare per refused syscall, ioctl(TIOCSTI)
     * (input pushed into a terminal: no agent needs it), allow, refuse, kill */
    int n = 5 + count + 6;
    if (count < 0 || count > 250)
        return -E2BIG;
    if (n > max)
        return -E2BIG;
    struct sock_filter *f = out;
    int k = 0;
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    /* x32 syscalls share the arch and set bit 30 of the number */
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, (unsigned char)(count + 5), 0);
    for (int i = 0; i < count; i++)
        f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)refused[i], (unsigned char)(count + 3 - i), 0);
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 2);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x5412 /* TIOCSTI */, 1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA));
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    return k;
#else
    (void)refused; (void)count; (void)err; (void)out; (void)max;
    return -ENOTSUP;
#endif
}

/* ---- held spawn ---- */

/* The child's report of what failed: errno in the low 16 bits, the stage above. */
static void child_fail(int fd, int stage, int e)
{
    int v = (stage << 16) | (e & 0xffff);
    while (write(fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    _exit(127);
}

int tp_spawn_held(char *const argv[], const char *cwd, const char *stdout_path, const struct tp_confine *confine,
                  int *pid_out, int *release_fd_out, int *status_fd_out)
{
    int go[2], status[2];
    if (pipe2(go, O_CLOEXEC))
        return -errno;
    if (pipe2(status, O_CLOEXEC)) {
        int rc = -errno;
        close(go[0]);
        close(go[1]);
        return rc;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        close(go[0]); close(go[1]); close(status[0]); close(status[1]);
        return rc;
    }
    if (pid == 0) {
        /* child: only async-signal-safe calls from here */
        char c;
        /* A process group of its own: kill(0, …) or a terminal's signals to the agent's
         * group never reach the launcher that watches it (it would die of a SIGKILL). */
        setpgid(0, 0);
        close(go[1]);
        close(status[0]);
        while (read(go[0], &c, 1) < 0 && errno == EINTR)
            ;
        if (cwd && chdir(cwd))
            child_fail(status[1], TP_STAGE_CWD, errno);
        if (stdout_path) {
            int fd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 || dup2(fd, 1) < 0)
                child_fail(status[1], TP_STAGE_STDOUT, errno);
        }
        if (confine) {
            /* order: no_new_privs (lets an unprivileged caller restrict itself), Landlock,
             * then seccomp, so the filter cannot refuse the Landlock call */
            if (confine->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
                child_fail(status[1], TP_STAGE_NO_NEW_PRIVS, errno);
            if (confine->ruleset_fd >= 0 && syscall(__NR_landlock_restrict_self, confine->ruleset_fd, 0))
                child_fail(status[1], TP_STAGE_LANDLOCK, errno);
            if (confine->filter_len) {
                struct sock_fprog prog = { .len = confine->filter_len, .filter = (struct sock_filter *)confine->filter };
                if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
                    child_fail(status[1], TP_STAGE_SECCOMP, errno);
            }
        }
        execvp(argv[0], argv);
        child_fail(status[1], TP_STAGE_EXEC, errno);
    }
    setpgid(pid, pid); /* also from here, so that it holds whichever side runs first */
    close(go[0]);
    close(status[1]);
    *pid_out = pid;
    *release_fd_out = go[1];
    *status_fd_out = status[0];
    return 0;
}

int tp_spawn_answer(const char *path, char *const argv[], char *const envp[], int stdout_fd, int *pid_out)
{
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return -rc;
    if (!(rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0))
        && !(rc = posix_spawn_file_actions_adddup2(&fa, stdout_fd, 1))
        && !(rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0))
        && !(rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3))) {
        pid_t pid;
        rc = posix_spawn(&pid, path, &fa, NULL, argv, envp);
        if (!rc)
            *pid_out = pid;
    }
    posix_spawn_file_actions_destroy(&fa);
    return -rc;
}

int tp_spawn_release(int release_fd, int status_fd, int *stage_out)
{
    char c = 1;
    int rc = 0;
    while (write(release_fd, &c, 1) < 0 && errno == EINTR)
        ;
    close(release_fd);
    int v = 0;
    ssize_t n;
    while ((n = read(status_fd, &v, sizeof(v))) < 0 && errno == EINTR)
        ;
    *stage_out = TP_STAGE_EXEC;
    if (n == (ssize_t)sizeof(v)) {
        rc = -(v & 0xffff);
        *stage_out = v >> 16;
    }
    close(status_fd);
    return rc;
}

/* ---- guards ---- */

static int update(struct bpf_map *m, const void *k, const void *v)
{
    return bpf_map_update_elem(bpf_map__fd(m), k, v, BPF_ANY) ? -errno : 0;
}

int tp_guard_config(struct tp_probe *p, uint32_t guards)
{
    if (!p->skel)
        return -ENOTSUP;
    uint32_t zero = 0;
    return update(p->skel->maps.guard_config, &zero, &guards);
}

int tp_protected_pids(struct tp_probe *p, uint32_t *out, uint32_t max)
{
    if (!p->skel)
        return -ENOTSUP;
    int fd = bpf_map__fd(p->skel->maps.protected_pids);
    uint32_t key, next, n = 0;
    uint32_t *prev = NULL;
    while (n < max && bpf_map_get_next_key(fd, prev, &next) == 0) {
        out[n++] = next;
        key = next;
        prev = &key;
    }
    return (int)n;
}

int tp_protect_pid(struct tp_probe *p, uint32_t tgid, int on)
{
    if (!p->skel)
        return -ENOTSUP;
    uint8_t one = 1;
    if (on)
        return update(p->skel->maps.protected_pids, &tgid, &one);
    return bpf_map_delete_elem(bpf_map__fd(p->skel->maps.protected_pids), &tgid) && errno != ENOENT ? -errno : 0;
}

int tp_protect_inode(struct tp_probe *p, uint64_t dev, uint64_t ino, uint32_t flags)
{
    if (!p->skel)
        return -ENOTSUP;
    struct te_watch_inode key = { .dev = dev, .ino = ino };
    uint32_t v = (flags & TE_PROTECT_MASK) | (uint32_t)p->guard_gen << TE_GUARD_GEN_SHIFT;
    return update(p->skel->maps.protected_inodes, &key, &v);
}

int tp_deputy_exe(struct tp_probe *p, uint64_t dev, uint64_t ino, uint32_t kind)
{
    if (!p->skel)
        return -ENOTSUP;
    if (!kind)
        return -EINVAL;
    struct te_watch_inode key = { .dev = dev, .ino = ino };
    uint32_t v = (kind & TE_PROTECT_MASK) | (uint32_t)p->guard_gen << TE_GUARD_GEN_SHIFT;
    return update(p->skel->maps.deputy_exes, &key, &v);
}

int tp_local_addr(struct tp_probe *p, const uint8_t addr[16])
{
    if (!p->skel)
        return -ENOTSUP;
    struct te_local_addr key;
    memcpy(key.addr, addr, 16);
    uint32_t v = 1 | (uint32_t)p->guard_gen << TE_GUARD_GEN_SHIFT;
    return update(p->skel->maps.local_addrs, &key, &v);
}

int tp_deputy_proc(struct tp_probe *p, uint32_t pid, uint32_t kind, uint64_t start)
{
    if (!p->skel)
        return -ENOTSUP;
    if (!kind || !pid)
        return -EINVAL;
    struct te_deputy_proc v = { .kind = (kind & TE_PROTECT_MASK) | (uint32_t)p->guard_gen << TE_GUARD_GEN_SHIFT, .start = start };
    return update(p->skel->maps.deputy_procs, &pid, &v);
}

int tp_deputy_script(struct tp_probe *p, uint64_t dev, uint64_t ino, uint64_t hash, uint64_t dir_dev, uint64_t dir_ino, uint32_t kind)
{
    if (!p->skel)
        return -ENOTSUP;
    if (!kind)
        return -EINVAL;
    struct te_deputy_script key = { .interp = { .dev = dev, .ino = ino }, .hash = hash, .dir = { .dev = dir_dev, .ino = dir_ino } };
    uint32_t gen = (uint32_t)p->guard_gen << TE_GUARD_GEN_SHIFT, one = 1 | gen, v = (kind & TE_PROTECT_MASK) | gen;
    int rc = update(p->skel->maps.deputy_interps, &key.interp, &one);
    return rc ? rc : update(p->skel->maps.deputy_scripts, &key, &v);
}

int tp_unprotect_inode(struct tp_probe *p, uint64_t dev, uint64_t ino)
{
    if (!p->skel)
        return -ENOTSUP;
    struct te_watch_inode key = { .dev = dev, .ino = ino };
    return bpf_map_delete_elem(bpf_map__fd(p->skel->maps.protected_inodes), &key) && errno != ENOENT ? -errno : 0;
}

int tp_protect_name(struct tp_probe *p, uint64_t dev, uint64_t dir_ino, const char *name, uint32_t flags)
{
    if (!p->skel)
        return -ENOTSUP;
    struct te_protected_name key;
    memset(&key, 0, sizeof(key));
    size_t len = strlen(name);
    if (len == 0 || len >= sizeof(key.name) || strchr(name, '/'))
        return -EINVAL;
    key.dev = dev;
    key.ino = dir_ino;
    memcpy(key.name, name, len);
    uint32_t v = (flags & TE_PROTECT_MASK) | (uint32_t)p->guard_gen << TE_GUARD_GEN_SHIFT;
    return update(p->skel->maps.protected_names, &key, &v);
}

int tp_protect_clear(struct tp_probe *p)
{
    if (!p->skel)
        return -ENOTSUP;
    int rc = clear_map(p->skel->maps.protected_inodes);
    return rc ? rc : clear_map(p->skel->maps.protected_names);
}

static void net_key(struct te_net_key *k, uint16_t agent, const uint8_t addr[16], uint32_t bits)
{
    memset(k, 0, sizeof(*k));
    k->prefixlen = 16 + bits;
    k->agent = agent;
    memcpy(k->addr, addr, 16);
}

int tp_egress_allow(struct tp_probe *p, uint16_t agent, const uint8_t addr[16], uint32_t bits,
                    const uint16_t *lo, const uint16_t *hi, uint32_t nranges)
{
    if (!p->skel)
        return -ENOTSUP;
    if (bits > 128)
        return -EINVAL;
    struct te_net_key k;
    net_key(&k, agent, addr, bits);
    struct te_net_ports v = {0};
    int fd = bpf_map__fd(p->skel->maps.egress_allow);
    uint32_t used = 0;
    /* merge with what this plan already allows for this prefix ("any port" absorbs
     * everything); what an earlier plan wrote is replaced */
    if (bpf_map_lookup_elem(fd, &k, &v) == 0 && v.gen == p->guard_gen) {
        if (v.hi[0] == 0)
            return 0;
        while (used < TE_NET_PORTS && v.hi[used]) used++;
    } else {
        memset(&v, 0, sizeof(v));
    }
    v.gen = p->guard_gen;
    if (nranges == 0) {
        memset(&v, 0, sizeof(v));
        v.gen = p->guard_gen;
    } else {
        for (uint32_t i = 0; i < nranges; i++) {
            if (hi[i] == 0 || lo[i] > hi[i])
                return -EINVAL;
            if (used >= TE_NET_PORTS)
                return -E2BIG;
            v.lo[used] = lo[i];
            v.hi[used] = hi[i];
            used++;
        }
    }
    return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? -errno : 0;
}

int tp_egress_deny(struct tp_probe *p, const uint8_t addr[16], uint32_t bits,
                   const uint16_t *lo, const uint16_t *hi, uint32_t nranges)
{
    if (!p->skel)
        return -ENOTSUP;
    if (bits > 128 || nranges > TE_NET_PORTS)
        return -EINVAL;
    struct te_net_key k;
    net_key(&k, 0, addr, bits);
    struct te_net_ports v = { .gen = p->guard_gen };
    for (uint32_t i = 0; i < nranges; i++) {
        if (hi[i] == 0 || lo[i] > hi[i])
            return -EINVAL;
        v.lo[i] = lo[i];
        v.hi[i] = hi[i];
    }
    return update(p->skel->maps.egress_deny, &k, &v);
}

int tp_egress_clear(struct tp_probe *p)
{
    if (!p->skel)
        return -ENOTSUP;
    int rc = clear_map(p->skel->maps.egress_allow);
    return rc ? rc : clear_map(p->skel->maps.egress_deny);
}

int tp_guard_config_get(struct tp_probe *p, uint32_t *guards)
{
    if (!p->skel)
        return -ENOTSUP;
    uint32_t zero = 0;
    return bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.guard_config), &zero, guards) ? -errno : 0;
}

int tp_dcache_samples(struct tp_probe *p, struct te_dcache_sample *out, uint32_t max)
{
    if (!p->skel)
        return -ENOTSUP;
    struct bpf_link *link = bpf_program__attach_iter(p->skel->progs.dcache_sample, NULL);
    if (!link)
        return -errno;
    int fd = bpf_iter_create(bpf_link__fd(link));
    if (fd < 0) {
        int rc = -errno;
        bpf_link__destroy(link);
        return rc;
    }
    size_t cap = (size_t)max * sizeof(*out), got = 0;
    char chunk[4096];
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        size_t take = got + (size_t)n > cap ? cap - got : (size_t)n;
        memcpy((char *)out + got, chunk, take);
        got += take;
        if (got == cap)
            break; /* enough: the rest is not read */
    }
    close(fd);
    bpf_link__destroy(link);
    return rc ? rc : (int)(got / sizeof(*out));
}

int tp_dcache_set(struct tp_probe *p, uint64_t table, uint32_t shift)
{
    if (!p->skel)
        return -ENOTSUP;
    uint32_t zero = 0;
    struct te_dcache v = { .table = table, .shift = shift };
    int rc = update(p->skel->maps.dcache_table, &zero, &v);
    if (rc)
        return rc;
    /* written once per load: frozen, so that nothing can point the resolver elsewhere */
    return bpf_map_freeze(bpf_map__fd(p->skel->maps.dcache_table)) ? -errno : 0;
}

/* The maps a guard plan writes (guard_map): protected inodes and names, egress allow and
 * deny, deputy executables, this host's addresses, deputy processes, and the scripted
 * deputies' interpreters and scripts. */
#define GUARD_MAPS 9

/* The generation of an entry's value in each guard map. */
static uint16_t entry_gen(int which, const void *value)
{
    switch (which) {
    case 0: case 1: case 4: case 5: case 6: case 7: case 8: return (uint16_t)(*(const uint32_t *)value >> TE_GUARD_GEN_SHIFT);
    default: return ((const struct te_net_ports *)value)->gen;
    }
}

static struct bpf_map *guard_map(struct tp_probe *p, int which)
{
    switch (which) {
    case 0: return p->skel->maps.protected_inodes;
    case 1: return p->skel->maps.protected_names;
    case 2: return p->skel->maps.egress_allow;
    case 3: return p->skel->maps.egress_deny;
    case 4: return p->skel->maps.deputy_exes;
    case 5: return p->skel->maps.local_addrs;
    case 6: return p->skel->maps.deputy_procs;
    case 7: return p->skel->maps.deputy_interps;
    default: return p->skel->maps.deputy_scripts;
    }
}

int tp_guard_begin(struct tp_probe *p)
{
    if (!p->skel)
        return -ENOTSUP;
    /* one past the newest plan in the maps (pinned ones included), never 0 twice in a row */
    uint16_t newest = p->guard_gen;
    for (int which = 0; which < GUARD_MAPS; which++) {
        struct bpf_map *m = guard_map(p, which);
        char key[128], value[64];
        if (bpf_map__key_size(m) > sizeof(key) || bpf_map__value_size(m) > sizeof(value))
            return -E2BIG;
        if (bpf_map_get_next_key(bpf_map__fd(m), NULL, key) == 0 && bpf_map_lookup_elem(bpf_map__fd(m), key, value) == 0) {
            uint16_t g = entry_gen(which, value);
            if ((uint16_t)(g - newest) < 0x8000)
                newest = g;
        }
    }
    p->guard_gen = newest + 1;
    return p->guard_gen;
}

int tp_guard_sweep(struct tp_probe *p)
{
    if (!p->skel)
        return -ENOTSUP;
    int removed = 0;
    for (int which = 0; which < GUARD_MAPS; which++) {
        struct bpf_map *m = guard_map(p, which);
        int fd = bpf_map__fd(m);
        size_t ks = bpf_map__key_size(m), cap = bpf_map__max_entries(m);
        char value[64];
        char *stale = malloc(ks * cap), *key = malloc(ks), *prev = malloc(ks);
        if (!stale || !key || !prev) {
            free(stale); free(key); free(prev);
            return -ENOMEM;
        }
        /* collect first, then delete: deleting while iterating restarts the iteration */
        size_t n = 0;
        int first = 1;
        while (n < cap && bpf_map_get_next_key(fd, first ? NULL : prev, key) == 0) {
            first = 0;
            if (bpf_map_lookup_elem(fd, key, value) == 0 && entry_gen(which, value) != p->guard_gen)
                memcpy(stale + ks * n++, key, ks);
            memcpy(prev, key, ks);
        }
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (bpf_map_delete_elem(fd, stale + ks * i) && errno != ENOENT && !rc)
                rc = -errno;
            else
                removed++;
        }
        free(stale); free(key); free(prev);
        if (rc)
            return rc;
    }
    return removed;
}

int tp_frozen_set(struct tp_probe *p, uint64_t session, int frozen)
{
    if (!p->skel)
        return -ENOTSUP;
    int fd = bpf_map__fd(p->skel->maps.frozen);
    if (frozen) {
        uint64_t now = 0;
        return bpf_map_update_elem(fd, &session, &now, BPF_ANY) ? -errno : 0;
    }
    return bpf_map_delete_elem(fd, &session) && errno != ENOENT ? -errno : 0;
}

int tp_frozen_get(struct tp_probe *p, uint64_t session)
{
    if (!p->skel)
        return -ENOTSUP;
    uint64_t v;
    return bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.frozen), &session, &v) == 0;
}

int tp_pidfd_signal(int pid, int sig)
{
    int fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -errno;
    int rc = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) ? -errno : 0;
    close(fd);
    return rc;
}

int tp_pidfd_open(int pid)
{
    int fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : fd;
}


int tp_remove_file_capability(const char *path)
{
    return lremovexattr(path, "security.capability") ? -errno : 0;
}
