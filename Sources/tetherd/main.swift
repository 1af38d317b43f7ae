import ArgumentParser
import Foundation
import TetherControl
import TetherCore
import TetherExport
import TetherLedger
import TetherProbe
import TetherResponse

/// The daemon's own log: stderr, which systemd sends to the journal.
func log(_ message: String) {
    FileHandle.standardError.write(Data("tetherd: \(message)\n".utf8))
}

struct Tetherd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tetherd",
        abstract: "Follow every process of every watched AI agent and report what it does.",
        discussion: """
        Signals: SIGHUP reloads the policy (a bad one is rejected, the old one kept); SIGTERM \
        stops cleanly. Under systemd (Type=notify) it reports READY once the programs are \
        attached and the policy is in the kernel, and feeds the watchdog from its event loop.
        """)

    @Option(name: .long, help: ArgumentHelp("Policy file naming the agents to watch.", valueName: "FILE"))
    var policy: String = "/etc/tether/policy.yaml"

    @Option(name: .long, help: ArgumentHelp("Also write every event as JSON lines to FILE ('-' = stdout); FILE,format=ocsf writes OCSF Process, File System and Network Activity records.", valueName: "FILE[,format=F]"))
    var events: String?

    @Option(name: .long, help: ArgumentHelp("Seconds between status lines on stderr (0 = none).", valueName: "SECONDS"))
    var statusInterval: Double = 60

    @Option(name: .long, help: ArgumentHelp("Control socket for `tether status|sessions|alerts|resume|kill|reload` ('' = none).", valueName: "PATH"))
    var control: String = ControlDefaults.socketPath

    @Option(name: .long, help: ArgumentHelp("bpffs directory where the tracked-process map is pinned, so sessions survive a restart ('' = do not pin).", valueName: "DIR"))
    var pinDir: String = "/sys/fs/bpf/tether"

    @Option(name: .long, help: ArgumentHelp("State directory: session ledgers go to its sessions/ (tether report), what is undone at persistence locations to its quarantine/ (tether quarantine).", valueName: "DIR"))
    var stateDir: String = "/var/lib/tether"

    @Option(name: .long, help: ArgumentHelp("Largest ledger of one session, in MiB; past it entries are counted, not written (0 = keep no ledgers).", valueName: "MIB"))
    var ledgerMaxMib: UInt64 = 64

    @Option(name: .long, help: ArgumentHelp("Days an ended session's ledger is kept (0 = no age limit).", valueName: "DAYS"))
    var ledgerKeepDays: Double = 30

    @Option(name: .long, help: ArgumentHelp("MiB all ended sessions' ledgers may take; the oldest go first (0 = no limit).", valueName: "MIB"))
    var ledgerKeepMib: UInt64 = 1024

    @Option(name: .long, help: ArgumentHelp("Send alerts to syslog: unix:/dev/log, udp://HOST:PORT, tcp://HOST:PORT (octet-counted), tls://HOST:PORT (RFC 5425; ,ca=FILE ,cert=FILE,key=FILE for mutual TLS ,name=PEER to pin the certificate's name); append ,format=rfc3164 or ,format=rfc5424 to override --syslog-format for this one. Repeatable.", valueName: "DEST"))
    var syslog: [String] = []

    @Option(name: .long, help: ArgumentHelp("Syslog message format: rfc5424 or rfc3164 (old receivers).", valueName: "FORMAT"))
    var syslogFormat: String = "rfc5424"

    @Option(name: .long, help: ArgumentHelp("Syslog facility (kern, user, daemon, auth, authpriv, local0…local7, …).", valueName: "NAME"))
    var syslogFacility: String = "auth"

    @Option(name: .long, help: ArgumentHelp("Syslog APP-NAME / tag.", valueName: "NAME"))
    var syslogAppName: String = "tether"

    @Option(name: .long, help: ArgumentHelp("Syslog severity per alert severity, e.g. low=notice,medium=warning,high=err,critical=crit.", valueName: "MAP"))
    var syslogSeverity: String = ""

    @Option(name: .long, help: ArgumentHelp("SD-ID of the RFC 5424 structured data (NAME@ENTERPRISE-NUMBER).", valueName: "ID"))
    var syslogSdId: String = "tether@32473"

    @Option(name: .long, help: ArgumentHelp("Alerts each syslog destination may queue while its receiver is down or slow; more are counted as dropped.", valueName: "N"))
    var syslogQueue: Int = 1024

    @Option(name: .long, help: ArgumentHelp("Longest wait between reconnection attempts, in seconds.", valueName: "SECONDS"))
    var syslogRetryMax: Double = 5

    @Option(name: .long, help: ArgumentHelp("POST every alert to a webhook: http://HOST[:PORT]/PATH or https://… with ,format=tether|falco|ocsf, ,batch=N (JSON lines per request), and for https ,ca= ,cert= ,key= ,name= as for tls:// syslog. Repeatable.", valueName: "URL"))
    var http: [String] = []

    @Option(name: .long, help: ArgumentHelp("Alerts each webhook may queue while its receiver is down or slow; more are counted as dropped.", valueName: "N"))
    var httpQueue: Int = 1024

    @Option(name: .long, help: ArgumentHelp("Seconds a webhook request may take (send and answer) before it is retried.", valueName: "SECONDS"))
    var httpTimeout: Double = 5

    @Option(name: .long, help: ArgumentHelp("Findings as native journald entries (TETHER_RULE=, TETHER_SESSION=, MESSAGE_ID, PRIORITY): auto (when stderr is the journal, i.e. under systemd), on, off.", valueName: "WHEN"))
    var journal: String = "auto"

    @Option(name: .long, help: ArgumentHelp("Append every alert as a JSON line to FILE (reopened on SIGHUP, for log rotation); FILE,format=falco writes Falco's JSON, FILE,format=ocsf OCSF Detection Findings.", valueName: "FILE[,format=F]"))
    var alertsJson: String?

    @Option(name: .long, help: ArgumentHelp("Serve Prometheus metrics on a loopback HOST:PORT, e.g. 127.0.0.1:9464.", valueName: "ADDR"))
    var metrics: String?

    @Option(name: .long, help: ArgumentHelp("Kernel-to-daemon ring buffer in MiB, a power of two. Larger holds longer bursts without loss; the daemon's RSS counts it in full.", valueName: "MIB"))
    var ringBufferMib: UInt32 = ProbeOptions().ringBufferBytes >> 20

    func makeConfig() throws -> DaemonConfig {
        var c = DaemonConfig(policyPath: policy)
        if let e = events {
            do { _ = try EventFormat.parse(destination: e) } catch { throw ExportError("--events \(error)") } // a bad format is said before anything starts
        }
        c.eventsPath = events
        c.statusInterval = statusInterval
        c.controlPath = control.isEmpty ? nil : control
        c.pinDirectory = pinDir.isEmpty ? nil : pinDir
        c.stateDirectory = stateDir
        guard ledgerMaxMib <= 1 << 20, ledgerKeepMib <= 1 << 30, ledgerKeepDays.isFinite, ledgerKeepDays >= 0, ledgerKeepDays <= 36_500 else {
            throw ExportError("--ledger-max-mib, --ledger-keep-mib, --ledger-keep-days: out of range")
        }
        if ledgerMaxMib == 0 {
            c.ledger = nil
        } else {
            var o = LedgerBook.Options(directory: LedgerStore.directory(state: stateDir))
            o.capBytes = ledgerMaxMib << 20
            o.keepSeconds = ledgerKeepDays * 86_400
            o.keepBytes = ledgerKeepMib << 20
            c.ledger = o
        }
        c.metricsAddress = metrics
        guard ringBufferMib >= 1, ringBufferMib <= 1024, ringBufferMib & (ringBufferMib - 1) == 0 else {
            throw ExportError("--ring-buffer-mib \(ringBufferMib): expected a power of two from 1 to 1024")
        }
        c.ringBufferBytes = ringBufferMib << 20
        if let j = alertsJson {
            do { _ = try AlertFormat.parse(destination: j) } catch { throw ExportError("--alerts-json \(error)") }
        }
        c.alertsJSON = alertsJson
        c.syslog = try syslog.map { try SyslogDestination.parse(withFormat: $0) }
        for case (.tls(_, _, let o), _) in c.syslog {
            do { try o.check() } catch { throw ExportError("--syslog: \(error)") }
        }
        c.http = try http.map { try HTTPDestination(parsing: $0) }
        for d in c.http where d.https {
            do { try d.tls.check() } catch { throw ExportError("--http \(d): \(error)") }
        }
        guard httpQueue > 0 else { throw ExportError("--http-queue must be at least 1") }
        guard httpTimeout > 0, httpTimeout <= 300 else { throw ExportError("--http-timeout \(httpTimeout): expected more than 0 and at most 300 seconds") }
        c.httpOptions.capacity = httpQueue
        c.httpOptions.sendTimeout = httpTimeout
        switch journal.lowercased() {
        case "on": c.journal = true
        case "off": c.journal = false
        case "auto": c.journal = JournalSink.stderrIsJournal()
        default: throw ExportError("--journal \(journal): expected auto, on or off")
        }
        guard let style = SyslogFormat.Style(rawValue: syslogFormat.lowercased()) else {
            throw ExportError("--syslog-format \(syslogFormat): expected rfc5424 or rfc3164")
        }
        c.syslogFormat.style = style
        guard let fac = SyslogFacility(name: syslogFacility) else {
            throw ExportError("--syslog-facility \(syslogFacility): unknown facility (\(SyslogFacility.allCases.map { "\($0)" }.joined(separator: ", ")))")
        }
        c.syslogFormat.facility = fac
        guard !syslogAppName.isEmpty else { throw ExportError("--syslog-app-name must not be empty") }
        c.syslogFormat.appName = syslogAppName
        c.syslogFormat.severities = try SeverityMap(parsing: syslogSeverity)
        guard syslogSdId.contains("@"), !syslogSdId.contains(where: { $0 == " " || $0 == "=" || $0 == "]" || $0 == "\"" }) else {
            throw ExportError("--syslog-sd-id \(syslogSdId): expected NAME@NUMBER without spaces, '=', ']' or '\"'")
        }
        c.syslogFormat.sdID = syslogSdId
        guard syslogQueue > 0 else { throw ExportError("--syslog-queue must be at least 1") }
        c.syslogOptions.capacity = syslogQueue
        c.syslogOptions.maxBackoff = max(0.1, syslogRetryMax)
        c.httpOptions.maxBackoff = c.syslogOptions.maxBackoff
        return c
    }

    func run() throws {
        Daemon.blockHandledSignals()
        let config: DaemonConfig
        do { config = try makeConfig() } catch {
            log("\(error)")
            throw ExitCode(64) // EX_USAGE
        }
        let loaded: Policy
        do {
            loaded = try Policy.load(path: policy)
        } catch {
            log("\(error)")
            throw ExitCode(78) // EX_CONFIG
        }
        if geteuid() != 0 {
            log("must run as root (or with CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE, CAP_SYS_PTRACE)")
            throw ExitCode(77)
        }
        let daemon: Daemon
        do {
            daemon = try Daemon(config: config, policy: loaded)
        } catch {
            log("\(error)")
            throw ExitCode(70)
        }
        let rc: Int32
        do { rc = try daemon.run() } catch {
            log("\(error)")
            throw ExitCode(70)
        }
        if rc != 0 { throw ExitCode(rc) }
    }
}

// A canary operation (tetherd runs itself as the member of a throwaway session, see
// GuardCanary): before argument parsing, since it is not an option a person uses.
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "--canary-op" {
    exit(CanaryOps.perform(Array(CommandLine.arguments.dropFirst(2))))
}
Tetherd.main()
