/// Credential reads: system secrets, SSH private keys, cloud, cluster, registry and git
/// tokens, other processes' environment and memory, and other users' homes.
/// A credential's own tool reading it (ssh its key, kubectl its config) is ordinary and
/// exempt; so are the workspace (test fixtures) and read-only roots. Opens that failed
/// because the file does not exist are probes, not reads; refused ones (EACCES) count.
struct EscapeCredentials: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "escape.credentials", severity: .high, action: .stop, mitre: "T1552",
                                    kinds: [.open],
                                    title: "credential reads (shadow, SSH keys, cloud/cluster/registry tokens, /proc/PID/environ|mem, other homes)")

    /// A kind of credential and the programs that legitimately read it.
    struct Secret: Sendable {
        let what: String
        let locations: Locations
        let consumers: Set<Substring>
        let consumerPrefixes: [String]
        /// A configuration file that holds a secret only sometimes (pip.conf, .npmrc): read,
        /// it is a credential read when it holds one (`RuleContext.holdsCredential`).
        let byContent: Bool
        init(_ what: String, _ place: Place, system: [String] = [], home: [String] = [], consumers: Set<Substring> = [], prefixes: [String] = [],
             byContent: Bool = false) {
            self.what = what
            locations = Locations(place, system: system, home: home)
            self.consumers = consumers
            consumerPrefixes = prefixes
            self.byContent = byContent
        }
    }

    static let secrets: [Secret] = [
        Secret("password hashes", .secretPasswords, system: ["/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/security/opasswd"],
               consumers: ["unix_chkpwd"]),
        Secret("host or service secret", .secretHost, system: [
            "/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/", "/var/lib/kubelet/pki/", "/etc/rancher/k3s/k3s.yaml",
            "/var/run/secrets/", "/run/secrets/", "/etc/krb5.keytab", "/etc/NetworkManager/system-connections/",
            "/etc/ipsec.secrets", "/var/lib/sss/secrets/", "/etc/docker/daemon.json",
        ]),
        Secret("cloud credentials", .secretCloud, home: [
            ".aws/credentials", ".aws/sso/cache/", ".aws/cli/cache/", ".config/gcloud/credentials.db",
            ".config/gcloud/access_tokens.db", ".config/gcloud/application_default_credentials.json",
            ".config/gcloud/legacy_credentials/", ".azure/accessTokens.json", ".azure/msal_token_cache.json",
            ".azure/msal_token_cache.bin", ".azure/service_principal_entries.json", ".boto", ".s3cfg",
            ".config/rclone/rclone.conf", ".oci/config", ".config/doctl/config.yaml", ".terraform.d/credentials.tfrc.json",
            ".vault-token",
        ], consumers: ["aws", "aws_completer", "gcloud", "gsutil", "bq", "az", "terraform", "tofu", "vault", "s3cmd",
                       "rclone", "oci", "doctl", "eksctl", "session-manager-plugin", "docker-credential-gcloud"]),
        Secret("cluster credentials", .secretCluster, home: [".kube/config", ".kube/cache/"],
               consumers: ["kubectl", "helm", "k9s", "kubectx", "kubens", "minikube", "kind", "k3d", "kustomize", "oc", "kubelogin", "stern"]),
        Secret("container registry credentials", .secretRegistry, home: [".docker/config.json", ".config/containers/auth.json"],
               consumers: ["docker", "dockerd", "docker-compose", "podman", "buildah", "skopeo", "crane", "nerdctl", "buildx"],
               prefixes: ["docker-credential-", "docker-buildx"]),
        Secret("git credentials", .secretGit, home: [".git-credentials", ".config/git/credentials", ".config/gh/hosts.yml", ".config/hub", ".config/glab-cli/config.yml"],
               consumers: ["git", "gh", "hub", "glab"], prefixes: ["git-credential-", "git-remote-"]),
        Secret(".netrc", .secretNetrc, home: [".netrc", "_netrc"],
               consumers: ["curl", "wget", "ftp", "lftp", "git"], prefixes: ["git-remote-", "git-credential-"]),
        Secret("package registry token", .secretPackages, home: [
            ".pypirc", ".cargo/credentials", ".cargo/credentials.toml", ".gem/credentials",
            ".m2/settings-security.xml", ".composer/auth.json", ".config/composer/auth.json",
        ], consumers: EscapeCredentials.packageTools),
        // Every pip and npm reads these, a venv's or a project's own copy too (code the agent
        // can change): a secret only where one is written in them.
        Secret("package manager configuration holding a token", .secretPackageConfigs, home: [
            ".npmrc", ".config/pip/pip.conf", ".pip/pip.conf", ".yarnrc.yml", ".gradle/gradle.properties", ".nuget/NuGet/NuGet.Config",
            ".m2/settings.xml",
        ], consumers: EscapeCredentials.packageTools, byContent: true),
        Secret("private key store", .secretKeyStores, home: [".gnupg/private-keys-v1.d/", ".gnupg/secring.gpg", ".password-store/", ".local/share/keyrings/",
                                           ".pgpass", ".my.cnf", ".mylogin.cnf"],
               consumers: ["gpg", "gpg2", "gpg-agent", "gpgsm", "pass", "gnome-keyring-daemon", "psql", "pg_dump", "pg_restore",
                           "pg_dumpall", "mysql", "mysqldump", "mariadb", "mariadb-dump"]),
    ]

    static let packageTools: Set<Substring> = ["npm", "npx", "node", "yarn", "pnpm", "bun", "corepack", "twine", "cargo", "gem", "dotnet",
                                               "nuget", "mvn", "gradle", "java", "pip", "pip3", "composer", "uv", "poetry"]

    static let sshKeyConsumers: Set<Substring> = ["ssh", "ssh-add", "ssh-keygen", "ssh-agent", "scp", "sftp", "sshd", "ssh-keysign", "autossh"]
    /// Files under ~/.ssh that are not private keys.
    static let sshPublic: Set<Substring> = ["known_hosts", "known_hosts.old", "config", "authorized_keys", "authorized_keys2", "rc", "environment"]

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let path = e.openedPath, e.opensForReading else { return nil }
        // ENOENT/ENOTDIR: looked for and not there. Other refusals (EACCES, EPERM) are attempts.
        if !e.succeeded, e.failedNotFound || e.result == -40 /* ELOOP */ { return nil }
        guard !ctx.sanctionedRead(path) else { return nil }

        if let (pid, rest) = PathBytes.procPid(path), rest == "environ" || rest == "mem" || rest.hasSuffix("/environ") || rest.hasSuffix("/mem") {
            guard pid != e.pid, !ctx.isMember(pid), !e.guardActions.contains(.tamper) else { return nil } // Tether's: escape.tamper
            // systemd's tools (systemd-analyze, systemd-detect-virt) read init's environment
            // for "container=": the documented container probe. Refused by the kernel,
            // nothing was read; a read that succeeds is judged as any other.
            if pid == 1, rest == "environ", !e.succeeded { return nil }
            let what = rest.hasSuffix("mem") ? "memory" : "environment"
            return hit("another process's \(what): \(path)", path, e)
        }

        if let (homeDir, rel) = Homes.relative(path, homes: ctx.homes) {
            if rel.hasPrefix(".ssh/"), isSSHPrivateKey(rel) {
                if consumer(e, ctx, EscapeCredentials.sshKeyConsumers, []) { return nil }
                return hit("SSH private key: \(path)", path, e)
            }
            for s in EscapeCredentials.secrets where s.locations.holdsEventPath(ctx) {
                if consumer(e, ctx, s.consumers, s.consumerPrefixes) { return nil }
                if s.byContent, ctx.holdsCredential(path) == false { return nil }
                return hit("\(s.what): \(path)", path, e)
            }
            if isOtherHome(homeDir, ctx, e) { return hit("another user's home: \(path)", path, e) }
            return nil
        }
        if let dir = Homes.home(of: path, homes: ctx.homes), isOtherHome(dir, ctx, e) {
            return hit("another user's home: \(path)", path, e)
        }
        if PathBytes.hasPrefix(path, EscapeCredentials.sshHostKeyPrefix), !path.hasSuffix(".pub") {
            if consumer(e, ctx, EscapeCredentials.sshKeyConsumers, []) { return nil }
            return hit("SSH host private key: \(path)", path, e)
        }
        for s in EscapeCredentials.secrets where s.locations.holdsEventPath(ctx) {
            if consumer(e, ctx, s.consumers, s.consumerPrefixes) { return nil }
            return hit("\(s.what): \(path)", path, e)
        }
        return nil
    }

    static let sshHostKeyPrefix = Array("/etc/ssh/ssh_host_".utf8)
    /// The directories whose private keys the rule finds by name (a user's ~/.ssh, the host
    /// keys in /etc/ssh): as a whole, where the kernel notes reads (`KernelGuardLocations.secrets`).
    static let keyDirectories = (home: ".ssh", system: "/etc/ssh")

    private func hit(_ what: String, _ path: String, _ e: Event) -> RuleHit {
        RuleHit("credential read: \(what)\(e.outcomeNote)", subject: path, path: path)
    }

    private func isSSHPrivateKey(_ rel: Substring) -> Bool {
        let name = rel.dropFirst(5) // ".ssh/"
        if name.isEmpty || name.contains("/") { return false }
        if EscapeCredentials.sshPublic.contains(name) || name.hasSuffix(".pub") || name.hasPrefix("known_hosts") { return false }
        return true
    }

    /// A home that is not the session user's (passwd, or one its members were exec'd with).
    /// Unknown home: only /root counts, for non-root.
    private func isOtherHome(_ dir: Substring, _ ctx: RuleContext, _ e: Event) -> Bool {
        if let h = ctx.home, dir == h { return false } // the common case, before the learned homes
        if ctx.homes?.holds(dir) == true { return false }
        if let h = ctx.home { return dir != h }
        return dir == "/root" && ctx.uid != 0
    }

    /// The credential's own tool, by the identity the kernel gave it (`trustedName`).
    private func consumer(_ e: Event, _ ctx: RuleContext, _ names: Set<Substring>, _ prefixes: [String]) -> Bool {
        guard let n = ctx.trustedName(e) else { return false }
        return names.contains(n) || prefixes.contains { n.hasPrefix($0) }
    }
}
