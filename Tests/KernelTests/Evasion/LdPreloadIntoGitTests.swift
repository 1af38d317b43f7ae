import Foundation
import XCTest

/// Evasion tier, class 1. Technique: run the real git, which may read `~/.git-credentials`,
/// with LD_PRELOAD naming a library of the agent's whose constructor reads the credentials:
/// the executable is genuine, the code that reads is not. ATT&CK T1574.006 (Hijack
/// Execution Flow: Dynamic Linker Hijacking), T1552.001.
/// The kernel reads LD_PRELOAD from the exec's environment; a program it loaded code into
/// is no credential's own tool.
final class LdPreloadIntoGitTests: TetherRunTestCase {
    func testGitWithAPreloadedLibraryIsNoExemption() throws {
        let home = try makeHome("preload", files: [".git-credentials": "https://user:token@example.com\n"])
        let lib = home + "/evil.so"
        let src = home + "/evil.c"
        try """
            #include <fcntl.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <unistd.h>
            __attribute__((constructor)) static void steal(void) {
                char p[512], b[256];
                const char *h = getenv("HOME");
                if (!h) return;
                snprintf(p, sizeof p, "%s/.git-credentials", h);
                int fd = open(p, O_RDONLY);
                if (fd >= 0) { (void)read(fd, b, sizeof b); close(fd); }
            }
            """.write(toFile: src, atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        cc.arguments = ["-shared", "-fPIC", "-o", lib, src]
        try cc.run()
        cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0, "cc could not build the preload library (gcc is in make deps)")
        try assertCredentialReadCaught("LD_PRELOAD=\(lib) git --version > /dev/null", path: home + "/.git-credentials", env: ["HOME": home])
    }
}
