/// Every rule Tether has, in evaluation order. A rule's position is its number in the
/// engine's tables; fallbacks (`escape.write`, `escape.network`) run after the rest.
public enum RuleCatalog {
    public static let rules: [any Rule] = [
        // Persistence
        PersistCron(), PersistAt(), PersistSystemd(), PersistInitScripts(), PersistShellStartup(), PersistEditorStartup(), PersistSSH(),
        PersistDynamicLinker(), PersistAutostart(), PersistUdev(), PersistMotd(), PersistPackageHooks(),
        PersistPythonStartup(), PersistAccounts(), PersistSudoers(), PersistPAM(), PersistKernelModules(),
        PersistPathBinary(), PersistGitHooks(), PersistGitConfig(), PersistAgentConfig(), PersistDaemonize(), OutlivedSession(),
        // Boundary escape
        EscapeTamper(), EscapeTamperServices(), EscapeTamperLogs(), EscapeTamperHistory(), EscapeTamperASLR(),
        EscapeCredentials(), EscapeHardLink(), EscapeMetadata(), EscapeContainerSocket(), EscapeDeputy(), EscapeRawSocket(), EscapeNamespace(), EscapeMount(),
        EscapePtrace(), EscapeBPF(), EscapeKernelModule(), EscapeKernelTunables(), EscapeRawDevice(), EscapePrivilege(), EscapeTTYInjection(),
        EscapeWrite(), EscapeNetwork(),
        // Evasion
        EvasionIoUring(), EvasionRestrictedSyscall(), EvasionEventLoss(), EvasionUnresolvedPath(), EvasionUnverifiedPath(), EvasionUnplacedDestination(), EvasionHiddenEnvironment(), EvasionFileless(), EvasionDownloadExec(),
    ]

    public static let all: [RuleInfo] = rules.map(\.info)

    public static func info(_ id: String) -> RuleInfo? { all.first { $0.id == id } }
}
