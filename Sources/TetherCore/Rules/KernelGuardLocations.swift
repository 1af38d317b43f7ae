/// The persistence locations the kernel's write guard protects: those of every
/// persistence rule that is enabled with a `stop` or `kill` action in an agent's policy.
/// The rules own the lists; this only exports them for compiling into kernel maps.
public struct GuardLocation: Sendable, Equatable {
    /// Absolute path, or relative to a home directory when `inHome`.
    public var path: String
    /// A directory: files created or opened for write directly inside it are guarded.
    public var directory: Bool
    public var inHome: Bool
    public var rule: String
}

public enum KernelGuardLocations {
    /// (rule, locations) of the persistence rules whose locations are files and directories.
    static var table: [(RuleInfo, Locations)] {
        [
            (PersistCron.definition, PersistCron.locations), (PersistAt.definition, PersistAt.locations),
            (PersistSystemd.definition, PersistSystemd.unitDirs),
            (PersistInitScripts.definition, PersistInitScripts.locations),
            (PersistShellStartup.definition, PersistShellStartup.locations),
            (PersistEditorStartup.definition, PersistEditorStartup.locations),
            (PersistSSH.definition, PersistSSH.locations),
            (PersistDynamicLinker.definition, PersistDynamicLinker.locations),
            (PersistAutostart.definition, PersistAutostart.locations),
            (PersistUdev.definition, PersistUdev.locations),
            (PersistMotd.definition, PersistMotd.locations),
            (PersistPackageHooks.definition, PersistPackageHooks.locations),
            (PersistAccounts.definition, PersistAccounts.locations),
            (PersistSudoers.definition, PersistSudoers.locations),
            (PersistPAM.definition, PersistPAM.locations),
            (PersistKernelModules.definition, PersistKernelModules.locations),
            (PersistAgentConfig.definition, PersistAgentConfig.locations),
        ]
    }

    /// Locations whose files get pre-images for an undo but no kernel guard: git's own
    /// configuration, which honest work changes through git (`git config --global
    /// user.email`) and only the rule can tell apart (persist.git_config, by the key set).
    public static func undoOnly(for agent: AgentPolicy) -> [GuardLocation] {
        let s = agent.settings(for: PersistGitConfig.definition)
        guard s.enabled, s.action != .alert else { return [] }
        let locs = PersistGitConfig.locations
        return locs.systemSpecs.map { GuardLocation(path: $0, directory: false, inHome: false, rule: PersistGitConfig.definition.id) }
            + locs.homeSpecs.map { GuardLocation(path: $0, directory: false, inHome: true, rule: PersistGitConfig.definition.id) }
    }

    /// Locations of `agent`'s persistence rules enabled with the action `alert`: no guard
    /// acts there, but their writes are noted so a flood cannot drop them (git's
    /// configuration is `undoOnly`'s when its rule acts, noted here when it alerts).
    public static func noted(for agent: AgentPolicy) -> [GuardLocation] {
        var out: [GuardLocation] = []
        for (info, locs) in table + [(PersistGitConfig.definition, PersistGitConfig.locations)] {
            let s = agent.settings(for: info)
            guard s.enabled, s.action == .alert else { continue }
            out += locations(locs, rule: info.id)
        }
        return out
    }

    /// Credential locations of `agent`'s escape.credentials (when enabled): no guard acts
    /// there, but their reads are noted so a flood cannot drop them. The SSH key
    /// directories stand for the private keys the rule finds there by name.
    public static func secrets(for agent: AgentPolicy) -> [GuardLocation] {
        let id = EscapeCredentials.definition.id
        guard agent.settings(for: EscapeCredentials.definition).enabled else { return [] }
        let keys = EscapeCredentials.keyDirectories
        return EscapeCredentials.secrets.flatMap { locations($0.locations, rule: id) }
            + [GuardLocation(path: keys.home, directory: true, inHome: true, rule: id),
               GuardLocation(path: keys.system, directory: true, inHome: false, rule: id)]
    }

    /// The kernel-matchable locations of `locs` (specs with wildcards are left to the rules).
    static func locations(_ locs: Locations, rule: String) -> [GuardLocation] {
        var out: [GuardLocation] = []
        for (specs, home) in [(locs.systemSpecs, false), (locs.homeSpecs, true)] {
            for spec in specs where !spec.contains(where: { "*?[".contains($0) }) {
                let dir = spec.hasSuffix("/")
                out.append(GuardLocation(path: dir ? String(spec.dropLast()) : spec, directory: dir, inHome: home, rule: rule))
            }
        }
        return out
    }

    /// Locations to guard for `agent`: rules enabled with an action other than `alert`.
    /// Specs with wildcards are left to the user-space rules (the kernel matches exact inodes).
    public static func persistence(for agent: AgentPolicy) -> [GuardLocation] {
        var out: [GuardLocation] = []
        for (info, locs) in table {
            let s = agent.settings(for: info)
            guard s.enabled, s.action != .alert else { continue }
            out += locations(locs, rule: info.id)
        }
        return out
    }
}

extension KernelGuardLocations {
    /// Destinations the egress guard refuses whatever an allow-list says (escape.metadata's).
    public static var metadataEndpoints: [IPAddress] { EscapeMetadata.endpoints }
    /// Ports the egress guard refuses on every address (escape.container_socket's).
    public static var containerAPIPorts: [ClosedRange<UInt16>] { EscapeContainerSocket.apiPorts.map(\.ports) }
}

extension IPAddress {
    /// The 16 bytes in network order (IPv4 as ::ffff:a.b.c.d), as the kernel's LPM keys hold them.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }
}
