import Foundation
import XCTest

/// Evasion tier, class 1. Technique: an XDG autostart entry under XDG_CONFIG_HOME, where
/// the desktop session looks instead of `~/.config`: a path no home-relative spec names.
/// ATT&CK T1547.013 (Boot or Logon Autostart Execution: XDG Autostart Entries).
/// `$XDG_CONFIG_HOME/x` is read as `~/.config/x` for every member exec'd with it.
final class XdgConfigHomeAutostartTests: TetherRunTestCase {
    func testAnAutostartEntryUnderXdgConfigHomeIsPersistence() throws {
        // the directory as a desktop user's configuration has it (making it is a finding too)
        let config = "/tmp/tev-xdg-\(getpid())"
        try FileManager.default.createDirectory(atPath: config + "/autostart", withIntermediateDirectories: true)
        cleanup.append(config)
        try assertCaught("""
            printf '[Desktop Entry]\\nType=Application\\nExec=/tmp/x\\n' > "$XDG_CONFIG_HOME/autostart/x.desktop"
            """, rule: "persist.xdg_autostart", path: config + "/autostart/x.desktop", env: ["XDG_CONFIG_HOME": config])
    }
}
