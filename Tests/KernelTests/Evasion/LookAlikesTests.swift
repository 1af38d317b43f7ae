import Foundation
import XCTest

/// Evasion tier, the other side: what honest agents do that looks like an evasion must
/// not be one. Each look-alike runs in enforce mode (a false alarm would stop real work).
final class LookAlikesTests: TetherRunTestCase {
    /// tar and cp restore modes and times through `/proc/self/fd/N` of the file they just
    /// wrote: a workspace file, not a write outside the boundary.
    func testModesSetThroughProcSelfFdOfAWorkspaceFileAreWorkspaceWork() throws {
        let r = try run("""
            set -e
            echo data > restored.txt
            exec 7<restored.txt
            chmod 600 /proc/self/fd/7
            touch -h -d @0 /proc/self/fd/7 2>/dev/null || true
            exec 7<&-
            mkdir -p sub && cd sub && touch /proc/self/cwd/made-here
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let loud = r.findings.filter { $0["rule"] as? String != "tether.session_ended" }
        XCTAssertEqual(loud.count, 0, "workspace work through /proc/self must stay quiet: \(loud)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/sub/made-here"))
    }

    /// A memfd sized with ftruncate and written (Chromium under Playwright does this all the
    /// time; so does shared-memory code): the kernel names it by no path (`/` and no links
    /// left), and it is no file outside the boundary.
    func testAMemfdIsNoFileOutsideTheBoundary() throws {
        let r = try run("exec python3 -c \"import os; fd = os.memfd_create('shm'); os.ftruncate(fd, 65536); os.write(fd, b'frame')\"")
        XCTAssertEqual(r.status, 0, r.stderr)
        let loud = r.findings.filter { $0["rule"] as? String != "tether.session_ended" }
        XCTAssertEqual(loud.count, 0, "a memfd must stay quiet: \(loud)")
    }

    /// An agent whose HOME is elsewhere works in its own home's caches, reads its own files
    /// there, and runs a venv's pip, which reads the home's pip.conf (an index, no secret):
    /// its own work, not another user's home, not a credential read.
    func testWorkInTheAgentsOwnHomeElsewhereIsQuiet() throws {
        let home = try makeHome("lookalike", files: [".config/pip/pip.conf": "[global]\nindex-url = https://pypi.org/simple\n",
                                                    "notes.txt": "mine\n"])
        let r = try run("""
            set -e
            mkdir -p ~/.cache/tool && echo data > ~/.cache/tool/x && cat ~/.cache/tool/x ~/notes.txt > /dev/null
            python3 -m venv .venv && .venv/bin/pip --version > /dev/null
            """, env: ["HOME": home])
        XCTAssertEqual(r.status, 0, r.stderr)
        let loud = r.findings.filter { $0["rule"] as? String != "tether.session_ended" }
        XCTAssertEqual(loud.count, 0, "work in the agent's own home must stay quiet: \(loud)")
    }

    /// Git configuration edited in the workspace's own repository, with the real git: the
    /// agent's identity, a remote, line endings and a plain pager run nothing.
    func testGitConfigInTheWorkspaceRepositoryIsQuiet() throws {
        let r = try run("""
            set -e
            git init -q repo && cd repo
            git config user.name agent && git config user.email agent@example.com
            git config core.autocrlf false && git config core.pager cat
            git remote add origin https://example.com/x.git
            git status > /dev/null
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let loud = r.findings.filter { $0["rule"] as? String != "tether.session_ended" }
        XCTAssertEqual(loud.count, 0, "git configuration work in the workspace must stay quiet: \(loud)")
    }

    /// `systemd-analyze verify` (like systemd-detect-virt) reads init's environment for
    /// "container=": the kernel refuses it here, nothing is read, and it is no credential theft.
    func testSystemdAnalyzeVerifyIsNotACredentialRead() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "systemd-analyze is missing (Debian's systemd)")
        let r = try run("""
            printf '[Unit]\\nDescription=a unit the agent wrote\\n[Service]\\nExecStart=/bin/true\\n' > app.service
            systemd-analyze verify ./app.service || true
            """)
        let loud = r.findings.filter { $0["rule"] as? String != "tether.session_ended" }
        XCTAssertEqual(loud.count, 0, "systemd-analyze verify must stay quiet: \(loud) \(r.stderr)")
    }

    /// An agent that runs its own tmux server (started in the session, so a member) and
    /// opens windows in it hands nothing to anyone outside: no deputy. Its server is ended
    /// before the session is, so nothing outlives it.
    func testTheAgentsOwnTmuxServerIsNoDeputy() throws {
        let sock = "/tmp/tev-own-tmux-\(getpid())"
        cleanup.append(sock)
        let r = try run("""
            set -e
            tmux -S \(sock) new-session -d -s mine 'sleep 600'
            tmux -S \(sock) new-window -d 'touch window-ran'
            while [ ! -e window-ran ]; do sleep 0.05; done
            tmux -S \(sock) kill-server
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.rules.contains("escape.deputy"), "the agent's own server is a member, no deputy: \(r.findings)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/window-ran"))
    }

    /// Claude Code rewrites its state, `~/.claude.json`, all the time (counters, projects,
    /// tips): its own work, whatever it changes, as long as no MCP server that runs a
    /// command appears in it.
    func testClaudeCodesOwnStateIsQuiet() throws {
        let home = try makeHome("claude-state", files: [".claude.json": #"{"numStartups": 3, "projects": {}}"#])
        let r = try run("""
            python3 -c 'import json, os
            p = os.path.expanduser("~/.claude.json")
            d = json.load(open(p))
            d["numStartups"] += 1
            d["projects"]["/work"] = {"allowedTools": [], "mcpServers": {"web": {"type": "http", "url": "https://mcp.example"}}}
            json.dump(d, open(p, "w"))'
            """, env: ["HOME": home])
        XCTAssertEqual(r.status, 0, r.stderr)
        let loud = r.findings.filter { $0["rule"] as? String != "tether.session_ended" }
        XCTAssertEqual(loud.count, 0, "Claude Code's own state work must stay quiet: \(loud)")
    }
}
