import Foundation
import XCTest

/// Evasion tier, class 1. Technique: read the cloud credentials of the agent's own HOME,
/// not the passwd home's (`~/.aws/credentials` with HOME=/srv/agent): the credential rule
/// looked only under /home, /root and the passwd home. ATT&CK T1552.001 (Unsecured
/// Credentials: Credentials In Files).
final class HomeElsewhereCloudCredentialsTests: TetherRunTestCase {
    func testCloudCredentialsUnderTheAgentsHomeAreACredentialRead() throws {
        let home = try makeHome("aws", files: [".aws/credentials": "[default]\naws_access_key_id = AKIAEXAMPLE\n"])
        try assertCredentialReadCaught("cat ~/.aws/credentials > /dev/null", path: home + "/.aws/credentials", env: ["HOME": home])
    }
}
