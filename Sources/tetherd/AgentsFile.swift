import Foundation
import TetherCore
import TetherProbe
import Yams

/// Reads the `agents:` section of the policy file: which processes are agents.
/// (The classifier's sections are read by TetherCore's Policy once it lands; until then
/// the daemon only needs the selectors.)
enum AgentsFile {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func load(path: String) throws -> [AgentSelector] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Failure(description: "\(path): cannot read policy: \(error.localizedDescription)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw Failure(description: "\(path): not valid YAML: \(error)")
        }
        func at(_ n: Node) -> String { "\(path):\(n.mark?.line ?? 0):\(n.mark?.column ?? 0)" }
        guard let map = root?.mapping else { throw Failure(description: "\(path): the policy must be a mapping with an `agents` list") }
        guard let agents = map["agents"] else { throw Failure(description: "\(path): no `agents` list") }
        guard let list = agents.sequence else { throw Failure(description: "\(at(agents)): `agents` must be a list") }
        var out: [AgentSelector] = []
        for a in list {
            guard let m = a.mapping else { throw Failure(description: "\(at(a)): an agent must be a mapping") }
            let name = m["name"]?.string ?? "agent\(out.count + 1)"
            var sel = AgentSelector(name: name)
            guard let match = m["match"]?.mapping else { throw Failure(description: "\(at(a)): agent \(name) has no `match` mapping") }
            for (k, v) in match {
                guard let key = k.string else { continue }
                let items = v.sequence.map(Array.init) ?? [v]
                switch key {
                case "exe":
                    sel.exe = try items.map { n in
                        guard let s = n.string, s.hasPrefix("/") else { throw Failure(description: "\(at(n)): exe must be an absolute path or glob") }
                        do { return try Glob(s) } catch { throw Failure(description: "\(at(n)): bad glob \(s): \(error)") }
                    }
                case "comm":
                    sel.comm = try items.map { n in
                        guard let s = n.string, !s.isEmpty, s.utf8.count <= 15 else { throw Failure(description: "\(at(n)): comm must be 1 to 15 bytes (the kernel's TASK_COMM_LEN)") }
                        return s
                    }
                case "uid":
                    sel.uid = try items.map { n in
                        guard let s = n.string, let u = UInt32(s) else { throw Failure(description: "\(at(n)): uid must be a number") }
                        return u
                    }
                case "cgroup":
                    sel.cgroup = try items.map { n in
                        guard let s = n.string, s.hasPrefix("/") else { throw Failure(description: "\(at(n)): cgroup must be an absolute cgroup v2 path") }
                        return s
                    }
                default:
                    throw Failure(description: "\(at(k)): unknown match key `\(key)` (exe, comm, uid, cgroup)")
                }
            }
            out.append(sel)
        }
        return out
    }
}
