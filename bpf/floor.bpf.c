// SPDX-License-Identifier: GPL-2.0
/* The floor for benchmarks: empty programs on exactly the hooks tether.bpf.c attaches.
 * What a workload pays with this loaded is the cost of the hooks themselves (the
 * syscall tracing slow path plus an empty BPF run per syscall), which no
 * tracepoint-based monitor can go below. A unit test keeps the hook lists equal. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_exit") int BPF_PROG(sys_exit) { return 0; }
SEC("tp_btf/sched_process_fork") int BPF_PROG(on_fork) { return 0; }
SEC("tp_btf/sched_process_exec") int BPF_PROG(on_exec) { return 0; }
SEC("tp_btf/sched_process_exit") int BPF_PROG(on_exit) { return 0; }
SEC("tp_btf/io_uring_submit_req") int BPF_PROG(on_uring_submit) { return 0; }
SEC("tp_btf/io_uring_complete") int BPF_PROG(on_uring_complete) { return 0; }
SEC("tp_btf/sys_enter") int BPF_PROG(sys_enter) { return 0; }
SEC("tp_btf/inet_sock_set_state") int BPF_PROG(on_sock_state) { return 0; }
