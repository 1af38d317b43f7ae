/* SPDX-License-Identifier: GPL-2.0 */
/* Constants and kernel functions every part of tether.bpf.c uses. */
#ifndef TETHER_COMMON_H
#define TETHER_COMMON_H

#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_ACCMODE 03
#define O_RDWR 02
#define FMODE_READ 0x1  /* struct file.f_mode: open for reading */
#define FMODE_WRITE 0x2 /* struct file.f_mode: open for writing */
#define NAME_MAX 255
#define SIGKILL 9
#define SIGSTOP 19
#define SOCK_RAW 3
#define AF_PACKET 17
#define BPF_FS_MAGIC 0xcafe4a11
#define PROC_SUPER_MAGIC 0x9fa0
#define CGROUP_SUPER_MAGIC 0x27e0eb
#define CGROUP2_SUPER_MAGIC 0x63677270
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define RENAME_EXCHANGE 2
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFDIR 0040000
#define S_IFLNK 0120000

/* kfuncs: freezing other members needs a task reference (tp_btf programs only) */
/* (libbpf 1.1 has no bpf_ksym_exists: a missing weak ksym resolves to 0) */
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) (!!(sym))
#endif
#define BPF_DEVCG_DEV_BLOCK 1
#define BPF_DEVCG_DEV_CHAR 2
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type, u64 value) __ksym __weak;
/* Retypes a kernel address as a read-only BTF pointer, so fields load directly (faulting
 * loads, no helper call). The verifier turns the call into a register move. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define KPTR(type, p) ((type *)bpf_rdonly_cast((void *)(p), bpf_core_type_id_kernel(type)))
/* The current task as such a pointer. (bpf_get_current_task_btf's trusted pointer would
 * make the verifier check every nested field for trust, a slow search at load.) */
#define current_task() KPTR(struct task_struct, bpf_get_current_task())

#endif
