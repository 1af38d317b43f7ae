/// Python startup hooks: `.pth` files in site directories and sitecustomize/usercustomize
/// modules run code in every Python process; IPython's startup files and config and
/// Jupyter's config in every interactive one. The workspace's own environments (and
/// sanctioned writable roots such as caches holding tool-managed venvs) are exempt.
struct PersistPythonStartup: Rule {
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.python_startup", severity: .high, action: .kill, mitre: "T1546.018",
                                    kinds: EventKind.modifying,
                                    title: "Python .pth files, sitecustomize/usercustomize, IPython/Jupyter startup, outside the workspace's environments")

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
        } else if PathBytes.contains(path, PersistPythonStartup.ipython) || PathBytes.contains(path, PersistPythonStartup.jupyter),
                  let rel = Homes.relative(path, homes: ctx.homes)?.rel, PersistPythonStartup.interactiveStartup(rel) {
            what = "IPython/Jupyter startup file"
        } else {
            return nil
        }
        // what a home's user runs (its user site ~/.local/lib/pythonX.Y/site-packages, its
        // IPython startup) runs in every Python it starts, even where the home lies in a
        // writable root (HOME=/tmp/agent)
        if ctx.modifiedMayWrite {
            guard let rel = Homes.relative(path, homes: ctx.homes)?.rel,
                  rel.hasPrefix(".local/lib/python") || rel.hasPrefix(".ipython/") || rel.hasPrefix(".jupyter/") else { return nil }
        }
        return RuleHit(Describe.file(what, path, op, e), subject: path, path: path)
    }

    static let ipython = Array("/.ipython/".utf8), jupyter = Array("/.jupyter/".utf8)

    /// IPython runs `~/.ipython/profile_*/startup/*.py` and its config at every start, Jupyter
    /// its `~/.jupyter/jupyter_*_config.py` (a home-relative path).
    static func interactiveStartup(_ rel: Substring) -> Bool {
        guard rel.hasSuffix(".py") else { return false }
        if rel.hasPrefix(".ipython/profile_") {
            let inProfile = rel.dropFirst(".ipython/".count).drop { $0 != "/" }.dropFirst()
            return inProfile.hasPrefix("startup/") || inProfile == "ipython_config.py" || inProfile == "ipython_kernel_config.py"
        }
        return rel.hasPrefix(".jupyter/jupyter_") && !rel.dropFirst(".jupyter/".count).contains("/")
    }
}
