// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Tether",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tetherd", targets: ["tetherd"]),
        .executable(name: "tether", targets: ["tether"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // The C façade over libbpf and the generated skeletons (built by `make bpf`).
        .target(
            name: "CTetherProbe",
            exclude: ["generated"],
            cSettings: [.unsafeFlags(["-Wno-unused-function"])],
            linkerSettings: [.linkedLibrary("bpf")]
        ),
        // SHA-256 through OpenSSL's libcrypto (the ledger's hash chain, digests of left-behind files).
        .target(name: "CTetherCrypto", linkerSettings: [.linkedLibrary("crypto")]),
        // TLS clients through OpenSSL's libssl (syslog over TLS, the HTTPS webhook).
        .target(name: "CTetherTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // Pure Swift: events, process table, policy, rules. No C, no root.
        .target(name: "TetherCore", dependencies: [.product(name: "Yams", package: "Yams")]),
        // The one Swift layer that touches the kernel: load, attach, ring buffer, maps.
        .target(name: "TetherProbe", dependencies: ["CTetherProbe", "TetherCore"]),
        // Containment: signals to whole sessions through pidfds, kernel guard configuration.
        .target(name: "TetherResponse", dependencies: ["CTetherProbe", "TetherProbe", "TetherCore"]),
        // Alert sinks: syslog (RFC 5424/3164 over unix/UDP/TCP/TLS), HTTP(S), journald, JSON lines.
        .target(name: "TetherExport", dependencies: ["TetherCore", "CTetherTLS"]),
        // Session ledgers: what a session really did, hash-chained; reports and the cross-check
        // against an agent's own record of its tool calls.
        .target(name: "TetherLedger", dependencies: ["CTetherCrypto", "TetherCore", "TetherExport"]),
        // The one pipeline every front end runs events through: table, classifier, responder, alerts.
        .target(name: "TetherPipeline", dependencies: ["TetherCore", "TetherProbe", "TetherResponse", "TetherExport", "TetherLedger"]),
        // The control socket's protocol (newline-delimited JSON) and its client/listener.
        .target(name: "TetherControl", dependencies: ["TetherExport"]),
        .executableTarget(name: "tetherd", dependencies: [
            "TetherCore", "TetherProbe", "TetherResponse", "TetherExport", "TetherControl", "TetherPipeline", "TetherLedger",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "tether", dependencies: [
            "TetherCore", "TetherProbe", "TetherResponse", "TetherExport", "TetherControl", "TetherPipeline", "TetherLedger",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Benchmarks (`make bench`): workloads under each monitoring configuration.
        .executableTarget(name: "tether-bench", dependencies: [
            "TetherCore", "TetherProbe", "TetherResponse", "TetherPipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TetherCoreTests", dependencies: ["TetherCore"]),
        .testTarget(name: "TetherProbeTests", dependencies: ["TetherProbe", "CTetherProbe", "TetherCore"]),
        .testTarget(name: "KernelTests", dependencies: ["TetherProbe", "TetherCore", "TetherResponse", "TetherExport", "TetherControl", "TetherPipeline", "TetherLedger"]),
        .testTarget(name: "TetherExportTests", dependencies: ["TetherExport", "TetherControl"]),
        .testTarget(name: "TetherLedgerTests", dependencies: ["TetherLedger", "TetherCore", "TetherExport"]),
        // System tier: a real systemd (systemd-nspawn boot) and a real rsyslogd. Root; `make deps-system`.
        .testTarget(name: "SystemTests", dependencies: ["TetherExport", "TetherControl", "TetherCore"]),
    ],
    swiftLanguageModes: [.v5]
)
