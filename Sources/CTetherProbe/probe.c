/* The only code that talks to libbpf. See include/tether_probe.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "tether_probe.h"
#include "generated/tether.skel.h"
#include "generated/floor.skel.h"

#define MAX_LINKS 16

struct tp_probe {
    struct tether *skel;
    struct floor *floor;
    struct bpf_object *obj;
    struct ring_buffer *rb;
    struct bpf_link *links[MAX_LINKS];
    uint32_t nlinks;
    uint32_t nskipped;
    char skipped[1024];
    int ncpu;
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

/* Syscall numbers of the handler programs (h_NAME), from this architecture's headers. */
#ifndef SYS_fchmodat2
#if defined(__x86_64__)
#define SYS_fchmodat2 452
#endif
#endif
#define SC(name) { #name, SYS_##name }
static const struct { const char *name; long nr; } syscalls[] = {
    SC(setsid), SC(setuid), SC(setreuid), SC(setresuid), SC(setfsuid), SC(setgid), SC(setregid),
    SC(setresgid), SC(setfsgid), SC(capset), SC(execve), SC(execveat),
#ifdef SYS_open
    SC(open), SC(creat), SC(rename), SC(link), SC(symlink), SC(unlink), SC(rmdir), SC(mkdir),
    SC(chmod), SC(chown), SC(lchown), SC(mknod),
#endif
    SC(openat), SC(openat2), SC(renameat), SC(renameat2), SC(linkat), SC(symlinkat),
    SC(unlinkat), SC(mkdirat), SC(fchmodat), SC(fchmodat2), SC(fchmod), SC(fchownat), SC(fchown),
    SC(truncate), SC(ftruncate), SC(mknodat), SC(connect), SC(bind), SC(sendto), SC(sendmsg),
    SC(listen), SC(ptrace), SC(unshare), SC(setns), SC(bpf), SC(kill), SC(tkill), SC(tgkill),
    SC(pidfd_send_signal), SC(io_uring_setup), SC(memfd_create), SC(mount), SC(umount2),
    SC(chroot), SC(pivot_root), SC(fsopen), SC(fsmount), SC(move_mount), SC(open_tree),
    SC(fspick), SC(mount_setattr), SC(init_module), SC(finit_module),
};

static long syscall_nr(const char *name)
{
    if (strcmp(name, "umount") == 0)
        name = "umount2";
    for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++)
        if (strcmp(syscalls[i].name, name) == 0)
            return syscalls[i].nr;
    return -1;
}

static int is_handler(struct bpf_program *prog)
{
    return strncmp(bpf_program__name(prog), "h_", 2) == 0;
}

/* Handlers for syscalls this architecture lacks are not loaded; they are reported. */
static void skip_missing(struct tp_probe *p)
{
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, p->obj) {
        if (!is_handler(prog) || syscall_nr(bpf_program__name(prog) + 2) >= 0)
            continue;
        bpf_program__set_autoload(prog, false);
        p->nskipped++;
        size_t used = strlen(p->skipped);
        snprintf(p->skipped + used, sizeof(p->skipped) - used, "%s%s", used ? "," : "",
                 bpf_program__name(prog) + 2);
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
        uint32_t nr = syscall_nr(bpf_program__name(prog) + 2);
        int fd = bpf_program__fd(prog);
        if (bpf_map_update_elem(table, &nr, &fd, BPF_ANY))
            return -errno;
    }
    return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
    struct tp_probe *p = ctx;
    return p->fn ? p->fn(p->ctx, data, size) : 0;
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

    if (p->skel && opts && opts->pin_dir && opts->pin_dir[0]) {
        char path[512];
        if (mkdir(opts->pin_dir, 0700) && errno != EEXIST) {
            rc = -errno;
            snprintf(path, sizeof(path), "creating the pin directory %s (is bpffs mounted there or above?)", opts->pin_dir);
            fail(rc, err, errlen, path);
            goto out_destroy;
        }
        snprintf(path, sizeof(path), "%s/tracked", opts->pin_dir);
        if ((rc = bpf_map__set_pin_path(p->skel->maps.tracked, path))) {
            fail(rc, err, errlen, "setting the tracked map's pin path");
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
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, p->obj) {
        if (!bpf_program__autoload(prog) || is_handler(prog))
            continue;
        if (p->nlinks >= MAX_LINKS) {
            rc = fail(-E2BIG, err, errlen, "too many programs");
            goto out_destroy;
        }
        struct bpf_link *link = bpf_program__attach(prog);
        if (!link) {
            rc = -errno;
            char what[300];
            snprintf(what, sizeof(what), "attaching %s", bpf_program__section_name(prog));
            fail(rc, err, errlen, what);
            goto out_destroy;
        }
        p->links[p->nlinks++] = link;
    }
    if (p->skel) {
        p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), on_record, p, NULL);
        if (!p->rb) {
            rc = fail(-errno, err, errlen, "opening ring buffer");
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
    ring_buffer__free(p->rb);
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
    int n = ring_buffer__poll(p->rb, timeout_ms);
    if (n < 0)
        return n == -EINTR ? 0 : n;
    /* Records below the wakeup threshold do not wake us: collect them now. */
    int m = ring_buffer__consume(p->rb);
    if (m < 0)
        return m;
    return n + m;
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

int tp_track(struct tp_probe *p, uint32_t tgid, uint64_t session, uint32_t root_tgid)
{
    if (!p->skel)
        return -ENOTSUP;
    struct te_tracked v = { .session = session, .root_tgid = root_tgid };
    return bpf_map_update_elem(map_fd(p, p->skel->maps.tracked), &tgid, &v, BPF_ANY) ? -errno : 0;
}

int tp_untrack(struct tp_probe *p, uint32_t tgid)
{
    if (!p->skel)
        return -ENOTSUP;
    return bpf_map_delete_elem(map_fd(p, p->skel->maps.tracked), &tgid) ? -errno : 0;
}

int tp_lookup(struct tp_probe *p, uint32_t tgid, uint64_t *session)
{
    if (!p->skel)
        return -ENOTSUP;
    struct te_tracked v;
    if (bpf_map_lookup_elem(map_fd(p, p->skel->maps.tracked), &tgid, &v))
        return -errno;
    *session = v.session;
    return 0;
}

int tp_tracked(struct tp_probe *p, uint32_t *tgids, uint64_t *sessions, uint32_t *roots, uint32_t max)
{
    if (!p->skel)
        return -ENOTSUP;
    int fd = map_fd(p, p->skel->maps.tracked);
    uint32_t key, next, n = 0;
    void *prev = NULL;
    while (n < max && bpf_map_get_next_key(fd, prev, &next) == 0) {
        struct te_tracked v;
        if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
            tgids[n] = next;
            sessions[n] = v.session;
            if (roots)
                roots[n] = v.root_tgid;
            n++;
        }
        key = next;
        prev = &key;
    }
    return n;
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

static int clear_map(int fd)
{
    char key[64], next[64];
    /* Deleting while iterating restarts from the first key each time. */
    while (bpf_map_get_next_key(fd, NULL, next) == 0) {
        memcpy(key, next, sizeof(key));
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
        if ((rc = clear_map(bpf_map__fd(maps[i]))))
            return rc;
    return 0;
}

static int watch_put(struct tp_probe *p, struct bpf_map *m, const void *key, uint32_t bit)
{
    if (!p->skel)
        return -ENOTSUP;
    uint8_t one = 1;
    if (bpf_map_update_elem(bpf_map__fd(m), key, &one, BPF_ANY))
        return -errno;
    return set_watch_bit(p, bit);
}

int tp_watch_comm(struct tp_probe *p, const char *comm)
{
    char key[TE_COMM_LEN] = {0};
    strncpy(key, comm, TE_COMM_LEN - 1);
    return watch_put(p, p->skel ? p->skel->maps.watch_comm : NULL, key, 1);
}

int tp_watch_uid(struct tp_probe *p, uint32_t uid)
{
    return watch_put(p, p->skel ? p->skel->maps.watch_uid : NULL, &uid, 2);
}

int tp_watch_cgroup(struct tp_probe *p, uint64_t cgroup_id)
{
    return watch_put(p, p->skel ? p->skel->maps.watch_cgroup : NULL, &cgroup_id, 4);
}

int tp_watch_inode(struct tp_probe *p, uint64_t dev, uint64_t ino)
{
    struct te_watch_inode key = { .dev = dev, .ino = ino };
    return watch_put(p, p->skel ? p->skel->maps.watch_inode : NULL, &key, 8);
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

int tp_pidfd_signal(int pid, int sig)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -errno;
    int rc = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) ? -errno : 0;
    close(fd);
    return rc;
}

int tp_session_signal(struct tp_probe *p, int pid, uint64_t session, int sig)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -errno;
    uint64_t s = 0;
    int rc = tp_lookup(p, (uint32_t)pid, &s);
    if (rc == 0 && s != session)
        rc = -ESRCH;
    else if (rc == -ENOENT)
        rc = -ESRCH;
    if (rc == 0)
        rc = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) ? -errno : 0;
    close(fd);
    return rc;
}

uint64_t tp_kernel_dev(uint64_t st_dev)
{
    return ((uint64_t)major(st_dev) << 20) | minor(st_dev);
}

/* ---- held spawn ---- */

int tp_spawn_held(char *const argv[], const char *cwd, int *pid_out, int *release_fd_out, int *status_fd_out)
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
        close(go[1]);
        close(status[0]);
        while (read(go[0], &c, 1) < 0 && errno == EINTR)
            ;
        int e = 0;
        if (cwd && chdir(cwd))
            e = errno;
        if (!e) {
            execvp(argv[0], argv);
            e = errno;
        }
        while (write(status[1], &e, sizeof(e)) < 0 && errno == EINTR)
            ;
        _exit(127);
    }
    close(go[0]);
    close(status[1]);
    *pid_out = pid;
    *release_fd_out = go[1];
    *status_fd_out = status[0];
    return 0;
}

int tp_spawn_release(int release_fd, int status_fd)
{
    char c = 1;
    int rc = 0;
    while (write(release_fd, &c, 1) < 0 && errno == EINTR)
        ;
    close(release_fd);
    int e = 0;
    ssize_t n;
    while ((n = read(status_fd, &e, sizeof(e))) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof(e))
        rc = -e;
    close(status_fd);
    return rc;
}
