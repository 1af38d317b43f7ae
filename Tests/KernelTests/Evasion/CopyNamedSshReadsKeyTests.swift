import Foundation
import XCTest

/// Evasion tier, class 1. Technique: copy cat into the workspace under the name `ssh` and
/// run the copy: its executable's basename is ssh, its comm is ssh, and it reads the key.
/// ATT&CK T1036.005 (Masquerading: Match Legitimate Name or Location), T1552.004.
/// A program is trusted by where the kernel opened it from (a system directory, owned by
/// root), not by its name.
final class CopyNamedSshReadsKeyTests: TetherRunTestCase {
    func testACopyNamedSshIsNoExemption() throws {
        let home = try makeHome("copy", files: [".ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nexample\n"])
        try assertCredentialReadCaught("cp /bin/cat ./ssh && ./ssh ~/.ssh/id_ed25519 > /dev/null", path: home + "/.ssh/id_ed25519",
                                       env: ["HOME": home])
    }
}
