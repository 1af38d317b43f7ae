/// The built-in policy: what `systemd/policy.yaml` spells out, and what a policy file's
/// `defaults` falls back to for any key it leaves out. A test keeps the two equal.
extension Policy {
    public static let builtinDefaults = AgentPolicy(
        name: "default",
        mode: .monitor,
        boundary: Boundary(
            workspace: [],
            readOnly: [],
            writable: [
                // Temporary files and the terminal.
                "/tmp", "/var/tmp", "/dev/shm", "/run/user/$UID",
                "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts", "/dev/ptmx",
                // Tool caches and package stores (downloads land here, not in system dirs).
                "~/.cache", "~/.npm", "~/.yarn", "~/.pnpm-store", "~/.local/share/pnpm", "~/.bun/install/cache",
                "~/.cargo/registry", "~/.cargo/git", "~/go/pkg", "~/.m2/repository", "~/.gradle/caches",
                "~/.gradle/wrapper", "~/.gradle/daemon", "~/.gradle/native", "~/.nuget/packages", "~/.deno",
                "~/.local/share/uv", "~/.local/state", "~/.node-gyp", "~/.ivy2/cache", "~/.sbt", "~/.cache/bazel",
                // Small per-user state files of everyday tools.
                "~/.wget-hsts", "~/.lesshst", "~/.python_history", "~/.node_repl_history", "~/.viminfo",
                "~/.rnd", "~/.sudo_as_admin_successful", "~/.ssh/known_hosts", "~/.ssh/known_hosts.old",
                // The agents' own state and configuration.
                "~/.claude", "~/.claude.json", "~/.claude.json.*", "~/.codex", "~/.gemini", "~/.aider*", "~/.cursor",
                "~/.continue", "~/.config/github-copilot", "~/.config/claude",
            ],
            network: NetworkPolicy(allowLoopback: true, allow: [
                // Web (APIs, package registries, git over https) and DNS anywhere; git over ssh.
                NetworkAllow(cidrs: [try! CIDR("0.0.0.0/0"), try! CIDR("::/0")],
                             ports: [PortRange(53, 53), PortRange(80, 80), PortRange(443, 443), PortRange(22, 22), PortRange(9418, 9418)]),
            ])
        ),
        gracePeriod: 10,
        rules: []
    )

    /// Agents the daemon watches by itself out of the box (by command name; all in monitor mode).
    public static let builtinAgents: [AgentPolicy] = [
        AgentPolicy(name: "claude-code", match: AgentMatch(comm: ["claude"])),
        AgentPolicy(name: "codex", match: AgentMatch(comm: ["codex"])),
        AgentPolicy(name: "gemini-cli", match: AgentMatch(comm: ["gemini"])),
        AgentPolicy(name: "aider", match: AgentMatch(comm: ["aider"])),
    ].map { a in
        var m = builtinDefaults
        m.name = a.name
        m.match = a.match
        return m
    }

    /// The built-in policy (equal to the shipped systemd/policy.yaml).
    public static let `default` = Policy(version: 1, defaults: builtinDefaults, agents: builtinAgents, source: "<built-in>")
}
