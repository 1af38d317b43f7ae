/* Thin C façade over the generated BPF skeletons, so Swift never sees libbpf.
 * One return convention: 0 (or a count) on success, -errno on failure; a failed load
 * leaves a human-readable reason (libbpf's and the verifier's last words) in the
 * caller's buffer. */
#ifndef TETHER_PROBE_H
#define TETHER_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include "tether_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tp_probe;

struct tp_options {
    uint32_t ringbuf_bytes;   /* power of two, >= 4096; 0 = default (16 MiB) */
    uint32_t wakeup_bytes;    /* wake the reader once per this many bytes a CPU writes; 0 = default (1 MiB) */
    uint32_t floor_only;      /* load the empty floor programs instead (benchmarks) */
    /* Pin maps and links under this bpffs directory (e.g. /sys/fs/bpf/tether): the programs
     * keep guarding and tracking after the process dies, and the next tp_open with the same
     * directory takes over the same maps (sessions, frozen marks, unread events). NULL = no pins. */
    const char *pin_dir;
};

/* Called once per ring buffer record; return non-zero to stop the current poll. */
typedef int (*tp_record_fn)(void *ctx, const void *data, size_t size);

/* ---- lifecycle ---- */
int tp_open(const struct tp_options *opts, tp_record_fn fn, void *ctx,
            struct tp_probe **out, char *err, size_t errlen);
/* Closes our handles. Pinned programs stay attached (that is the point of pinning). */
void tp_close(struct tp_probe *p);
/* Removes every pin of this probe, so tp_close detaches all: a deliberate, clean stop. */
int tp_unpin(struct tp_probe *p);
/* Removes only the links' pins: tp_close then detaches the programs, while the maps
 * (sessions, frozen marks) stay pinned for the next instance. A deliberate stop. */
int tp_unpin_links(struct tp_probe *p);
/* 1 if tp_open took over pinned state left by an earlier instance. */
int tp_resumed_pins(struct tp_probe *p);

/* Hooks attached, and syscall handlers skipped because this architecture lacks the
 * syscall (their names, comma separated, into `names`). */
int tp_hooks(struct tp_probe *p, uint32_t *attached, uint32_t *skipped, char *names, size_t nameslen);

/* ---- the schema as C compiled it (tether_events.def), for the tests ---- */
/* Row i of the event kinds: its JSON name and number; -ENOENT past the last. */
int tp_schema_kind(uint32_t i, const char **json, uint16_t *number);
/* Row i of the syscalls with a handler: name, this architecture's number (-1 if it lacks
 * the syscall) and the kind its handler reports; -ENOENT past the last. */
int tp_schema_syscall(uint32_t i, const char **name, long *nr, uint16_t *kind);
/* The syscall handler programs the BPF object has (names without "h_", comma separated),
 * read without loading it; returns how many. */
int tp_schema_handlers(char *names, size_t len);

/* ---- events ---- */
/* Waits up to timeout_ms for a wakeup, then drains whatever is there. Returns records handled. */
int tp_poll(struct tp_probe *p, int timeout_ms);
/* Sums of the per-CPU counters (enum te_stat) into out[TE_STAT_MAX]. */
int tp_stats(struct tp_probe *p, uint64_t *out);
/* One counter per CPU into out[ncpu]; returns the number of CPUs written. */
int tp_stat_per_cpu(struct tp_probe *p, uint32_t key, uint64_t *out, uint32_t max);

/* ---- sessions ---- */
/* flags: TE_TRACK_*; agent: slot of the session's agent (see tp_agent_set) */
int tp_track(struct tp_probe *p, uint32_t tgid, uint64_t session, uint32_t root_tgid, uint16_t flags, uint16_t agent);
/* As tp_track, but -EEXIST if the tgid is already tracked. */
int tp_track_new(struct tp_probe *p, uint32_t tgid, uint64_t session, uint32_t root_tgid, uint16_t flags, uint16_t agent);
int tp_untrack(struct tp_probe *p, uint32_t tgid);
/* The tracked entry of a tgid into *out; -ENOENT if untracked. */
int tp_lookup(struct tp_probe *p, uint32_t tgid, struct te_tracked *out);
/* Every tracked tgid and its entry, up to max; returns the count. */
int tp_tracked(struct tp_probe *p, uint32_t *tgids, struct te_tracked *entries, uint32_t max);

/* ---- agents (slot -> name, TE_AGENT_* flags; slot 0 is the defaults) ---- */
/* -EINVAL for a slot >= TE_AGENT_MAX or a name of TE_AGENT_NAME bytes or more. */
int tp_agent_set(struct tp_probe *p, uint32_t slot, const char *name, uint32_t flags);
/* The slot's entry into *out (all zero if never set). */
int tp_agent_get(struct tp_probe *p, uint32_t slot, struct te_agent *out);

/* ---- watch policy (exact keys; the exec hook starts sessions on a match) ---- */
/* value: the new session's TE_TRACK_* flags | agent slot << 16 */
int tp_watch_clear(struct tp_probe *p);
int tp_watch_comm(struct tp_probe *p, const char *comm, uint32_t value);
int tp_watch_uid(struct tp_probe *p, uint32_t uid, uint32_t value);
int tp_watch_cgroup(struct tp_probe *p, uint64_t cgroup_id, uint32_t value);
int tp_watch_inode(struct tp_probe *p, uint64_t dev, uint64_t ino, uint32_t value);

/* ---- guards (compiled from policy; see TE_GUARDS_*, TE_PROTECT_*) ---- */
int tp_guard_config(struct tp_probe *p, uint32_t guards);
int tp_protect_pid(struct tp_probe *p, uint32_t tgid, int on);
/* The protected pids (at most max); returns how many, or -errno. */
int tp_protected_pids(struct tp_probe *p, uint32_t *out, uint32_t max);
/* dev is the kernel's encoding (tp_kernel_dev) */
int tp_protect_inode(struct tp_probe *p, uint64_t dev, uint64_t ino, uint32_t flags);
/* A deputy's executable (dev in the kernel's encoding) and its kind (nonzero), part of the
 * guard plan being written: a later plan that does not name it sweeps it. */
int tp_deputy_exe(struct tp_probe *p, uint64_t dev, uint64_t ino, uint32_t kind);
/* A process that runs a deputy's script under an interpreter (its tgid, its kind, and its
 * start in clock ticks since boot), part of the guard plan being written. */
int tp_deputy_proc(struct tp_probe *p, uint32_t pid, uint32_t kind, uint64_t start);
/* A scripted deputy's interpreter (dev in the kernel's encoding) and the hash of its
 * script's path (te_str_hash), with the directory a file name is relative to (0, 0 for an
 * absolute path), part of the guard plan being written: an exec of that interpreter
 * naming that path is registered as the deputy by the kernel. */
int tp_deputy_script(struct tp_probe *p, uint64_t dev, uint64_t ino, uint64_t hash, uint64_t dir_dev, uint64_t dir_ino, uint32_t kind);
/* An address of this host's interfaces (16 bytes, network order, IPv4 mapped), part of
 * the guard plan being written: a TCP deputy's port on it is the deputy's. */
int tp_local_addr(struct tp_probe *p, const uint8_t addr[16]);
/* Removes an inode's protection (0 also when it had none). */
int tp_unprotect_inode(struct tp_probe *p, uint64_t dev, uint64_t ino);
/* A protected name in a directory (dev in the kernel's encoding, see tp_kernel_dev):
 * guarded even while it does not exist, and when something is renamed over it.
 * -EINVAL for a name that is empty, has a '/', or is TE_PNAME_MAX bytes or longer. */
int tp_protect_name(struct tp_probe *p, uint64_t dev, uint64_t dir_ino, const char *name, uint32_t flags);
/* Empties protected_inodes and protected_names. */
int tp_protect_clear(struct tp_probe *p);
/* addr: 16 bytes, IPv4 as ::ffff:a.b.c.d (bits counted in that form); port ranges
 * [lo[i], hi[i]], none = any port. Ranges for the same prefix accumulate within one plan
 * (at most TE_NET_PORTS); an earlier plan's entry for it is replaced. */
int tp_egress_allow(struct tp_probe *p, uint16_t agent, const uint8_t addr[16], uint32_t bits,
                    const uint16_t *lo, const uint16_t *hi, uint32_t nranges);
/* refused whatever the allow-list says: the ranges given, none = every port */
int tp_egress_deny(struct tp_probe *p, const uint8_t addr[16], uint32_t bits,
                   const uint16_t *lo, const uint16_t *hi, uint32_t nranges);
int tp_egress_clear(struct tp_probe *p);
/* The guard switches in force (TE_GUARDS_*). */
int tp_guard_config_get(struct tp_probe *p, uint32_t *guards);

/* The dcache's hash table for the resolver: tp_dcache_samples reads the dcache_sample
 * iterator (an open file's dentry and its directory's, for every task) into `out` (at
 * most `max`; the count, or -errno); tp_dcache_set writes what user space found (table 0:
 * none) and freezes the map: once per load. */
int tp_dcache_samples(struct tp_probe *p, struct te_dcache_sample *out, uint32_t max);
int tp_dcache_set(struct tp_probe *p, uint64_t table, uint32_t shift);
/* A new guard plan: what tp_protect_* and tp_egress_* write from now on is tagged with a
 * new generation (returned), beside the entries of the plan in force. */
int tp_guard_begin(struct tp_probe *p);
/* Removes every entry of the guard maps that the plan begun last did not write; returns
 * how many. */
int tp_guard_sweep(struct tp_probe *p);
/* Mark (or clear) a session as frozen: its new children are stopped at fork. */
int tp_frozen_set(struct tp_probe *p, uint64_t session, int frozen);
/* 1 if frozen, 0 if not, -errno on error. */
int tp_frozen_get(struct tp_probe *p, uint64_t session);
/* Removing single keys and setting the in-use mask lets a policy reload swap the maps
 * without a moment where a selector kept by both policies is missing. -ENOENT if absent. */
int tp_watch_remove_comm(struct tp_probe *p, const char *comm);
int tp_watch_remove_uid(struct tp_probe *p, uint32_t uid);
int tp_watch_remove_cgroup(struct tp_probe *p, uint64_t cgroup_id);
int tp_watch_remove_inode(struct tp_probe *p, uint64_t dev, uint64_t ino);
/* watch_config[0] = mask (1 comm, 2 uid, 4 cgroup, 8 inode). */
int tp_watch_set_mask(struct tp_probe *p, uint32_t mask);

/* ---- signals ---- */
/* Like tp_pidfd_signal, but only if pid is still tracked in `session` once its pidfd
 * is open (the pidfd pins the process, so a reused pid is never signalled):
 * -ESRCH if it is gone or no longer a member. */
int tp_session_signal(struct tp_probe *p, int pid, uint64_t session, int sig);

/* A descriptor of our own on member `pid`'s fd `fdnum` (reopened through /proc, non-blocking),
 * only if pid is still tracked in `session` and is the same process after the open, and only
 * if it is a terminal or a pipe: fd, or -ESRCH (gone, not a member), -ENOTTY (other kind). */
int tp_session_open_fd(struct tp_probe *p, int pid, uint64_t session, int fdnum);

/* ---- process helpers the Swift side cannot express ---- */
/* pidfd_open + pidfd_send_signal: a recycled pid is never hit once the fd is open. */
int tp_pidfd_open(int pid);
int tp_pidfd_signal(int pid, int sig);
/* ---- refusal for the sessions Tether launches: Landlock and seccomp ---- */
/* What a launched child applies to itself after it is tracked and before it execs; inherited
 * by every descendant and never lifted. ruleset_fd < 0: no Landlock; filter_len 0: no seccomp. */
struct tp_confine {
    int ruleset_fd;
    int no_new_privs;
    unsigned short filter_len;
    const void *filter; /* struct sock_filter[filter_len], from tp_seccomp_build */
};
/* The Landlock ABI version this kernel offers (0 when it has none, or it is disabled). */
int tp_landlock_abi(void);
/* A ruleset handling these access rights (fs, net) and scopes, sized for `abi`: fd or -errno. */
int tp_landlock_ruleset(uint64_t handled_fs, uint64_t handled_net, uint64_t scoped, int abi);
/* Allows `access` beneath `path` (a file gets only the file rights of `access`): 0 or -errno. */
int tp_landlock_allow_path(int ruleset_fd, const char *path, uint64_t access);
/* Allows `access` (bind/connect TCP) on `port`: 0 or -errno. */
int tp_landlock_allow_port(int ruleset_fd, uint64_t port, uint64_t access);
/* This architecture's number of a syscall Tether can refuse, by name; -1 if unknown here. */
int tp_syscall_number(const char *name);
/* A seccomp filter: the refused syscall numbers fail with `err`, a foreign syscall ABI (32-bit
 * int 0x80, x32) kills the process; everything else is allowed. Writes at most `max`
 * instructions to `out`, returns their number or -E2BIG/-ENOTSUP. */
int tp_seccomp_build(const int *refused, int count, int err, void *out, int max);
/* A canary's io_uring_setup (a ring of one entry, closed at once): 0, or its errno. */
int tp_io_uring_probe(void);
/* Size in bytes of one filter instruction (struct sock_filter). */
int tp_seccomp_insn_size(void);

/* A system tool Tether asks for an answer: `path` run with `argv` and `envp`, stdin and
 * stderr /dev/null, stdout `stdout_fd`, and no other descriptor of the caller's (its BPF
 * maps, its control socket) open in it. 0 and *pid_out, or -errno. */
int tp_spawn_answer(const char *path, char *const argv[], char *const envp[], int stdout_fd, int *pid_out);
/* fork; the child waits until tp_spawn_release, then applies `confine` (if not NULL) and
 * execvp(argv[0], argv) (in cwd and with stdout to stdout_path if given). Lets the caller
 * track the child before its first instruction. */
int tp_spawn_held(char *const argv[], const char *cwd, const char *stdout_path, const struct tp_confine *confine,
                  int *pid_out, int *release_fd_out, int *status_fd_out);
/* What a held child failed at, in *stage_out of tp_spawn_release. */
enum { TP_STAGE_EXEC = 0, TP_STAGE_CWD = 1, TP_STAGE_STDOUT = 2, TP_STAGE_NO_NEW_PRIVS = 3, TP_STAGE_LANDLOCK = 4, TP_STAGE_SECCOMP = 5 };
/* Release a held child; returns 0 once it has exec'd, or -errno of what failed (the child then
 * exits 127) with the stage in *stage_out. Closes both fds. */
int tp_spawn_release(int release_fd, int status_fd, int *stage_out);
/* The kernel's dev_t encoding as the BPF side sees it (MKDEV), from st_dev. */
uint64_t tp_kernel_dev(uint64_t st_dev);
/* Sets the bitmap bit of every tracked tgid whose bit is clear; returns how many were. */
int tp_repair_tracked_bits(struct tp_probe *p);
/* Removes the file capability (security.capability) of `path`, never following a symlink at
 * its last component: 0, or -errno (-ENODATA: it had none). */
int tp_remove_file_capability(const char *path);

#ifdef __cplusplus
}
#endif
#endif
