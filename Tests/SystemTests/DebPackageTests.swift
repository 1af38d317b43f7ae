import Foundation
import XCTest

/// The Debian package under a real systemd: `dpkg -i` of the `.deb` `make deb` built enables
/// and starts tetherd.service; an upgrade to a rebuilt package (a new version, built by the
/// same Makefile target) restarts the daemon on the new binaries and keeps the policy the
/// operator edited in between; a purge stops it and leaves nothing behind.
final class DebPackageTests: XCTestCase {
    var c: Container!

    override func tearDown() {
        c?.shutdown()
        c = nil
    }

    /// The package `make test` built (TETHER_DEB), and a second one of a later version built
    /// here from the same binaries with `make deb-package DEB_VERSION=…` (the target `make deb` packages with).
    func packages() throws -> (first: String, rebuilt: String, rebuiltVersion: String) {
        guard let deb = ProcessInfo.processInfo.environment["TETHER_DEB"], access(deb, R_OK) == 0 else {
            throw System.Failure(description: "TETHER_DEB names no readable .deb (\(ProcessInfo.processInfo.environment["TETHER_DEB"] ?? "unset")): `make test` builds it with `make deb`")
        }
        let first = try XCTUnwrap(version(of: deb))
        let rebuiltVersion = first + "+rebuilt1"
        let r = try System.run("/usr/bin/make", ["-s", "-C", System.repo, "deb-package", "DEB_VERSION=\(rebuiltVersion)", "DEB_BIN=\(System.installBinDir)"],
                               timeout: 900)
        XCTAssertEqual(r.status, 0, "make deb-package DEB_VERSION=\(rebuiltVersion): \(r.both.suffix(3000))")
        let rebuilt = (deb as NSString).deletingLastPathComponent + "/tether_\(rebuiltVersion)_\(try arch()).deb"
        XCTAssertEqual(version(of: rebuilt), rebuiltVersion)
        return (deb, rebuilt, rebuiltVersion)
    }

    func version(of deb: String) -> String? {
        (try? System.run("/usr/bin/dpkg-deb", ["-f", deb, "Version"]))?.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func arch() throws -> String { try System.run("/usr/bin/dpkg", ["--print-architecture"]).out.trimmingCharacters(in: .whitespacesAndNewlines) }

    func installed() -> String {
        ((try? c.exec("dpkg-query -W -f '${Status} ${Version}' tether 2>/dev/null").out) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testThePackageInstallsStartsSurvivesAnUpgradeWithAnEditedPolicyAndPurgesCleanly() throws {
        let debs = try packages()
        c = try Container(test: name, install: false) { root in
            for (deb, name) in [(debs.first, "first.deb"), (debs.rebuilt, "rebuilt.deb")] {
                try FileManager.default.copyItem(atPath: deb, toPath: root + "/root/" + name)
            }
        }
        XCTAssertNotEqual(try c.exec("test -e /usr/bin/tetherd").status, 0, "the tree must start without Tether")

        // Install: the postinst enables and starts the unit; Type=notify makes the start wait for READY.
        let install = try c.exec("dpkg -i /root/first.deb", timeout: 180)
        XCTAssertEqual(install.status, 0, install.both)
        XCTAssertFalse(install.both.contains("did not start"), install.both)
        XCTAssertEqual(installed(), "install ok installed \(try XCTUnwrap(version(of: debs.first)))")
        XCTAssertEqual(c.unit("ActiveState"), "active", c.journal())
        XCTAssertEqual(c.unit("UnitFileState"), "enabled")
        XCTAssertEqual(c.unit("ExecStart").contains("path=/usr/bin/tetherd"), true, c.unit("ExecStart"))
        let status = try c.exec("tether status")
        XCTAssertEqual(status.status, 0, status.both)
        XCTAssertTrue(status.out.contains("hooks attached"), status.out)
        XCTAssertEqual(try c.exec("test -s /usr/share/man/man8/tetherd.8.gz && test -s /usr/share/man/man1/tether.1.gz").status, 0, "man pages")
        let conffiles = try c.exec("dpkg-query -W -f '${Conffiles}' tether").out
        XCTAssertTrue(conffiles.contains("/etc/tether/policy.yaml") && conffiles.contains("/etc/default/tetherd"), conffiles)
        // the files dpkg recorded are the files on disk
        let verify = try c.exec("dpkg --verify tether")
        XCTAssertEqual(verify.status, 0, verify.both)
        XCTAssertEqual(verify.out, "", verify.both)

        // The operator edits the policy, and the daemon takes it.
        let edited = c.read("/etc/tether/policy.yaml") + "\n# edited by the operator before the upgrade\n"
        try c.write("/etc/tether/policy.yaml", edited)
        let before = c.unit("MainPID")

        // Upgrade: the daemon restarts on the new binaries; the edited policy stays as it is.
        let upgrade = try c.exec("dpkg -i /root/rebuilt.deb", timeout: 180)
        XCTAssertEqual(upgrade.status, 0, upgrade.both)
        XCTAssertEqual(installed(), "install ok installed \(debs.rebuiltVersion)")
        XCTAssertEqual(c.read("/etc/tether/policy.yaml"), edited, "the upgrade replaced the operator's policy")
        XCTAssertNotEqual(try c.exec("ls /etc/tether/*.dpkg-* 2>/dev/null").status, 0, "an upgrade with an unchanged shipped policy leaves no .dpkg-new/.dpkg-dist")
        XCTAssertTrue(System.eventually(30) { c.unit("ActiveState") == "active" && c.unit("MainPID") != before && c.unit("MainPID") != "0" },
                      "not restarted on the new binaries: \(c.unit("ActiveState")) \(c.unit("MainPID")) \(c.journal().suffix(2000))")
        XCTAssertEqual(c.unit("UnitFileState"), "enabled")
        let after = try c.exec("tether status")
        XCTAssertEqual(after.status, 0, after.both)

        // An administrator's "disable" survives a reinstall of the same version.
        try c.exec("systemctl disable tetherd")
        let reinstall = try c.exec("dpkg -i /root/rebuilt.deb", timeout: 180)
        XCTAssertEqual(reinstall.status, 0, reinstall.both)
        XCTAssertEqual(c.unit("UnitFileState"), "disabled", "the package enabled a unit the administrator had disabled")

        // Purge: stopped, and nothing of Tether is left: binaries, unit and its links, policy,
        // options, state, logs, and what tetherd pinned in bpffs.
        XCTAssertEqual(try c.exec("test -d /sys/fs/bpf/tether").status, 0, "tetherd pinned nothing: \(c.journal().suffix(1500))")
        let purge = try c.exec("dpkg --purge tether", timeout: 120)
        XCTAssertEqual(purge.status, 0, purge.both)
        XCTAssertEqual(installed(), "", "dpkg still knows the package: \(installed())")
        XCTAssertNotEqual(try c.exec("pgrep -x tetherd").status, 0, "tetherd still runs after the purge")
        for path in ["/usr/bin/tetherd", "/usr/bin/tether", "/lib/systemd/system/tetherd.service", "/etc/tether", "/etc/default/tetherd",
                     "/var/lib/tether", "/var/log/tether", "/sys/fs/bpf/tether", "/usr/share/doc/tether",
                     "/etc/systemd/system/multi-user.target.wants/tetherd.service", "/etc/systemd/system/tetherd.service"] {
            XCTAssertNotEqual(try c.exec("test -e \(path) || test -L \(path)").status, 0, "\(path) is left after the purge")
        }
        XCTAssertEqual(c.unit("LoadState"), "not-found")
    }
}
