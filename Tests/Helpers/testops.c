/* tether-testops: performs the syscalls named on its command line, in order, so kernel
 * tests can drive exactly the event they assert on. Failures are expected (a failed
 * attempt is an event too) and do not stop the sequence; each op consumes its
 * arguments. Usage: tether-testops OP [ARGS...] [OP [ARGS...]]... */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* One request through a fresh io_uring (no liburing), with `direct` empty direct-descriptor
 * slots registered first: the submission queue entry `sqe`, submitted and waited for by one
 * io_uring_enter. Returns the completion's result (-errno on failure, of the setup or of
 * the request). */
static int uring_one_direct(const struct io_uring_sqe *sqe, unsigned direct)
{
    struct io_uring_params p = {0};
    int fd = syscall(SYS_io_uring_setup, 4, &p);
    if (fd < 0)
        return -errno;
    struct io_uring_rsrc_register reg = { .nr = direct, .flags = IORING_RSRC_REGISTER_SPARSE };
    if (direct && syscall(SYS_io_uring_register, fd, IORING_REGISTER_FILES2, &reg, sizeof(reg)) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
        close(fd);
        return -ENOMEM;
    }
    unsigned tail = *(unsigned *)(sq + p.sq_off.tail), mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    sqes[tail & mask] = *sqe;
    ((unsigned *)(sq + p.sq_off.array))[tail & mask] = tail & mask;
    __atomic_store_n((unsigned *)(sq + p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);
    int rc = syscall(SYS_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    int res = rc < 0 ? -errno : -EIO;
    unsigned head = __atomic_load_n((unsigned *)(cq + p.cq_off.head), __ATOMIC_ACQUIRE);
    if (rc >= 0 && head != __atomic_load_n((unsigned *)(cq + p.cq_off.tail), __ATOMIC_ACQUIRE)) {
        struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
        res = cqes[head & *(unsigned *)(cq + p.cq_off.ring_mask)].res;
    }
    close(fd);
    return res;
}

static int uring_one(const struct io_uring_sqe *sqe) { return uring_one_direct(sqe, 0); }

static int open_flags(const char *s)
{
    int f = 0, w = 0, r = 0;
    for (; *s; s++) {
        switch (*s) {
        case 'r': r = 1; break;
        case 'w': w = 1; break;
        case 'c': f |= O_CREAT; break;
        case 't': f |= O_TRUNC; break;
        case 'a': f |= O_APPEND; break;
        case 'x': f |= O_EXCL; break;
        }
    }
    return f | (r && w ? O_RDWR : w ? O_WRONLY : O_RDONLY);
}

static void *thread_open(void *arg)
{
    int fd = open((const char *)arg, O_RDONLY);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* A truncate by a second thread, of the path in `buf`, for truncate-swapped. */
struct swapped {
    char *buf;
    int rc;
    int done;
};
static void *thread_truncate(void *arg)
{
    struct swapped *w = arg;
    w->rc = truncate(w->buf, 0) ? -errno : 0;
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A page of shared memory (a memfd's mapping), so that its mapping can be dropped
 * (MADV_DONTNEED) while what it holds stays; NULL on failure. */
static void *shared_page(void)
{
    int fd = memfd_create("page", 0);
    if (fd < 0)
        return NULL;
    void *p = ftruncate(fd, 4096) ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* A read lease on `path`, held through the fd returned (-1 on failure): a writer of
 * another thread (a truncate, an open for writing) then waits in the kernel, after it
 * copied its arguments, until the lease is given up (F_SETLEASE F_UNLCK). */
static int hold_lease(const char *path)
{
    signal(SIGIO, SIG_IGN); /* the lease break's signal */
    int fd = open(path, O_RDONLY);
    if (fd >= 0 && fcntl(fd, F_SETLEASE, F_RDLCK)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Until a writer waits on lease `lfd` (it turns F_UNLCK once one does), or `*done`. */
static void wait_lease_broken(int lfd, int *done)
{
    while (!__atomic_load_n(done, __ATOMIC_ACQUIRE) && fcntl(lfd, F_GETLEASE) != F_UNLCK) {
        struct timespec ts = { 0, 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* An openat2 by a second thread, of `path` with the open_how at `how`, for openat2-swapped. */
struct swapped_open {
    const char *path;
    struct open_how *how;
    int fd;
    int done;
};
static void *thread_openat2(void *arg)
{
    struct swapped_open *w = arg;
    w->fd = syscall(SYS_openat2, AT_FDCWD, w->path, w->how, sizeof(*w->how));
    if (w->fd < 0)
        w->fd = -errno;
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Until `path` exists: the test says when (it has seen Tether ready), so nothing here
 * guesses how long that takes. A test that never says is stopped by its own budget; this
 * gives up only after two minutes, so a lost test leaves nothing waiting for ever. */
static int wait_file(const char *path)
{
    for (int i = 0; i < 120000; i++) {
        if (access(path, F_OK) == 0)
            return 0;
        struct timespec t = { 0, 1000000L };
        nanosleep(&t, NULL);
    }
    fprintf(stderr, "testops: %s never appeared\n", path);
    return -1;
}

/* Until process `pid` has exited (a zombie, or reaped): its exit is then on record. Gives
 * up after two minutes, as wait_file does. */
static int wait_exited(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 120000; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return 0;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        char *close = strrchr(buf, ')');
        if (!close || close[1] != ' ' || close[2] == 'Z' || close[2] == 'X')
            return 0;
        struct timespec t = { 0, 1000000L };
        nanosleep(&t, NULL);
    }
    fprintf(stderr, "testops: pid %d never exited\n", (int)pid);
    return -1;
}

static struct sockaddr_in in4(const char *addr, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, addr, &a.sin_addr);
    return a;
}

#define NEED(n) do { if (i + (n) >= argc) { fprintf(stderr, "testops: %s needs %d argument(s)\n", op, n); return 2; } } while (0)
#define A(k) argv[i + (k)]

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* each result line out before the next op (which may kill us) */
    for (int i = 1; i < argc; i++) {
        const char *op = argv[i];
        if (!strcmp(op, "open")) {                 /* open PATH FLAGS */
            NEED(2);
            int fd = open(A(1), open_flags(A(2)), 0644);
            if (fd >= 0) close(fd);
            i += 2;
        } else if (!strcmp(op, "write")) {         /* write PATH TEXT: open w+c+t and write */
            NEED(2);
            int fd = open(A(1), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) { if (write(fd, A(2), strlen(A(2))) < 0) perror("write"); close(fd); }
            i += 2;
        } else if (!strcmp(op, "openat")) {        /* openat DIR NAME: relative to a dirfd */
            NEED(2);
            int dfd = open(A(1), O_RDONLY | O_DIRECTORY);
            int fd = openat(dfd, A(2), O_RDONLY);
            if (fd >= 0) close(fd);
            if (dfd >= 0) close(dfd);
            i += 2;
        } else if (!strcmp(op, "openat2")) {       /* openat2 PATH */
            NEED(1);
            struct open_how how = { .flags = O_RDONLY };
            int fd = syscall(SYS_openat2, AT_FDCWD, A(1), &how, sizeof(how));
            if (fd >= 0) close(fd);
            i += 1;
        } else if (!strcmp(op, "creat")) {
            NEED(1);
            int fd = creat(A(1), 0600);
            if (fd >= 0) close(fd);
            i += 1;
        } else if (!strcmp(op, "rename")) {
            NEED(2); rename(A(1), A(2)); i += 2;
        } else if (!strcmp(op, "renameat2")) {     /* renameat2 OLD NEW (RENAME_NOREPLACE) */
            NEED(2); syscall(SYS_renameat2, AT_FDCWD, A(1), AT_FDCWD, A(2), 1); i += 2;
        } else if (!strcmp(op, "link")) {
            NEED(2); link(A(1), A(2)); i += 2;
        } else if (!strcmp(op, "symlink")) {       /* symlink TARGET LINKPATH */
            NEED(2); symlink(A(1), A(2)); i += 2;
        } else if (!strcmp(op, "unlink")) {
            NEED(1); unlink(A(1)); i += 1;
        } else if (!strcmp(op, "unlinkat")) {      /* unlinkat DIR NAME: relative to a dirfd */
            NEED(2);
            int dfd = open(A(1), O_RDONLY | O_DIRECTORY);
            unlinkat(dfd, A(2), 0);
            if (dfd >= 0) close(dfd);
            i += 2;
        } else if (!strcmp(op, "rmdir")) {
            NEED(1); rmdir(A(1)); i += 1;
        } else if (!strcmp(op, "mkdir")) {
            NEED(1); mkdir(A(1), 0755); i += 1;
        } else if (!strcmp(op, "chmod")) {         /* chmod PATH OCTAL */
            NEED(2); chmod(A(1), strtol(A(2), NULL, 8)); i += 2;
        } else if (!strcmp(op, "fchmod")) {
            NEED(2);
            int fd = open(A(1), O_RDONLY);
            fchmod(fd, strtol(A(2), NULL, 8));
            if (fd >= 0) close(fd);
            i += 2;
        } else if (!strcmp(op, "chown")) {         /* chown PATH UID GID */
            NEED(3); if (chown(A(1), atoi(A(2)), atoi(A(3)))) {} i += 3;
        } else if (!strcmp(op, "truncate")) {
            NEED(2); if (truncate(A(1), atol(A(2)))) {} i += 2;
        } else if (!strcmp(op, "ftruncate")) {
            NEED(2);
            int fd = open(A(1), O_WRONLY);
            if (ftruncate(fd, atol(A(2)))) {}
            if (fd >= 0) close(fd);
            i += 2;
        } else if (!strcmp(op, "mkfifo")) {
            NEED(1); mknod(A(1), S_IFIFO | 0600, 0); i += 1;
        } else if (!strcmp(op, "connect4")) {      /* connect4 ADDR PORT (TCP) */
            NEED(2);
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = in4(A(1), atoi(A(2)));
            connect(s, (struct sockaddr *)&a, sizeof(a));
            close(s);
            i += 2;
        } else if (!strcmp(op, "connect6")) {      /* connect6 ADDR PORT */
            NEED(2);
            int s = socket(AF_INET6, SOCK_STREAM, 0);
            struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(A(2))) };
            inet_pton(AF_INET6, A(1), &a.sin6_addr);
            connect(s, (struct sockaddr *)&a, sizeof(a));
            close(s);
            i += 2;
        } else if (!strcmp(op, "connect-unix")) {  /* connect-unix PATH ('@name' = abstract) */
            NEED(1);
            int s = socket(AF_UNIX, SOCK_STREAM, 0);
            struct sockaddr_un a = { .sun_family = AF_UNIX };
            socklen_t len;
            if (A(1)[0] == '@') {
                strncpy(a.sun_path + 1, A(1) + 1, sizeof(a.sun_path) - 2);
                len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(A(1) + 1);
            } else {
                strncpy(a.sun_path, A(1), sizeof(a.sun_path) - 1);
                len = sizeof(a);
            }
            connect(s, (struct sockaddr *)&a, len);
            close(s);
            i += 1;
        } else if (!strcmp(op, "listen4")) {       /* listen4 ADDR PORT: bind + listen */
            NEED(2);
            int s = socket(AF_INET, SOCK_STREAM, 0);
            int one = 1;
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            struct sockaddr_in a = in4(A(1), atoi(A(2)));
            bind(s, (struct sockaddr *)&a, sizeof(a));
            listen(s, 7);
            close(s);
            i += 2;
        } else if (!strcmp(op, "listen4-keep")) {  /* listen4-keep ADDR PORT: bind + listen, kept open (PORT 0: a free one); prints "listening ERRNO PORT" */
            NEED(2);
            int s = socket(AF_INET, SOCK_STREAM, 0);
            int one = 1;
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            struct sockaddr_in a = in4(A(1), atoi(A(2)));
            socklen_t alen = sizeof(a);
            int rc = bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 64) || getsockname(s, (struct sockaddr *)&a, &alen);
            printf("listening %d %d\n", rc ? errno : 0, ntohs(a.sin_port));
            fflush(stdout);
            i += 2;
        } else if (!strcmp(op, "sendto4")) {       /* sendto4 ADDR PORT (UDP datagram) */
            NEED(2);
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in a = in4(A(1), atoi(A(2)));
            sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
            close(s);
            i += 2;
        } else if (!strcmp(op, "sendmsg4")) {      /* sendmsg4 ADDR PORT */
            NEED(2);
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in a = in4(A(1), atoi(A(2)));
            struct iovec iov = { .iov_base = "xy", .iov_len = 2 };
            struct msghdr m = { .msg_name = &a, .msg_namelen = sizeof(a), .msg_iov = &iov, .msg_iovlen = 1 };
            sendmsg(s, &m, 0);
            close(s);
            i += 2;
        } else if (!strcmp(op, "sendmmsg4")) {     /* sendmmsg4 ADDR PORT: two datagrams in one sendmmsg; prints "sendmmsg ERRNO" */
            NEED(2);
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in a = in4(A(1), atoi(A(2)));
            struct iovec iov[2] = { { .iov_base = "m1", .iov_len = 2 }, { .iov_base = "m2", .iov_len = 2 } };
            struct mmsghdr mm[2] = {
                { .msg_hdr = { .msg_name = &a, .msg_namelen = sizeof(a), .msg_iov = &iov[0], .msg_iovlen = 1 } },
                { .msg_hdr = { .msg_name = &a, .msg_namelen = sizeof(a), .msg_iov = &iov[1], .msg_iovlen = 1 } },
            };
            int r = sendmmsg(s, mm, 2, 0);
            printf("sendmmsg %d\n", r < 0 ? errno : 0);
            fflush(stdout);
            close(s);
            i += 2;
        } else if (!strcmp(op, "ptrace-child")) {  /* fork a child, PTRACE_ATTACH to it, detach, kill */
            pid_t c = fork();
            if (c == 0) { pause(); _exit(0); }
            if (ptrace(PTRACE_ATTACH, c, 0, 0) == 0) {
                waitpid(c, NULL, 0);
                ptrace(PTRACE_DETACH, c, 0, 0);
            }
            kill(c, SIGKILL);
            waitpid(c, NULL, 0);
        } else if (!strcmp(op, "ptrace")) {        /* ptrace PID: PTRACE_ATTACH (may fail) */
            NEED(1);
            if (ptrace(PTRACE_ATTACH, atoi(A(1)), 0, 0) == 0)
                ptrace(PTRACE_DETACH, atoi(A(1)), 0, 0);
            i += 1;
        } else if (!strcmp(op, "unshare-ns")) {    /* new mount + uts namespace */
            unshare(CLONE_NEWNS | CLONE_NEWUTS);
        } else if (!strcmp(op, "setns")) {         /* setns into our own mount namespace */
            int fd = open("/proc/self/ns/mnt", O_RDONLY);
            setns(fd, CLONE_NEWNS);
            if (fd >= 0) close(fd);
        } else if (!strcmp(op, "mount-tmpfs")) {   /* mount-tmpfs DIR (call unshare-ns first!) */
            NEED(1);
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
            mount("tetherfs", A(1), "tmpfs", 0, "size=1m");
            i += 1;
        } else if (!strcmp(op, "umount")) {
            NEED(1); umount2(A(1), 0); i += 1;
        } else if (!strcmp(op, "chroot")) {
            NEED(1); if (chroot(A(1))) {} i += 1;
        } else if (!strcmp(op, "pivot_root")) {    /* pivot_root NEW OLD (expected to fail) */
            NEED(2); syscall(SYS_pivot_root, A(1), A(2)); i += 2;
        } else if (!strcmp(op, "fsopen")) {        /* fsopen FSTYPE */
            NEED(1);
            int fd = syscall(SYS_fsopen, A(1), 0);
            if (fd >= 0) close(fd);
            i += 1;
        } else if (!strcmp(op, "open_tree")) {     /* open_tree PATH */
            NEED(1);
            int fd = syscall(SYS_open_tree, AT_FDCWD, A(1), 0);
            if (fd >= 0) close(fd);
            i += 1;
        } else if (!strcmp(op, "init_module")) {
            syscall(SYS_init_module, "", 0, "tether=1");
        } else if (!strcmp(op, "finit_module")) {  /* finit_module PATH */
            NEED(1);
            int fd = open(A(1), O_RDONLY);
            syscall(SYS_finit_module, fd, "", 0);
            if (fd >= 0) close(fd);
            i += 1;
        } else if (!strcmp(op, "bpf")) {           /* BPF_PROG_LOAD with nothing: fails, still an event */
            char attr[128] = {0};
            syscall(SYS_bpf, 5, attr, sizeof(attr));
        } else if (!strcmp(op, "memfd")) {         /* memfd NAME */
            NEED(1);
            int fd = memfd_create(A(1), MFD_CLOEXEC);
            if (fd >= 0) close(fd);
            i += 1;
        } else if (!strcmp(op, "io_uring")) {
            struct io_uring_params p = {0};
            int fd = syscall(SYS_io_uring_setup, 4, &p);
            if (fd >= 0) close(fd);
        /* The ops below print "OP ERRNO" (0: it worked) on stdout, for tests of refusals. */
        } else if (!strcmp(op, "exchange")) {      /* exchange A B: renameat2(RENAME_EXCHANGE) */
            NEED(2);
            int rc = syscall(SYS_renameat2, AT_FDCWD, A(1), AT_FDCWD, A(2), 2);
            printf("exchange %d\n", rc ? errno : 0);
            i += 2;
        } else if (!strcmp(op, "tmpfile-link")) {  /* tmpfile-link DIR TEXT DEST: O_TMPFILE in DIR, write, linkat to DEST */
            NEED(3);
            int e = 0, fd = open(A(1), O_TMPFILE | O_WRONLY, 0644);
            if (fd < 0) {
                e = errno;
            } else {
                if (write(fd, A(2), strlen(A(2))) < 0) {}
                char proc[64];
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
                if (linkat(AT_FDCWD, proc, AT_FDCWD, A(3), AT_SYMLINK_FOLLOW)) e = errno;
                close(fd);
            }
            printf("tmpfile-link %d\n", e);
            i += 3;
        } else if (!strcmp(op, "signal")) {        /* signal PID SIG */
            NEED(2);
            printf("signal %d\n", kill(atoi(A(1)), atoi(A(2))) ? errno : 0);
            i += 2;
        } else if (!strcmp(op, "attach")) {        /* attach PID: PTRACE_ATTACH, detach */
            NEED(1);
            long rc = ptrace(PTRACE_ATTACH, atoi(A(1)), 0, 0);
            printf("attach %d\n", rc ? errno : 0);
            if (!rc) { waitpid(atoi(A(1)), NULL, __WALL); ptrace(PTRACE_DETACH, atoi(A(1)), 0, 0); }
            i += 1;
        } else if (!strcmp(op, "abstract")) {      /* abstract NAME: connect to @NAME */
            NEED(1);
            struct sockaddr_un a = { .sun_family = AF_UNIX };
            size_t n = strlen(A(1));
            if (n > sizeof(a.sun_path) - 2) n = sizeof(a.sun_path) - 2;
            memcpy(a.sun_path + 1, A(1), n);
            int fd = socket(AF_UNIX, SOCK_STREAM, 0);
            int rc = connect(fd, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n);
            printf("abstract %d\n", rc ? errno : 0);
            close(fd);
            i += 1;
        } else if (!strcmp(op, "vm-read")) {       /* vm-read PID: process_vm_readv of 8 bytes at PID's stack-ish address; prints "vm-read ERRNO" */
            NEED(1);
            char buf[8];
            struct iovec local = { buf, sizeof(buf) }, remote = { (void *)0x1000, sizeof(buf) };
            long r = syscall(SYS_process_vm_readv, (pid_t)atoi(A(1)), &local, 1, &remote, 1, 0);
            printf("vm-read %d\n", r < 0 ? errno : 0);
            i += 1;
        } else if (!strcmp(op, "vm-write")) {      /* vm-write PID: process_vm_writev of nothing (an empty iovec) into PID; prints "vm-write ERRNO" */
            NEED(1);
            char buf[1];
            struct iovec local = { buf, 0 }, remote = { (void *)0x1000, 0 };
            long r = syscall(SYS_process_vm_writev, (pid_t)atoi(A(1)), &local, 1, &remote, 1, 0);
            printf("vm-write %d\n", r < 0 ? errno : 0);
            i += 1;
        } else if (!strcmp(op, "pidfd-open")) {    /* pidfd-open PID: a pidfd on PID, closed; prints "pidfd-open ERRNO" */
            NEED(1);
            int pfd = syscall(SYS_pidfd_open, (pid_t)atoi(A(1)), 0);
            printf("pidfd-open %d\n", pfd < 0 ? errno : 0);
            if (pfd >= 0) close(pfd);
            i += 1;
        } else if (!strcmp(op, "sigqueue")) {      /* sigqueue PID SIG: rt_sigqueueinfo */
            NEED(2);
            siginfo_t si = { .si_signo = atoi(A(2)), .si_code = SI_QUEUE, .si_pid = getpid(), .si_uid = getuid() };
            long r = syscall(SYS_rt_sigqueueinfo, (pid_t)atoi(A(1)), atoi(A(2)), &si);
            printf("sigqueue %d\n", r < 0 ? errno : 0);
            i += 2;
        } else if (!strcmp(op, "tgsigqueue")) {    /* tgsigqueue PID SIG: rt_tgsigqueueinfo to PID's main thread */
            NEED(2);
            siginfo_t si = { .si_signo = atoi(A(2)), .si_code = SI_QUEUE, .si_pid = getpid(), .si_uid = getuid() };
            long r = syscall(SYS_rt_tgsigqueueinfo, (pid_t)atoi(A(1)), (pid_t)atoi(A(1)), atoi(A(2)), &si);
            printf("tgsigqueue %d\n", r < 0 ? errno : 0);
            i += 2;
        } else if (!strcmp(op, "setown")) {        /* setown OWNER SIG: a pipe whose I/O signal (F_SETSIG SIG) goes to OWNER (a pid, or -PGRP), then made ready; prints "setown ERRNO" */
            NEED(2);
            int p[2];
            if (pipe(p)) { perror("testops: pipe"); return 2; }
            int r = fcntl(p[0], F_SETSIG, atoi(A(2)));
            if (!r) r = fcntl(p[0], F_SETOWN, atoi(A(1)));
            if (!r) r = fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
            printf("setown %d\n", r < 0 ? errno : 0);
            fflush(stdout);
            if (!r) r = write(p[1], "x", 1) == 1 ? 0 : -1; /* the read end is ready: the signal goes out */
            close(p[0]);
            close(p[1]);
            i += 2;
        } else if (!strcmp(op, "setcap-raw")) {    /* setcap-raw PATH: setxattr(security.capability) granting cap_setuid, as setcap(8) would; prints "setcap ERRNO" */
            NEED(1);
            struct { uint32_t magic_etc; struct { uint32_t permitted, inheritable; } data[2]; } cap = {
                .magic_etc = 0x02000000 /* VFS_CAP_REVISION_2 */ | 1 /* effective */, .data = { { 1u << 7 /* CAP_SETUID */, 0 }, { 0, 0 } } };
            int r = setxattr(A(1), "security.capability", &cap, sizeof(cap), 0);
            printf("setcap %d\n", r < 0 ? errno : 0);
            i += 1;
        } else if (!strcmp(op, "hascap")) {        /* hascap PATH: prints "hascap 1" if it has a file capability, else "hascap 0" */
            NEED(1);
            char v[64];
            printf("hascap %d\n", getxattr(A(1), "security.capability", v, sizeof(v)) > 0 ? 1 : 0);
            i += 1;
        } else if (!strcmp(op, "tiocsti")) {       /* tiocsti TTY TEXT: push TEXT and a newline into TTY's input, byte by byte; prints "tiocsti ERRNO" */
            NEED(2);
            int fd = open(A(1), O_RDWR | O_NOCTTY);
            int r = fd < 0 ? -1 : 0;
            for (const char *c = A(2); r == 0 && *c; c++) r = ioctl(fd, TIOCSTI, c);
            if (r == 0) r = ioctl(fd, TIOCSTI, "\n");
            printf("tiocsti %d\n", r < 0 ? errno : 0);
            fflush(stdout);
            if (fd >= 0) close(fd);
            i += 2;
        } else if (!strcmp(op, "pty-hold")) {      /* pty-hold: a new pty, its terminal's path on stdout; held open until stdin closes */
            int m = posix_openpt(O_RDWR | O_NOCTTY);
            if (m < 0 || grantpt(m) || unlockpt(m)) { perror("testops: pty"); return 2; }
            int s = open(ptsname(m), O_RDWR | O_NOCTTY);
            printf("%s\n", ptsname(m));
            fflush(stdout);
            char b[64];
            while (read(0, b, sizeof(b)) > 0) {}
            close(s);
            close(m);
        } else if (!strcmp(op, "tty-flush")) {     /* tty-flush TTY: discard its pending input */
            NEED(1);
            int fd = open(A(1), O_RDWR | O_NOCTTY | O_NONBLOCK);
            if (fd >= 0) { tcflush(fd, TCIFLUSH); close(fd); }
            i += 1;
        } else if (!strcmp(op, "tty-pending")) {   /* tty-pending TTY: prints "tty-pending N", the bytes waiting in TTY's input */
            NEED(1);
            int fd = open(A(1), O_RDWR | O_NOCTTY | O_NONBLOCK), n = -1;
            if (fd >= 0) { ioctl(fd, FIONREAD, &n); close(fd); }
            printf("tty-pending %d\n", n);
            i += 1;
        } else if (!strcmp(op, "getfd")) {         /* getfd PID FD: pidfd_open + pidfd_getfd; prints "getfd ERRNO" */
            NEED(2);
            int pfd = syscall(SYS_pidfd_open, (pid_t)atoi(A(1)), 0);
            int r = pfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pfd, atoi(A(2)), 0);
            printf("getfd %d\n", r < 0 ? errno : 0);
            if (r >= 0) close(r);
            if (pfd >= 0) close(pfd);
            i += 2;
        } else if (!strcmp(op, "by-handle")) {     /* by-handle PATH: name_to_handle_at, then open_by_handle_at; prints "by-handle ERRNO" */
            NEED(1);
            struct { struct file_handle h; unsigned char b[128]; } fh = { .h.handle_bytes = 128 };
            int mount_id, r = -1;
            if (name_to_handle_at(AT_FDCWD, A(1), &fh.h, &mount_id, 0) == 0) {
                int mfd = open("/", O_RDONLY | O_DIRECTORY);
                r = syscall(SYS_open_by_handle_at, mfd, &fh.h, O_RDONLY);
                if (r >= 0) close(r);
                close(mfd);
            }
            printf("by-handle %d\n", r < 0 ? errno : 0);
            i += 1;
        } else if (!strcmp(op, "uring")) {         /* uring: io_uring_setup */
            struct io_uring_params p = {0};
            int fd = syscall(SYS_io_uring_setup, 4, &p);
            printf("uring %d\n", fd < 0 ? errno : 0);
            if (fd >= 0) close(fd);
        } else if (!strcmp(op, "uring-write")) {   /* uring-write PATH TEXT: IORING_OP_OPENAT (create, truncate), then write TEXT; prints "uring-write RES" */
            NEED(2);
            struct io_uring_sqe sqe = {0};
            sqe.opcode = IORING_OP_OPENAT;
            sqe.fd = AT_FDCWD;
            sqe.addr = (unsigned long)A(1);
            sqe.open_flags = O_WRONLY | O_CREAT | O_TRUNC;
            sqe.len = 0644;
            int res = uring_one(&sqe);
            if (res >= 0) {
                if (write(res, A(2), strlen(A(2))) < 0) {}
                close(res);
            }
            printf("uring-write %d\n", res < 0 ? -res : 0);
            i += 2;
        } else if (!strcmp(op, "uring-open") || !strcmp(op, "uring-open-direct")) {
            /* uring-open PATH FLAGS: IORING_OP_OPENAT (FLAGS as open's), closed; -direct: into
             * a direct descriptor the ring picks. Prints "OP ERRNO" */
            NEED(2);
            int direct = !strcmp(op, "uring-open-direct");
            struct io_uring_sqe sqe = {0};
            sqe.opcode = IORING_OP_OPENAT;
            sqe.fd = AT_FDCWD;
            sqe.addr = (unsigned long)A(1);
            sqe.open_flags = open_flags(A(2));
            if (direct)
                sqe.file_index = IORING_FILE_INDEX_ALLOC;
            int res = uring_one_direct(&sqe, direct);
            if (res >= 0 && !direct) close(res);
            printf("%s %d\n", op, res < 0 ? -res : 0);
            i += 2;
        } else if (!strcmp(op, "uring-rename")) {  /* uring-rename OLD NEW: IORING_OP_RENAMEAT; prints "uring-rename RES" */
            NEED(2);
            struct io_uring_sqe sqe = {0};
            sqe.opcode = IORING_OP_RENAMEAT;
            sqe.fd = AT_FDCWD;
            sqe.addr = (unsigned long)A(1);
            sqe.len = AT_FDCWD;
            sqe.addr2 = (unsigned long)A(2);
            int res = uring_one(&sqe);
            printf("uring-rename %d\n", res < 0 ? -res : 0);
            i += 2;
        } else if (!strcmp(op, "uring-path")) {    /* uring-path OP A [B]: IORING_OP_{MKDIRAT,UNLINKAT,SYMLINKAT,LINKAT} (OP: mkdir A, unlink A, symlink A B, link A B); prints "uring-path RES" */
            NEED(2);
            struct io_uring_sqe sqe = {0};
            sqe.fd = AT_FDCWD;
            sqe.addr = (unsigned long)A(2);
            int two = 0;
            if (!strcmp(A(1), "mkdir")) {
                sqe.opcode = IORING_OP_MKDIRAT;
                sqe.len = 0755;
            } else if (!strcmp(A(1), "unlink")) {
                sqe.opcode = IORING_OP_UNLINKAT;
            } else {
                NEED(3);
                two = 1;
                sqe.opcode = !strcmp(A(1), "symlink") ? IORING_OP_SYMLINKAT : IORING_OP_LINKAT;
                sqe.addr2 = (unsigned long)A(3);
                if (sqe.opcode == IORING_OP_LINKAT) sqe.len = AT_FDCWD; /* the new name's dirfd */
            }
            int res = uring_one(&sqe);
            printf("uring-path %d\n", res < 0 ? -res : 0);
            i += 2 + two;
        } else if (!strcmp(op, "uring-sendmsg4")) { /* uring-sendmsg4 ADDR PORT: one UDP datagram by IORING_OP_SENDMSG; prints "uring-sendmsg ERRNO" */
            NEED(2);
            int sock = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in a = in4(A(1), atoi(A(2)));
            char payload[] = "x";
            struct iovec iov = { payload, 1 };
            struct msghdr msg = { .msg_name = &a, .msg_namelen = sizeof(a), .msg_iov = &iov, .msg_iovlen = 1 };
            struct io_uring_sqe sqe = {0};
            sqe.opcode = IORING_OP_SENDMSG;
            sqe.fd = sock;
            sqe.addr = (unsigned long)&msg;
            int res = uring_one(&sqe);
            printf("uring-sendmsg %d\n", res < 0 ? -res : 0);
            close(sock);
            i += 2;
        } else if (!strcmp(op, "uring-connect4")) { /* uring-connect4 ADDR PORT: IORING_OP_CONNECT (TCP); prints "uring-connect ERRNO" */
            NEED(2);
            int sock = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = in4(A(1), atoi(A(2)));
            struct io_uring_sqe sqe = {0};
            sqe.opcode = IORING_OP_CONNECT;
            sqe.fd = sock;
            sqe.addr = (unsigned long)&a;
            sqe.off = sizeof(a);
            int res = uring_one(&sqe);
            printf("uring-connect %d\n", res < 0 ? -res : 0);
            close(sock);
            i += 2;
        } else if (!strcmp(op, "int80")) {         /* int80: getpid through the 32-bit entry */
            fflush(stdout);
            long r;
            __asm__ volatile("int $0x80" : "=a"(r) : "a"(20) : "memory");
            printf("int80 %ld\n", r);
        } else if (!strcmp(op, "fake-success")) {  /* fake-success NR: syscall NR returns 0 and does nothing, from now on */
            NEED(1);
            struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)atoi(A(1)), 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            };
            struct sock_fprog prog = { .len = 4, .filter = f };
            if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) { perror("testops: seccomp"); return 2; }
            i += 1;
        } else if (!strcmp(op, "kill")) {          /* kill PID SIG */
            NEED(2); kill(atoi(A(1)), atoi(A(2))); i += 2;
        } else if (!strcmp(op, "tgkill-self")) {   /* tgkill our own thread with signal 0 */
            syscall(SYS_tgkill, getpid(), gettid(), 0);
        } else if (!strcmp(op, "pidfd-kill-child")) { /* fork a child, pidfd_send_signal SIGKILL */
            pid_t c = fork();
            if (c == 0) { pause(); _exit(0); }
            int pfd = syscall(SYS_pidfd_open, c, 0);
            syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
            waitpid(c, NULL, 0);
            printf("%d\n", c);
            fflush(stdout);
            if (pfd >= 0) close(pfd);
        } else if (!strcmp(op, "setsid")) {
            setsid();
        } else if (!strcmp(op, "setuid")) {
            NEED(1); if (setuid(atoi(A(1)))) {} i += 1;
        } else if (!strcmp(op, "setgid")) {
            NEED(1); if (setgid(atoi(A(1)))) {} i += 1;
        } else if (!strcmp(op, "setresuid")) {     /* setresuid R E S */
            NEED(3); if (setresuid(atoi(A(1)), atoi(A(2)), atoi(A(3)))) {} i += 3;
        } else if (!strcmp(op, "capset")) {        /* drop CAP_NET_RAW from the effective set */
            struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
            struct __user_cap_data_struct d[2];
            syscall(SYS_capget, &h, d);
            d[0].effective &= ~(1u << 13);
            syscall(SYS_capset, &h, d);
        } else if (!strcmp(op, "exec")) {          /* exec PATH [ARGS...] -- : replaces us */
            NEED(1);
            int j = i + 1;
            while (j < argc && strcmp(argv[j], "--")) j++;
            argv[j < argc ? j : argc] = NULL;
            execv(A(1), &argv[i + 1]);
            i = j;
        } else if (!strcmp(op, "exec-padded")) {   /* exec-padded N NAME=VALUE PATH [ARGS...] -- : replaces us, with N padding variables before NAME=VALUE */
            NEED(3);
            long n = atol(A(1));
            char **envp = calloc(n + 2, sizeof(char *));
            char *pad = malloc(n * 8);
            if (!envp || !pad) { perror("testops: exec-padded"); return 2; }
            for (long k = 0; k < n; k++) { snprintf(pad + k * 8, 8, "P%lx=", k & 0xfffff); envp[k] = pad + k * 8; }
            envp[n] = A(2);
            int j = i + 3;
            while (j < argc && strcmp(argv[j], "--")) j++;
            argv[j < argc ? j : argc] = NULL;
            execve(A(3), &argv[i + 3], envp);
            perror("testops: exec-padded");
            i = j;
        } else if (!strcmp(op, "spawn")) {         /* spawn PATH [ARGS...] -- : fork, exec, wait */
            NEED(1);
            int j = i + 1;
            while (j < argc && strcmp(argv[j], "--")) j++;
            char *saved = j < argc ? argv[j] : NULL;
            if (j < argc) argv[j] = NULL;
            pid_t c = fork();
            if (c == 0) { execv(A(1), &argv[i + 1]); _exit(127); }
            waitpid(c, NULL, 0);
            if (j < argc) argv[j] = saved;
            i = j;
        } else if (!strcmp(op, "wait-file")) {     /* wait-file PATH: until PATH exists (the test's go) */
            NEED(1);
            if (wait_file(A(1)))
                return 3;
            i += 1;
        } else if (!strcmp(op, "daemonize") || !strcmp(op, "daemonize-until")) {
            /* daemonize MARKER: double fork + setsid; the grandchild waits until this
             * process has exited, opens MARKER, exits. daemonize-until MARKER GATE: it
             * waits for the file GATE instead */
            int until = !strcmp(op, "daemonize-until");
            NEED(until ? 2 : 1);
            const char *marker = A(1);
            const char *gate = until ? A(2) : NULL;
            pid_t root = getpid();
            pid_t c = fork();
            if (c == 0) {
                setsid();
                if (fork() == 0) {
                    if (until ? wait_file(gate) : wait_exited(root))
                        _exit(3);
                    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                    if (fd >= 0) close(fd);
                    _exit(0);
                }
                _exit(0);
            }
            waitpid(c, NULL, 0);
            i += until ? 2 : 1;
        } else if (!strcmp(op, "truncate-swapped") || !strcmp(op, "truncate-swapped-unmapped")) {
            /* truncate-swapped REAL SHOWN: a second thread truncates REAL; the call waits in
             * the kernel, after it copied the path, for a read lease this thread holds on
             * REAL to be given up; meanwhile this thread rewrites the path in memory to
             * SHOWN, then gives the lease up. Prints "truncate-swapped RC". The lease makes
             * the window certain, not raced. truncate-swapped-unmapped: the path is on a
             * shared memory page whose mapping is dropped (MADV_DONTNEED) just before the
             * call, so it is not in memory when the call begins; the kernel's copy maps it. */
            NEED(2);
            int unmapped = !strcmp(op, "truncate-swapped-unmapped");
            struct swapped w = { .buf = shared_page() };
            if (!w.buf) {
                perror("truncate-swapped: page");
                return 1;
            }
            strncpy(w.buf, A(1), 4095);
            int lfd = hold_lease(A(1));
            if (lfd < 0 || (unmapped && madvise(w.buf, 4096, MADV_DONTNEED))) {
                perror("truncate-swapped: lease");
                return 1;
            }
            pthread_t t;
            pthread_create(&t, NULL, thread_truncate, &w);
            wait_lease_broken(lfd, &w.done);
            memset(w.buf, 0, 4096);
            strncpy(w.buf, A(2), 4095);
            fcntl(lfd, F_SETLEASE, F_UNLCK);
            pthread_join(t, NULL);
            printf("truncate-swapped %d\n", w.rc);
            close(lfd);
            munmap(w.buf, 4096);
            i += 2;
        } else if (!strcmp(op, "openat2-swapped")) { /* openat2-swapped PATH TEXT */
            /* A second thread opens PATH with openat2 for writing; its open_how is on a shared
             * page whose mapping is dropped just before (not in memory when the call begins).
             * The open waits in the kernel, after it copied the open_how, for a read lease
             * this thread holds on PATH to be given up; meanwhile the flags in memory become
             * O_RDONLY. Then TEXT is written through the fd. Prints "openat2-swapped FD". */
            NEED(2);
            struct open_how *how = shared_page();
            if (!how) {
                perror("openat2-swapped: page");
                return 1;
            }
            how->flags = O_WRONLY;
            int lfd = hold_lease(A(1));
            if (lfd < 0 || madvise(how, 4096, MADV_DONTNEED)) {
                perror("openat2-swapped: lease");
                return 1;
            }
            struct swapped_open w = { .path = A(1), .how = how };
            pthread_t t;
            pthread_create(&t, NULL, thread_openat2, &w);
            wait_lease_broken(lfd, &w.done);
            how->flags = O_RDONLY;
            fcntl(lfd, F_SETLEASE, F_UNLCK);
            pthread_join(t, NULL);
            printf("openat2-swapped %d\n", w.fd);
            fflush(stdout);
            if (w.fd >= 0 && write(w.fd, A(2), strlen(A(2))) < 0)
                perror("openat2-swapped: write");
            close(lfd);
            munmap(how, 4096);
            i += 2;
        } else if (!strcmp(op, "thread-open")) {   /* thread-open PATH: open from a second thread */
            NEED(1);
            pthread_t t;
            pthread_create(&t, NULL, thread_open, A(1));
            pthread_join(t, NULL);
            i += 1;
        } else if (!strcmp(op, "chdir")) {
            NEED(1); if (chdir(A(1))) perror("chdir"); i += 1;
        } else if (!strcmp(op, "sleep-ms")) {
            NEED(1);
            struct timespec t = { atoi(A(1)) / 1000, (atoi(A(1)) % 1000) * 1000000L };
            nanosleep(&t, NULL);
            i += 1;
        } else if (!strcmp(op, "open-loop")) {     /* open-loop PATH N: N open+close pairs */
            NEED(2);
            long n = atol(A(2));
            for (long k = 0; k < n; k++) {
                int fd = open(A(1), O_RDONLY);
                if (fd >= 0) close(fd);
            }
            i += 2;
        } else if (!strcmp(op, "append")) {       /* append PATH TEXT: open O_WRONLY|O_APPEND, then write */
            NEED(2);
            int fd = open(A(1), O_WRONLY | O_APPEND);
            if (fd >= 0) { if (write(fd, A(2), strlen(A(2))) < 0) perror("write"); close(fd); }
            i += 2;
        } else if (!strcmp(op, "raw-socket")) {   /* socket(AF_INET, SOCK_RAW, ICMP); prints errno */
            int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
            printf("raw-socket %d\n", s < 0 ? errno : 0);
            fflush(stdout);
            if (s >= 0) close(s);
        } else if (!strcmp(op, "sysctl-rewrite")) { /* sysctl-rewrite NAME: write back its current value */
            NEED(1);
            char path[256], val[256] = {0};
            snprintf(path, sizeof(path), "/proc/sys/%s", A(1));
            int fd = open(path, O_RDONLY);
            ssize_t n = fd >= 0 ? read(fd, val, sizeof(val) - 1) : -1;
            if (fd >= 0) close(fd);
            int e = 0;
            fd = open(path, O_WRONLY);
            if (fd < 0 || n <= 0 || write(fd, val, n) < 0) e = errno;
            if (fd >= 0) close(fd);
            printf("sysctl %d\n", e);
            fflush(stdout);
            i += 1;
        } else if (!strcmp(op, "open-errno")) {   /* open-errno PATH: open read-only, print errno */
            NEED(1);
            int fd = open(A(1), O_RDONLY);
            printf("open %d\n", fd < 0 ? errno : 0);
            fflush(stdout);
            if (fd >= 0) close(fd);
            i += 1;
        } else if (!strcmp(op, "connect-errno")) { /* connect-errno ADDR PORT: print connect's errno */
            NEED(2);
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = in4(A(1), atoi(A(2)));
            int r = connect(s, (struct sockaddr *)&a, sizeof(a));
            printf("connect %d\n", r < 0 ? errno : 0);
            fflush(stdout);
            close(s);
            i += 2;
        } else if (!strcmp(op, "progress")) {     /* progress FILE: forever, write a rising counter every 2 ms */
            NEED(1);
            int fd = open(A(1), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            for (unsigned long n = 1;; n++) {
                char buf[32];
                int len = snprintf(buf, sizeof(buf), "%lu\n", n);
                if (pwrite(fd, buf, len, 0) < 0) _exit(1);
                struct timespec t = { 0, 2000000 };
                nanosleep(&t, NULL);
            }
        } else if (!strcmp(op, "daemon-progress")) { /* daemon-progress FILE: double-forked setsid grandchild runs progress */
            NEED(1);
            pid_t c = fork();
            if (c == 0) {
                setsid();
                if (fork() == 0) {
                    char *args[] = { argv[0], "progress", A(1), NULL };
                    execv(argv[0], args);
                    _exit(127);
                }
                _exit(0);
            }
            waitpid(c, NULL, 0);
            i += 1;
        } else if (!strcmp(op, "fork-later")) {   /* fork-later GATE FILE: once GATE exists, fork a child that runs progress FILE */
            NEED(2);
            if (wait_file(A(1)))
                return 3;
            if (fork() == 0) {
                char *args[] = { argv[0], "progress", A(2), NULL };
                execv(argv[0], args);
                _exit(127);
            }
            i += 2;
        } else if (!strcmp(op, "pid")) {           /* print our pid */
            printf("%d\n", getpid());
            fflush(stdout);
        } else if (!strcmp(op, "exit")) {
            NEED(1); exit(atoi(A(1)));
        } else if (!strcmp(op, "raise")) {
            NEED(1); raise(atoi(A(1))); i += 1;
        } else {
            fprintf(stderr, "testops: unknown op '%s'\n", op);
            return 2;
        }
    }
    return 0;
}
