/* Benchmark workloads for `make bench`. Each times itself from the inside (after
 * dropping to its user and setting up), so process spawn noise stays out of the number,
 * and writes "elapsed_ns ops" to OUT.
 *
 *   tether-workload [-u USER] OUT openclose N          open+close one file N times
 *   tether-workload [-u USER] OUT forkexec N           fork, exec /bin/true, wait; N times
 *   tether-workload [-u USER] OUT connect N            loopback TCP connect+accept+close N times
 *   tether-workload [-u USER] OUT openrate RATE SECS [missing]
 *                                                     paced opens at RATE/s for SECS (pipeline throughput);
 *                                                     `missing`: of a file that does not exist, one
 *                                                     syscall per event (no close), so the producer
 *                                                     can outrun the consumer
 *   tether-workload [-u USER] OUT hold N               fork N children that sleep until killed (memory)
 *   tether-workload [-u USER] OUT run CMD [ARG...]     run CMD, time it (developer workload)
 *
 * -u USER: become USER (uid, gid, groups; HOME and cwd = /tmp/tether-bench/USER) first.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "tether-workload: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void become(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        fprintf(stderr, "tether-workload: no user %s (run make bench-deps or the harness as root)\n", user);
        exit(2);
    }
    char home[256];
    snprintf(home, sizeof(home), "/tmp/tether-bench/%s", user);
    mkdir("/tmp/tether-bench", 0755);
    mkdir(home, 0755);
    if (chown(home, pw->pw_uid, pw->pw_gid))
        die("chown home");
    if (initgroups(user, pw->pw_gid) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
        die("dropping to the workload user");
    if (chdir(home))
        die("chdir home");
    setenv("HOME", home, 1);
    setenv("USER", user, 1);
    setenv("LOGNAME", user, 1);
}

static uint64_t openclose(long n)
{
    int fd = open("data.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "x\n", 2) != 2)
        die("creating data.txt");
    close(fd);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        fd = open("data.txt", O_RDONLY);
        if (fd < 0)
            die("open");
        close(fd);
    }
    return now_ns() - t0;
}

static uint64_t forkexec(long n)
{
    char *const argv[] = { "true", NULL };
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            execv("/bin/true", argv);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
            die("child /bin/true");
    }
    return now_ns() - t0;
}

static uint64_t connect_loop(long n)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 64) ||
        getsockname(ls, (struct sockaddr *)&a, &alen))
        die("listening on 127.0.0.1");
    struct linger lg = { .l_onoff = 1, .l_linger = 0 }; /* RST on close: no TIME_WAIT pile-up */
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0)
            die("socket");
        if (connect(c, (struct sockaddr *)&a, sizeof(a)))
            die("connect 127.0.0.1");
        int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0)
            die("accept");
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(c);
        close(s);
    }
    return now_ns() - t0;
}

/* Opens at a steady RATE per second, paced in 1 ms slices; returns opens done. Each
 * open is one event: of data.txt (then closed), or, if `missing`, of a name that does not
 * exist (a failed attempt is an event too, with the same strings: requested name and cwd). */
static uint64_t openrate(long rate, double secs, int missing, long *done)
{
    int fd = open("data.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("creating data.txt");
    close(fd);
    if (missing)
        unlink("missing.txt");
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
    long n = 0;
    for (;;) {
        uint64_t t = now_ns();
        if (t >= end)
            break;
        long due = (long)((double)(t - t0) * rate / 1e9) + rate / 1000 + 1;
        if (n >= due) {
            struct timespec ts = { 0, 200000 };
            nanosleep(&ts, NULL);
            continue;
        }
        if (due - n > 1000)
            due = n + 1000; /* look at the clock at least every 1000 opens */
        for (; n < due; n++) {
            if (missing) {
                if (open("missing.txt", O_RDONLY) >= 0 || errno != ENOENT)
                    die("open missing.txt (it must not exist)");
                continue;
            }
            fd = open("data.txt", O_RDONLY);
            if (fd < 0)
                die("open");
            close(fd);
        }
    }
    *done = n;
    return now_ns() - t0;
}

/* N sleeping children; writes the result once all exist, then waits to be killed. */
static void hold(long n, const char *out)
{
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (;;)
                pause();
        }
    }
    FILE *f = fopen(out, "w");
    if (!f)
        die(out);
    fprintf(f, "0 %ld\n", n);
    fclose(f);
    pause();
}

static uint64_t run(char **argv)
{
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0)
        die("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "tether-workload: %s failed (status %d)\n", argv[0], st);
        exit(3);
    }
    return now_ns() - t0;
}

int main(int argc, char **argv)
{
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-u") == 0) {
        become(argv[i + 1]);
        i += 2;
    }
    if (argc - i < 3) {
        fprintf(stderr, "usage: tether-workload [-u USER] OUT openclose|forkexec|connect|openrate|hold|run ARGS\n");
        return 2;
    }
    const char *out = argv[i], *mode = argv[i + 1];
    long n = atol(argv[i + 2]), ops = n;
    uint64_t ns;
    if (strcmp(mode, "openclose") == 0)
        ns = openclose(n);
    else if (strcmp(mode, "forkexec") == 0)
        ns = forkexec(n);
    else if (strcmp(mode, "connect") == 0)
        ns = connect_loop(n);
    else if (strcmp(mode, "openrate") == 0 && argc - i >= 4)
        ns = openrate(n, atof(argv[i + 3]), argc - i >= 5 && strcmp(argv[i + 4], "missing") == 0, &ops);
    else if (strcmp(mode, "hold") == 0) {
        hold(n, out);
        return 0;
    } else if (strcmp(mode, "run") == 0) {
        ns = run(argv + i + 2);
        ops = 1;
    } else {
        fprintf(stderr, "tether-workload: unknown mode %s\n", mode);
        return 2;
    }
    FILE *f = fopen(out, "w");
    if (!f)
        die(out);
    fprintf(f, "%llu %ld\n", (unsigned long long)ns, ops);
    if (fclose(f))
        die(out);
    return 0;
}
