/// Python startup hooks: `.pth` files in site directories and sitecustomize/usercustomize
/// modules run code in every Python process. The workspace's own environments (and
/// sanctioned writable roots such as caches holding tool-managed venvs) are exempt.
struct PersistPythonStartup: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.python_startup", severity: .high, action: .kill, mitre: "T1546.018",
                                    kinds: EventKind.modifying,
                                    title: "Python .pth files and sitecustomize/usercustomize outside the workspace's environments")

    static let siteDirs: [[UInt8]] = [Array("site-packages".utf8), Array("dist-packages".utf8)]
    static let pth = Array(".pth".utf8)
    static let modules: [[UInt8]] = [Array("/sitecustomize.py".utf8), Array("/usercustomize.py".utf8)]

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        guard let (path, op) = ctx.modified, op != .delete, op != .mkdir else { return nil }
        let last = path.utf8.last
        guard last == UInt8(ascii: "y") || last == UInt8(ascii: "h") else { return nil } // *.py, *.pth
        let what: String
        if PersistPythonStartup.modules.contains(where: { PathBytes.hasSuffix(path, $0) }) {
            what = "Python startup module"
        } else if PathBytes.hasSuffix(path, PersistPythonStartup.pth),
                  PersistPythonStartup.siteDirs.contains(where: { PathBytes.hasComponent(path, $0) }) {
            what = "Python .pth startup hook"
        } else {
            return nil
        }
        // a home's user site (~/.local/lib/pythonX.Y/site-packages) runs in every Python
        // its user starts, even where the home lies in a writable root (HOME=/tmp/agent)
        guard !ctx.modifiedMayWrite || PersistPythonStartup.inUserSite(path, ctx) else { return nil }
        return RuleHit(Describe.file(what, path, op, e), subject: path, path: path)
    }

    static let userSite = ".local/lib/python"
    static func inUserSite(_ path: String, _ ctx: RuleContext) -> Bool {
        Homes.relative(path, homes: ctx.homes)?.rel.hasPrefix(userSite) ?? false
    }
}
