/* The consumer floor: Tether's kernel side and ring buffer, drained by plain C that only
 * counts records (no decoding). Same loading, tracking and poll loop as the Swift reader
 * (CTetherProbe's tp_open / tp_spawn_held / tp_track / tp_poll with a 2 ms timeout).
 *
 *   tether-cconsumer WORKLOAD USER RATE SECONDS [missing]
 *
 * Runs `WORKLOAD -u USER OUT openrate RATE SECONDS [missing]` tracked and prints
 * "result ACHIEVED_PER_S EVENTS DELIVERED DROPS CONSUMER_CPU_NS SECONDS".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tether_probe.h"

static uint64_t delivered, bytes;

static int on_record(void *ctx, const void *data, size_t size)
{
    (void)ctx;
    const struct te_header *h = data;
    delivered++;
    bytes += h->size + (size & 0);
    return 0;
}

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

int main(int argc, char **argv)
{
    if (argc != 5 && !(argc == 6 && strcmp(argv[5], "missing") == 0)) {
        fprintf(stderr, "usage: tether-cconsumer WORKLOAD USER RATE SECONDS [missing]\n");
        return 2;
    }
    char out[] = "/tmp/tether-bench/results/cconsumer.txt";
    unlink(out);
    struct tp_options opts = { 0 };
    struct tp_probe *p;
    char err[1024];
    int rc = tp_open(&opts, on_record, NULL, &p, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "tether-cconsumer: %s\n", err);
        return 70;
    }
    char *wargv[] = { argv[1], "-u", argv[2], out, "openrate", argv[3], argv[4], argc == 6 ? argv[5] : NULL, NULL };
    int pid, release, status, stage;
    if ((rc = tp_spawn_held(wargv, NULL, NULL, NULL, &pid, &release, &status)) || (rc = tp_track(p, pid, 42, pid, 0, 0)) ||
        (rc = tp_spawn_release(release, status, &stage))) {
        fprintf(stderr, "tether-cconsumer: starting the workload: %s\n", strerror(-rc));
        return 70;
    }
    uint64_t cpu0 = cpu_ns();
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (tp_poll(p, 2) < 0)
            break;
    }
    uint64_t stats[TE_STAT_MAX];
    for (int i = 0; i < 500; i++) { /* drain until everything the kernel wrote has arrived */
        tp_poll(p, 2);
        if (tp_stats(p, stats) == 0 && delivered >= stats[TE_STAT_EVENTS])
            break;
    }
    tp_stats(p, stats);
    uint64_t cpu = cpu_ns() - cpu0;
    unsigned long long ns = 0, ops = 0;
    FILE *f = fopen(out, "r");
    if (!f || fscanf(f, "%llu %llu", &ns, &ops) != 2) {
        fprintf(stderr, "tether-cconsumer: the workload left no result (status %d)\n", st);
        return 1;
    }
    fclose(f);
    double secs = ns / 1e9;
    printf("result %.0f %llu %llu %llu %llu %.3f\n", ops / secs, (unsigned long long)stats[TE_STAT_EVENTS],
           (unsigned long long)delivered, (unsigned long long)stats[TE_STAT_DROPS], (unsigned long long)cpu, secs);
    tp_close(p);
    return 0;
}
