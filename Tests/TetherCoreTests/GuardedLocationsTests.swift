import TetherCore
import XCTest

/// Where a name an unresolved change made could be among the guarded locations: each
/// guarded directory's entry of that name, and the guarded files of that name; never a
/// path that names a directory itself.
final class GuardedLocationsTests: XCTestCase {
    override func tearDown() {
        GuardedLocations.set(directories: [], files: [])
    }

    func testANameIsLookedForInEveryGuardedDirectoryAndAmongTheGuardedFiles() {
        GuardedLocations.set(directories: ["/etc/cron.d", "/home/a/.config/autostart", "/"],
                             files: ["/home/a/.bashrc", "/etc/ld.so.preload", "/root/.bashrc"])
        XCTAssertEqual(GuardedLocations.candidates(named: "job"),
                       ["/etc/cron.d/job", "/home/a/.config/autostart/job", "/job"])
        XCTAssertEqual(GuardedLocations.candidates(named: ".bashrc"),
                       ["/etc/cron.d/.bashrc", "/home/a/.config/autostart/.bashrc", "/.bashrc", "/home/a/.bashrc", "/root/.bashrc"])
        for name in ["", ".", ".."] {
            XCTAssertEqual(GuardedLocations.candidates(named: Substring(name)), [], "'\(name)' names no entry")
        }
        GuardedLocations.set(directories: [], files: [])
        XCTAssertEqual(GuardedLocations.candidates(named: "job"), [], "no plan, nothing guarded")
    }
}
