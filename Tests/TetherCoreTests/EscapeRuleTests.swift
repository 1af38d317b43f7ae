import XCTest
@testable import TetherCore

/// Boundary-escape rules.
final class EscapeRuleTests: XCTestCase {
    func testWrite() {
        check("escape.write", fire: [
            R("write in another project", E.write("/home/dev/other/main.c")),
            R("delete in /etc", E.unlink("/etc/hosts")),
            R("chmod outside", E.chmod("/home/dev/Documents/x", 0o777)),
            R("rename out of the boundary", E.rename("/opt/app/config.yml", "/tmp/c")),
            R("mkdir in /opt", E.mkdir("/opt/agent")),
            R("another process's /proc entry", E.open("/proc/999/oom_score_adj", "w")),
        ], quiet: [
            R("edit in the workspace", E.write("/home/dev/proj/src/main.swift")),
            R("temp file", E.write("/tmp/tmp.XYZ")),
            R("npm cache", E.write("/home/dev/.npm/_cacache/index-v5/x")),
            R("pip cache", E.write("/home/dev/.cache/pip/http/x")),
            R("pip cache under the agent's HOME elsewhere", E.exec("/usr/bin/bash", ["bash"], env: ["HOME=/srv/agent"]),
              E.write("/srv/agent/.cache/pip/http/x")),
            R("npm cache under a HOME in another user's home directory", E.exec("/usr/bin/bash", ["bash"], env: ["HOME=/home/bob"]),
              E.write("/home/bob/.npm/_cacache/x")),
            R("/dev/null", E.open("/dev/null", "w")),
            R("terminal", E.open("/dev/pts/3", "rw")),
            R("python pycache refused in /usr/lib", E.write("/usr/lib/python3.11/__pycache__/x.cpython-311.pyc", result: -13)),
            R("own oom_score_adj", E.open("/proc/100/oom_score_adj", "w")),
            R("agent state file", E.write("/home/dev/.claude.json.backup")),
            R("runtime dir", E.write("/run/user/1000/agent.sock.lock")),
            R("a persistence write is reported by its own rule", E.write("/etc/cron.d/x")),
            R("pipes are not files", E.open("pipe:[1234]", "w")),
            R("a memfd (no links: no place on the filesystem)", { var e = E.truncate("/"); e.pathDeleted = true; return e }()),
        ])
    }

    func testCredentials() {
        check("escape.credentials", fire: [
            R("/etc/shadow refused", E.open("/etc/shadow", result: -13)),
            R("own SSH private key read by cat", E.open("/home/dev/.ssh/id_ed25519")),
            R("custom-named key", E.open("/home/dev/.ssh/deploy_key")),
            R("AWS credentials", E.open("/home/dev/.aws/credentials")),
            R("kube config read by python", E.open("/home/dev/.kube/config")),
            R("docker config", E.open("/home/dev/.docker/config.json")),
            R(".netrc", E.open("/home/dev/.netrc")),
            R("git credentials", E.open("/home/dev/.git-credentials")),
            R("npm token read by cat", E.exec("/usr/bin/cat", ["cat", "/home/dev/.npmrc"], pid: 210), E.open("/home/dev/.npmrc", pid: 210)),
            R("another process's environ", E.open("/proc/4242/environ")),
            R("init's environ, read", E.open("/proc/1/environ")),
            R("another process's environ, refused (an attempt)", E.open("/proc/4242/environ", result: -13)),
            R("another process's memory", E.open("/proc/4242/mem", "rw")),
            R("another user's home", E.open("/home/bob/notes.txt")),
            R("listing another user's home", E.open("/home/bob", "d")),
            R("root's home from a user session", E.open("/root/.bash_history")),
            R("SSH host key", E.open("/etc/ssh/ssh_host_ed25519_key", result: -13)),
            R("kubernetes service account token", E.open("/var/run/secrets/kubernetes.io/serviceaccount/token")),
            // identity from names: a name is the caller's word
            R("exec -a ssh cat: argv[0] is no identity", E.exec("/usr/bin/cat", ["ssh", "/home/dev/.ssh/id_ed25519"], pid: 220),
              E.open("/home/dev/.ssh/id_ed25519", pid: 220)),
            R("a copy of cat named ssh, in the workspace", E.exec("/home/dev/proj/ssh", ["./ssh", "/home/dev/.ssh/id_ed25519"], pid: 221),
              E.open("/home/dev/.ssh/id_ed25519", pid: 221)),
            R("a symlink named git to cat: the kernel opened cat", E.exec("/usr/bin/cat", ["./git", "/home/dev/.git-credentials"], pid: 222),
              E.open("/home/dev/.git-credentials", pid: 222)),
            R("the real ssh with LD_PRELOAD: the caller's code runs in it", E.exec("/usr/bin/ssh", ["ssh", "host"], pid: 223, env: ["LD_PRELOAD=/tmp/x.so"]),
              E.open("/home/dev/.ssh/id_ed25519", pid: 223)),
            R("an ssh its user owns", E.exec("/usr/local/bin/ssh", ["ssh", "host"], pid: 224, owner: 1000, mode: 0o100755),
              E.open("/home/dev/.ssh/id_ed25519", pid: 224)),
            R("an ssh anyone may rewrite", E.exec("/usr/local/bin/ssh", ["ssh", "host"], pid: 225, owner: 0, mode: 0o100777),
              E.open("/home/dev/.ssh/id_ed25519", pid: 225)),
            R("gcloud with PYTHONPATH: a module of the caller's first", E.exec("/usr/bin/python3", ["python3", "/usr/lib/google-cloud-sdk/lib/gcloud.py"],
                                                                                 pid: 226, env: ["PYTHONPATH=/tmp/evil"]),
              E.open("/home/dev/.config/gcloud/credentials.db", pid: 226)),
            R("python -c that names a credential tool after its code", E.exec("/usr/bin/python3", ["python3", "-c", "print(open(x).read())", "/usr/bin/aws"], pid: 227),
              E.open("/home/dev/.aws/credentials", pid: 227)),
            R("a #! script in the workspace named aws", E.exec("/usr/bin/python3.11", ["/usr/bin/python3", "./aws"], pid: 228, script: "./aws"),
              E.open("/home/dev/.aws/credentials", pid: 228)),
            Row("a venv's pip (its code the agent's to change) reads a pip.conf holding a token",
                [E.exec("/usr/bin/python3.11", ["/home/dev/proj/.venv/bin/python3", "/home/dev/proj/.venv/bin/pip", "install", "x"], pid: 229,
                        script: ".venv/bin/pip"), E.open("/home/dev/.config/pip/pip.conf", pid: 229)],
                content: ["/home/dev/.config/pip/pip.conf": true]),
            // a home elsewhere (HOME from the exec's environment, as the kernel read it)
            Row("~/.aws/credentials under an agent's HOME elsewhere",
                [E.exec("/usr/bin/bash", ["bash"], pid: 230, env: ["HOME=/srv/agent"]), E.open("/srv/agent/.aws/credentials", pid: 230)]),
            Row("gh's token under XDG_CONFIG_HOME", [E.exec("/usr/bin/bash", ["bash"], pid: 231, env: ["XDG_CONFIG_HOME=/srv/cfg"]),
                                                   E.open("/srv/cfg/gh/hosts.yml", pid: 231)]),
        ], quiet: [
            R("the system's aws, a #! script, reads its credentials", E.exec("/usr/bin/python3.11", ["/usr/bin/python3", "/usr/bin/aws", "s3", "ls"],
                                                                              pid: 240, script: "/usr/bin/aws", owner: 0, mode: 0o100755),
              E.open("/home/dev/.aws/credentials", pid: 240)),
            R("ssh with an unset LD_PRELOAD", E.exec("/usr/bin/ssh", ["ssh", "host"], pid: 241, env: ["LD_PRELOAD="], owner: 0, mode: 0o100755),
              E.open("/home/dev/.ssh/id_ed25519", pid: 241)),
            Row("a venv's pip reads a pip.conf with no secret in it",
                [E.exec("/usr/bin/python3.11", ["/home/dev/proj/.venv/bin/python3", "/home/dev/proj/.venv/bin/pip", "install", "x"], pid: 242,
                        script: ".venv/bin/pip"), E.open("/home/dev/.config/pip/pip.conf", pid: 242)],
                content: ["/home/dev/.config/pip/pip.conf": false]),
            Row("an agent's HOME elsewhere is its own home, not another user's",
                [E.exec("/usr/bin/bash", ["bash"], pid: 243, env: ["HOME=/srv/agent"]), E.open("/srv/agent/notes.txt", pid: 243)]),
            Row("an agent's HOME in another user's home dir is its own",
                [E.exec("/usr/bin/bash", ["bash"], pid: 244, env: ["HOME=/home/bob"]), E.open("/home/bob/notes.txt", pid: 244)]),
            R("ssh reads its key", E.exec("/usr/bin/ssh", ["ssh", "git@github.com"], pid: 200), E.open("/home/dev/.ssh/id_ed25519", pid: 200)),
            R("git-remote-https reads .netrc", E.exec("/usr/lib/git-core/git-remote-https", ["git-remote-https", "origin"], pid: 201),
              E.open("/home/dev/.netrc", pid: 201)),
            R("kubectl reads kube config", E.exec("/usr/local/bin/kubectl", ["kubectl", "get", "pods"], pid: 202), E.open("/home/dev/.kube/config", pid: 202)),
            R("gcloud (python) reads its credentials", E.exec("/usr/bin/python3", ["python3", "-S", "/usr/lib/google-cloud-sdk/lib/gcloud.py", "auth"], pid: 203),
              E.open("/home/dev/.config/gcloud/credentials.db", pid: 203)),
            R("known_hosts", E.open("/home/dev/.ssh/known_hosts")),
            R("ssh config", E.open("/home/dev/.ssh/config")),
            R("public key", E.open("/home/dev/.ssh/id_ed25519.pub")),
            R("missing .netrc probe", E.open("/home/dev/.netrc", result: -2)),
            R("/etc/passwd", E.open("/etc/passwd")),
            R("test key fixture in the workspace", E.open("/home/dev/proj/tests/fixtures/id_rsa")),
            R("own /proc environ", E.open("/proc/100/environ")),
            R("systemd's container probe: init's environ, refused", E.exec("/usr/bin/systemd-analyze", ["systemd-analyze", "verify", "x.service"], pid: 204),
              E.open("/proc/1/environ", pid: 204, result: -13)),
            R("child's /proc environ", E.fork(100, 200), E.open("/proc/200/environ")),
            R("own home", E.open("/home/dev/.gitconfig")),
            R("/home itself", E.open("/home", "d")),
            R("O_PATH is not a read", E.open("/home/dev/.ssh/id_rsa", "p")),
            Row("read-only root sanctions it", [E.open("/home/bob/shared/data.csv")],
                policy: policy(extra: "  boundary:\n    read_only: [/home/bob/shared]\n")),
        ])
        // Workspace = the home itself does not sanction reading the keys in it.
        let s = Row("home as workspace", [E.open("/home/dev/.ssh/id_rsa")], workspace: "/home/dev").run()
        XCTAssertEqual(s.rules(), ["escape.credentials"])
    }

    func testNetworkAndMetadata() {
        check("escape.network", fire: [
            R("postgres on the LAN", E.connect("10.1.2.3", 5432)),
            R("SMTP out", E.connect("203.0.113.9", 25, result: -111)),
            R("IPv6 on an odd port", E.connect("2001:db8::1", 6667)),
            R("UDP to a high port", E.connect("198.51.100.1", 4444, kind: .sendto)),
            Row("loopback refused by policy", [E.connect("127.0.0.1", 8080)],
                policy: policy(extra: "  boundary:\n    network:\n      allow_loopback: false\n")),
        ], quiet: [
            R("HTTPS anywhere", E.connect("140.82.112.3", 443)),
            R("DNS", E.connect("192.168.1.1", 53, kind: .sendto)),
            R("loopback dev server", E.connect("127.0.0.1", 5173)),
            R("IPv6 loopback", E.connect("::1", 8000)),
            R("v4-mapped HTTPS", E.connect("::ffff:140.82.112.3", 443)),
            R("unix socket", E.connectUnix("/run/systemd/journal/socket")),
            R("metadata is escape.metadata's", E.connect("169.254.169.254", 80)),
            Row("allow-listed by an agent policy entry", [E.connect("10.1.2.3", 5432)],
                policy: policy(extra: "  boundary:\n    network:\n      allow:\n        - cidr: 10.0.0.0/8\n          ports: [5432]\n")),
        ])
        check("escape.metadata", fire: [
            R("IMDS", E.connect("169.254.169.254", 80)),
            R("IMDS refused", E.connect("169.254.169.254", 80, result: -111)),
            R("ECS credentials", E.connect("169.254.170.2", 80)),
            R("IMDS over IPv6", E.connect("fd00:ec2::254", 80)),
            Row("even when allow-listed", [E.connect("169.254.169.254", 80)], policy: policy(extra: "  boundary:\n    network:\n      allow: [0.0.0.0/0]\n")),
        ], quiet: [
            R("link-local peer", E.connect("169.254.1.1", 80)),
            R("loopback", E.connect("127.0.0.1", 80)),
        ])
    }

    func testHardLink() {
        var refused = E.link("/etc/shadow", "/home/dev/proj/s")
        refused.result = -1 // EPERM: fs.protected_hardlinks
        check("escape.hard_link", fire: [
            R("password hashes given a workspace name", E.link("/etc/shadow", "/home/dev/proj/s")),
            R("an SSH private key", E.link("/home/dev/.ssh/id_ed25519", "/tmp/k")),
            R("a cron job, to write it under another name", E.link("/etc/cron.d/backup", "/home/dev/proj/job")),
            R("a shell startup file", E.link("/home/dev/.bashrc", "/home/dev/proj/rc")),
            R("refused by protected_hardlinks: an attempt", refused),
        ], quiet: [
            R("the workspace's own files (git objects, cp -al)", E.link("/home/dev/proj/a.txt", "/home/dev/proj/b.txt")),
            R("a public key", E.link("/home/dev/.ssh/id_ed25519.pub", "/home/dev/proj/k.pub")),
            R("an ordinary file outside", E.link("/usr/share/dict/words", "/home/dev/proj/words")),
        ])
    }

    func testContainerSocket() {
        check("escape.container_socket", fire: [
            R("docker.sock", E.connectUnix("/var/run/docker.sock")),
            R("rootless podman", E.connectUnix("/run/user/1000/podman/podman.sock")),
            R("containerd refused", E.connectUnix("/run/containerd/containerd.sock", result: -13)),
            R("docker API over TCP on loopback", E.connect("127.0.0.1", 2375)),
            R("docker TLS API elsewhere, refused", E.connect("10.0.0.5", 2376, result: -1)),
            R("kubelet API", E.connect("10.0.0.7", 10250)),
        ], quiet: [
            R("a dev server on loopback", E.connect("127.0.0.1", 5173)),
            R("a UDP datagram to port 2375 is no API call", E.connect("127.0.0.1", 2375, kind: .sendto)),
            R("journal socket", E.connectUnix("/run/systemd/journal/socket")),
            R("dbus", E.connectUnix("/run/dbus/system_bus_socket")),
            R("abstract socket", E.connectUnix("@/tmp/.X11-unix/X0")),
        ])
    }

    func testRawSocket() {
        check("escape.raw_socket", fire: [
            R("tcpdump", E.exec("/usr/bin/tcpdump", ["tcpdump", "-i", "any"])),
            R("nmap SYN scan", E.exec("/usr/bin/nmap", ["nmap", "-sS", "10.0.0.0/24"])),
        ], quiet: [
            R("nmap connect scan needs no raw socket", E.exec("/usr/bin/nmap", ["nmap", "-sT", "localhost"])),
            R("ping", E.exec("/usr/bin/ping", ["ping", "-c1", "127.0.0.1"])),
        ])
    }

    func testNamespacesAndMounts() {
        let newuser: UInt64 = 0x1000_0000, newns: UInt64 = 0x0002_0000, files: UInt64 = 0x400
        check("escape.namespace", fire: [
            R("unshare user+mount", E.flagsOp(.unshare, newuser | newns)),
            R("unshare refused", E.flagsOp(.unshare, newns, result: -1)),
            R("setns", E.flagsOp(.setns, 0x4000_0000)),
            R("nsenter", E.exec("/usr/bin/nsenter", ["nsenter", "-t", "1", "-m"])),
        ], quiet: [
            R("unshare(CLONE_FILES) creates no namespace", E.flagsOp(.unshare, files)),
            R("lsns reads", E.exec("/usr/bin/lsns", ["lsns"])),
        ])
        check("escape.mount", fire: [
            R("mount tmpfs", E.mount("/mnt/x")),
            R("bind mount refused", E.mount("/etc", source: "/tmp/etc", fstype: "", result: -1)),
            R("chroot", E.pathOp(.chroot, "/tmp/root")),
            R("pivot_root", E.pathOp(.pivotRoot, "/tmp/newroot")),
            R("umount", E.pathOp(.umount, "/boot")),
        ], quiet: [
            R("reading mounts", E.open("/proc/100/mountinfo")),
            R("mount with no args lists (exec only)", E.exec("/usr/bin/mount", ["mount"])),
        ])
    }

    func testPtrace() {
        check("escape.ptrace", fire: [
            R("attach to an outside process", E.ptrace(4242)),
            R("attach refused", E.ptrace(4242, result: -1)),
        ], quiet: [
            R("gdb on its own child", E.fork(100, 200), E.ptrace(200)),
            R("PTRACE_TRACEME", E.ptrace(0, request: 0)),
            Row("ptrace of Tether is escape.tamper", [E.ptrace(77)], protected: [77]),
        ])
    }

    func testKernelReach() {
        check("escape.bpf", fire: [
            R("prog load", E.simple(.bpf) { $0.command = 5 }),
            R("refused map create", E.simple(.bpf, result: -1) { $0.command = 0 }),
        ], quiet: [
            R("reading bpf stats is a file read", E.open("/proc/sys/kernel/unprivileged_bpf_disabled")),
        ])
        check("escape.kernel_module", fire: [
            R("finit_module", E.simple(.module) { $0.op = "load"; $0.path = "/tmp/x.ko" }),
            R("delete_module refused", E.simple(.module, result: -1) { $0.op = "delete"; $0.name = "nf_tables" }),
        ], quiet: [
            R("lsmod reads /proc/modules", E.open("/proc/modules")),
        ])
        check("escape.kernel_tunables", fire: [
            R("sysctl write", E.open("/proc/sys/net/ipv4/ip_forward", "w")),
            R("sysfs write", E.open("/sys/class/leds/input0::capslock/brightness", "w")),
            R("cgroup escape attempt", E.open("/sys/fs/cgroup/cgroup.procs", "w", result: -13)),
            R("sysrq", E.open("/proc/sysrq-trigger", "w")),
            R("a cgroup made", E.pathOp(.mkdir, "/sys/fs/cgroup/mine", mode: 0o755)),
        ], quiet: [
            R("reading /proc/sys", E.open("/proc/sys/kernel/hostname")),
            // `mkdir -p /sys/fs/cgroup/x` asks for every ancestor first: EEXIST changed nothing
            R("mkdir -p's ancestors", E.pathOp(.mkdir, "/sys", result: -17, mode: 0o755)),
            R("mkdir -p's ancestors", E.pathOp(.mkdir, "/sys/fs/cgroup", result: -17, mode: 0o755)),
            R("reading /sys", E.open("/sys/class/net/eth0/address")),
            R("ASLR is escape.tamper_aslr's", E.open("/proc/sys/kernel/randomize_va_space", "w")),
            R("bpffs is escape.tamper's", E.write("/sys/fs/bpf/x")),
        ])
        check("escape.raw_device", fire: [
            R("read a disk", E.open("/dev/sda")),
            R("nvme partition", E.open("/dev/nvme0n1p2", "rw", result: -13)),
            R("/dev/mem", E.open("/dev/mem")),
            R("/proc/kcore", E.open("/proc/kcore")),
            R("mapper", E.open("/dev/mapper/root")),
            R("block device node", E.pathOp(.mknod, "/tmp/disk", mode: 0o060600)),
        ], quiet: [
            R("/dev/null", E.open("/dev/null", "w")),
            R("/dev/shm", E.write("/dev/shm/x")),
            R("/dev/stdout", E.open("/dev/stdout", "w")),
            R("loop-control", E.open("/dev/loop-control")),
            R("missing disk probe", E.open("/dev/sdz", result: -2)),
            R("fifo via mknod", E.pathOp(.mknod, "/tmp/fifo", mode: 0o010644)),
        ])
    }

    func testPrivilege() {
        check("escape.privilege", fire: [
            R("sudo", E.exec("/usr/bin/sudo", ["sudo", "-n", "true"])),
            R("su refused", E.exec("/usr/bin/su", ["su", "-"], result: -13)),
            R("pkexec", E.exec("/usr/bin/pkexec", ["pkexec", "bash"])),
            R("setresuid to root", E.setid(.setuid, [0, 0, 0], result: -1)),
            R("setgid to root", E.setid(.setgid, [-1, 0, -1])),
            R("setuid-root binary", E.exec("/usr/local/bin/rootshell", ["rootshell"], uid: 1000, euid: 0)),
            R("setuid bit", E.chmod("/tmp/sh", 0o4755)),
            R("created setuid", E.open("/tmp/sh", "wc", mode: 0o4755)),
            R("setcap", E.exec("/usr/sbin/setcap", ["setcap", "cap_net_raw+ep", "/tmp/x"])),
            R("a file capability set by setxattr itself", E.simple(.setxattr) {
                $0.path = "/home/dev/proj/rootsh"; $0.name = "security.capability"; $0.bytes = 20; $0.capPermitted = 1 << 7
            }),
        ], quiet: [
            R("a security label, no capability", E.simple(.setxattr) { $0.path = "/tmp/x"; $0.name = "security.selinux"; $0.bytes = 30 }),
            R("an empty capability value", E.simple(.setxattr) { $0.path = "/tmp/x"; $0.name = "security.capability"; $0.bytes = 0 }),
            R("dropping to another user", E.setid(.setuid, [1000, 1000, 1000])),
            Row("root session setuid(0) is a no-op", [E.setid(.setuid, [0, 0, 0])], uid: 0),
            R("fusermount is setuid but benign", E.exec("/usr/bin/fusermount3", ["fusermount3", "-u", "/tmp/m"], euid: 0)),
            R("chmod +x", E.chmod("/home/dev/proj/run.sh", 0o755)),
            R("setcap -v verifies", E.exec("/usr/sbin/setcap", ["setcap", "-v", "cap_net_raw+ep", "/tmp/x"])),
            R("getcap", E.exec("/usr/sbin/getcap", ["getcap", "/usr/bin/ping"])),
        ])
    }

    /// The deputy verdict is the kernel's (the listener's executable, whether it is a
    /// member); the socket's path decides nothing.
    func testDeputy() {
        func reached(_ path: String, deputy: String?, member: Bool = false, uid: UInt32 = 1000, activated: Bool = false) -> Event {
            var e = E.connectUnix(path)
            e.reached = Reached(pid: 4242, uid: uid, member: member, deputy: deputy, activated: activated)
            return e
        }
        check("escape.deputy", fire: [
            R("the operator's tmux server", reached("/tmp/tmux-1000/default", deputy: "tmux")),
            R("a tmux server behind an innocent path", reached("/home/agent/work/d", deputy: "tmux", uid: 0)),
            R("an editor's server", reached("/run/user/1000/nvim.1234.0", deputy: "neovim server")),
            R("sshd's port on loopback", E.connect("127.0.0.1", 22)),
            R("sshd's port on ::1, refused", E.connect("::1", 22, result: -1)),
            R("sshd's port through 0.0.0.0", E.connect("0.0.0.0", 22)),
            R("a socket the service manager holds for a deputy", reached("/run/jobd.sock", deputy: "jobd", uid: 0, activated: true)),
        ], quiet: [
            R("the agent's own tmux server", reached("/tmp/tmux-1000/default", deputy: "tmux", member: true)),
            R("a path named like tmux's, no deputy listening", reached("/tmp/tmux-1000/default", deputy: nil)),
            R("a socket the kernel named no listener for", E.connectUnix("/tmp/tmux-1000/default")),
            R("ssh to another host", E.connect("10.0.0.5", 22)),
            R("a dev server on loopback", E.connect("127.0.0.1", 8022)),
        ])
    }

    func testTTYInjection() {
        check("escape.tty_injection", fire: [
            R("TIOCSTI into a terminal", E.simple(.ioctl) { $0.request = 0x5412; $0.fd = 0; $0.path = "/dev/pts/3" }),
            R("TIOCSTI refused", E.simple(.ioctl, result: -1) { $0.request = 0x5412; $0.fd = 5; $0.path = "/dev/pts/3" }),
        ], quiet: [
            R("another terminal request", E.simple(.ioctl) { $0.request = 0x5401; $0.fd = 0; $0.path = "/dev/pts/3" }),
            R("reading the terminal", E.open("/dev/pts/3", "rw")),
        ])
    }

    func testTamper() {
        let systemd = ExternalProcess(exe: "/usr/lib/systemd/systemd-journald", uid: 0)
        let editor = ExternalProcess(exe: "/usr/bin/vim", uid: 1000)
        check("escape.tamper", fire: [
            Row("SIGKILL to tetherd", [E.kill(77, signal: 9)], protected: [77]),
            Row("ptrace of tetherd", [E.ptrace(77)], protected: [77]),
            R("kill -1", E.kill(-1, signal: 9)),
            R("signal to init", E.kill(1, signal: 15)),
            Row("signal to journald", [E.kill(300, signal: 9)], external: [300: systemd]),
            R("SIGKILL to rsyslogd, as the kernel named it when the signal went", {
                var e = E.kill(300, signal: 9)
                e.reached = Reached(pid: 300, uid: 0, exe: "/usr/sbin/rsyslogd")
                return e
            }()),
            R("a refused signal to auditd, known by its command name only", {
                var e = E.kill(301, signal: 15, result: -1)
                e.reached = Reached(pid: 301, uid: 0, exe: "auditd", comm: true)
                return e
            }()),
            R("edit tether's policy", E.write("/etc/tether/policy.yaml")),
            R("tether state", E.unlink("/var/lib/tether/ledger.db")),
            R("pinned BPF maps", E.unlink("/sys/fs/bpf/tether/tracked")),
            R("replace tetherd", E.rename("/tmp/x", "/usr/local/bin/tetherd")),
            R("refused write to the unit", E.write("/etc/systemd/system/tetherd.service", result: -13)),
            Row("rt_sigqueueinfo to tetherd", [E.kill(77, signal: 18, via: "rt_sigqueueinfo")], protected: [77]),
            R("a signal to a process group the kernel found Tether in", E.kill(-500, signal: 18, guard: [.tamper, .monitor])),
            Row("tetherd made the owner of a file's I/O signals", [E.kill(77, signal: 29, via: "setown")], protected: [77]),
            Row("process_vm_writev into tetherd", [E.reach(77, syscall: "process_vm_writev")], protected: [77]),
            R("pidfd_getfd on Tether, refused (the kernel's guard matched)", E.reach(77, syscall: "pidfd_getfd", result: -1, guard: [.tamper])),
            Row("tetherd's memory through /proc (the kernel's guard matched its proc inode)", [E.open("/proc/77/mem", guard: [.tamper, .monitor])], protected: [77]),
            R("tetherd's oom_score_adj written (the kernel's guard matched)", E.open("/proc/77/oom_score_adj", "w", guard: [.tamper, .monitor])),
            R("a cgroup's process list opened for writing (the kernel's guard matched)",
              E.open("/sys/fs/cgroup/unified/x/cgroup.procs", "w", guard: [.tamper, .monitor])),
            R("a v1 freezer's state", E.open("/sys/fs/cgroup/freezer/x/freezer.state", "w", guard: [.tamper, .monitor])),
        ], quiet: [
            R("signal to its own child", E.fork(100, 200), E.kill(200, signal: 15)),
            R("kill(pid, 0) probes", E.kill(1, signal: 0)),
            R("a signal to the user's own editor, named by the kernel", {
                var e = E.kill(302, signal: 15)
                e.reached = Reached(pid: 302, uid: 1000, exe: "/usr/bin/vim")
                return e
            }()),
            Row("signal to the user's own editor", [E.kill(300, signal: 15)], external: [300: editor]),
            R("reading tether's policy", E.open("/etc/tether/policy.yaml")),
            R("a signal to a process group without Tether", E.kill(-500, signal: 15)),
            Row("ps reads tetherd's stat", [E.open("/proc/77/stat"), E.open("/proc/77/cmdline")], protected: [77]),
            R("process_vm_readv of its own child", E.fork(100, 200), E.reach(200, syscall: "process_vm_readv")),
            Row("another process's memory is a credential read, not tampering", [E.open("/proc/4242/mem")], protected: [77]),
        ])
        check("escape.tamper_services", fire: [
            R("systemctl stop", E.exec("/usr/bin/systemctl", ["systemctl", "stop", "auditd"])),
            R("systemctl mask", E.exec("/usr/bin/systemctl", ["systemctl", "mask", "tetherd"])),
            R("service x stop", E.exec("/usr/sbin/service", ["service", "rsyslog", "stop"])),
            R("mask by hand", E.symlink("/etc/systemd/system/auditd.service", to: "/dev/null")),
            R("shutdown", E.exec("/usr/sbin/shutdown", ["shutdown", "-h", "now"])),
        ], quiet: [
            R("systemctl status", E.exec("/usr/bin/systemctl", ["systemctl", "status", "auditd"])),
            R("service --status-all", E.exec("/usr/sbin/service", ["service", "--status-all"])),
            R("shutdown -c cancels", E.exec("/usr/sbin/shutdown", ["shutdown", "-c"])),
        ])
        check("escape.tamper_logs", fire: [
            R("truncate syslog", E.truncate("/var/log/syslog")),
            R("> auth.log", E.write("/var/log/auth.log")),
            R("delete journal file", E.unlink("/var/log/journal/abc/system.journal")),
            R("rewrite wtmp in place", E.open("/var/log/wtmp", "rw")),
            R("journalctl vacuum", E.exec("/usr/bin/journalctl", ["journalctl", "--vacuum-time=1s"])),
            R("move a log away", E.rename("/var/log/auth.log", "/tmp/a")),
        ], quiet: [
            R("reading logs", E.open("/var/log/syslog")),
            R("appending to a log", E.open("/var/log/agent.log", "wa")),
            R("journalctl -u", E.exec("/usr/bin/journalctl", ["journalctl", "-u", "ssh"])),
            R("a log in the workspace", E.truncate("/home/dev/proj/var/log/app.log")),
        ])
        check("escape.tamper_history", fire: [
            R("truncate bash history", E.truncate("/home/dev/.bash_history")),
            R("> .zsh_history", E.write("/home/dev/.zsh_history")),
            R("history to /dev/null", E.unlink("/home/dev/.bash_history"), E.symlink("/home/dev/.bash_history", to: "/dev/null")),
            R("another user's", E.unlink("/home/bob/.bash_history")),
        ], quiet: [
            R("shell appends history", E.open("/home/dev/.bash_history", "wa")),
            R("reading history", E.open("/home/dev/.bash_history")),
        ])
        check("escape.tamper_aslr", fire: [
            R("randomize_va_space", E.open("/proc/sys/kernel/randomize_va_space", "w", result: -13)),
            R("setarch -R", E.exec("/usr/bin/setarch", ["setarch", "x86_64", "-R", "./a.out"])),
        ], quiet: [
            R("reading randomize_va_space", E.open("/proc/sys/kernel/randomize_va_space")),
            R("setarch without -R", E.exec("/usr/bin/setarch", ["setarch", "i386", "./a.out"])),
        ])
    }
}

/// The kernel hooks' own event kinds: socket (raw/packet only), sysctl, device.
final class KernelHookEventTests: XCTestCase {
    func testSocketSysctlDevice() {
        check("escape.raw_socket", fire: [
            R("packet socket", E.simple(.socket, result: 3) { $0.socketDomain = 17; $0.socketType = 3; $0.socketProtocol = 768 }),
            R("raw ICMP socket refused", E.simple(.socket, result: -1) { $0.socketDomain = 2; $0.socketType = 3 | 0o2000000; $0.socketProtocol = 1 }),
        ], quiet: [
            R("a UDP socket is not raw", E.simple(.socket, result: 3) { $0.socketDomain = 2; $0.socketType = 2 }),
        ])
        check("escape.kernel_tunables", fire: [
            R("sysctl hook", E.simple(.sysctl, result: -1) { $0.path = "/proc/sys/net/ipv4/ip_forward" }),
        ], quiet: [
            R("ASLR via the sysctl hook is escape.tamper_aslr's", E.simple(.sysctl) { $0.path = "/proc/sys/kernel/randomize_va_space" }),
        ])
        check("escape.tamper_aslr", fire: [
            R("sysctl hook on randomize_va_space", E.simple(.sysctl, result: -1) { $0.path = "/proc/sys/kernel/randomize_va_space" }),
        ], quiet: [
            R("another sysctl", E.simple(.sysctl) { $0.path = "/proc/sys/vm/swappiness" }),
        ])
        let sda: UInt64 = 8 << 8 | 0 // glibc makedev(8, 0)
        check("escape.raw_device", fire: [
            R("device hook: disk read", E.simple(.device, result: -1) { $0.op = "read"; $0.deviceType = "block"; $0.dev = sda }),
        ], quiet: [
            R("reading a regular file", E.open("/home/dev/proj/disk.img")),
        ])
        let s = Row("dev text", [E.simple(.device) { $0.op = "read"; $0.deviceType = "block"; $0.dev = sda }]).run()
        XCTAssertEqual(s.findings.first?.message, "raw block device 8:0: read")
    }
}
