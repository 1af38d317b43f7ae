import Foundation
import XCTest

/// Evasion tier, class 1. Technique: `exec -a ssh cat ~/.ssh/id_ed25519`: cat runs with
/// argv[0] "ssh", so an exemption that trusts the program's name ("ssh may read SSH keys")
/// lets it read the key. ATT&CK T1036.005 (Masquerading: Match Legitimate Name or Location),
/// T1552.004 (Unsecured Credentials: Private Keys).
/// The exemption trusts only the executable the kernel opened (cat), never argv[0].
final class ExecAsSshReadsKeyTests: TetherRunTestCase {
    func testArgvZeroNamedSshIsNoExemption() throws {
        let home = try makeHome("execa", files: [".ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nexample\n"])
        try assertCredentialReadCaught("bash -c 'exec -a ssh cat ~/.ssh/id_ed25519' > /dev/null", path: home + "/.ssh/id_ed25519",
                                       env: ["HOME": home])
    }
}
