import Foundation
import TetherExport

/// The control socket's protocol: one JSON request per line, one JSON response per line
/// (`alerts --follow` then streams one `{"alert": …}` line per alert).
public enum ControlDefaults {
    public static let socketPath = "/run/tether/control.sock"
}

public enum ControlCommand: String, Codable, Sendable {
    case status, sessions, alerts, resume, kill, reload
    /// `tether run` hands its session to the daemon (with `follow`: and streams its events back).
    case register
}

public struct ControlRequest: Codable, Sendable, Equatable {
    public var command: ControlCommand
    public var session: String?
    public var limit: Int?
    public var follow: Bool?
    public var pid: Int32?
    public var label: String?
    /// `register`: the session's own mode ("monitor" or "enforce"; nil: its agent's).
    public var mode: String?
    /// `register`: the launcher confined the session (Landlock, seccomp). Only what the
    /// responder does about an attempt the kernel already refused depends on it.
    public var confined: Bool?
    public init(command: ControlCommand, session: String? = nil, limit: Int? = nil, follow: Bool? = nil,
                pid: Int32? = nil, label: String? = nil, mode: String? = nil, confined: Bool? = nil) {
        self.mode = mode
        self.confined = confined
        self.command = command
        self.session = session
        self.limit = limit
        self.follow = follow
        self.pid = pid
        self.label = label
    }
}

public struct DaemonStatus: Codable, Sendable, Equatable {
    public var pid: Int32
    public var uptimeSeconds: Double
    public var policy: String
    public var policyLoadedAt: Date
    public var agents: Int
    public var hooksAttached: Int
    public var sessions: Int
    public var trackedProcesses: Int
    public var events: UInt64
    public var eventsPerSecond: Double
    /// Events the kernel could not deliver (ring buffer full), and records that failed to decode.
    public var lostEvents: UInt64
    public var corruptRecords: UInt64
    public var alerts: UInt64
    public var reloads: UInt64
    public var rejectedReloads: UInt64
    public var sinks: [SinkHealth]
    /// What the canary sessions found of the kernel guards at start or the latest reload.
    public var guards: String?
    public init(pid: Int32, uptimeSeconds: Double, policy: String, policyLoadedAt: Date, agents: Int, hooksAttached: Int,
                sessions: Int, trackedProcesses: Int, events: UInt64, eventsPerSecond: Double, lostEvents: UInt64,
                corruptRecords: UInt64, alerts: UInt64, reloads: UInt64, rejectedReloads: UInt64, sinks: [SinkHealth],
                guards: String? = nil) {
        self.guards = guards
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.policy = policy
        self.policyLoadedAt = policyLoadedAt
        self.agents = agents
        self.hooksAttached = hooksAttached
        self.sessions = sessions
        self.trackedProcesses = trackedProcesses
        self.events = events
        self.eventsPerSecond = eventsPerSecond
        self.lostEvents = lostEvents
        self.corruptRecords = corruptRecords
        self.alerts = alerts
        self.reloads = reloads
        self.rejectedReloads = rejectedReloads
        self.sinks = sinks
    }
}

public struct SessionInfo: Codable, Sendable, Equatable {
    public var session: String
    /// The agent the kernel's tracked entry names (what its guards enforce).
    public var agent: String
    public var root: Int32
    public var rootAlive: Bool
    /// Live member pids (from the kernel's tracked map).
    public var members: [Int32]
    public var rootExe: String?
    /// The session's own mode, if it has one (else its agent's).
    public var mode: String?
    /// Who started it ("tether run: make", "adopted", ...).
    public var label: String?
    public init(session: String, agent: String, root: Int32, rootAlive: Bool, members: [Int32], rootExe: String?,
                mode: String? = nil, label: String? = nil) {
        self.mode = mode
        self.label = label
        self.session = session
        self.agent = agent
        self.root = root
        self.rootAlive = rootAlive
        self.members = members
        self.rootExe = rootExe
    }
}

public struct ControlResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    public var message: String?
    public var status: DaemonStatus?
    public var sessions: [SessionInfo]?
    public var alerts: [AlertRecord]?
    /// One streamed alert (`alerts --follow`).
    public var alert: AlertRecord?
    /// Processes signalled by resume/kill.
    public var signalled: Int?
    /// One streamed event of a registered session, as its JSON line (`register` with `follow`).
    public var event: String?
    public init(ok: Bool, error: String? = nil, message: String? = nil, status: DaemonStatus? = nil,
                sessions: [SessionInfo]? = nil, alerts: [AlertRecord]? = nil, alert: AlertRecord? = nil, signalled: Int? = nil,
                event: String? = nil) {
        self.event = event
        self.ok = ok
        self.error = error
        self.message = message
        self.status = status
        self.sessions = sessions
        self.alerts = alerts
        self.alert = alert
        self.signalled = signalled
    }

    public static func failure(_ e: String) -> ControlResponse { ControlResponse(ok: false, error: e) }
}

public enum ControlCodec {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { d, enc in
            var c = enc.singleValueContainer()
            try c.encode(Timestamp.rfc3339(d))
        }
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { dec in
            let s = try dec.singleValueContainer().decode(String.self)
            guard let t = Timestamp.parse(s) else {
                throw DecodingError.dataCorrupted(.init(codingPath: dec.codingPath, debugDescription: "bad time \(s)"))
            }
            return t
        }
        return d
    }()

    public static func line<T: Encodable>(_ v: T) -> String {
        (try? encoder.encode(v)).map { String(decoding: $0, as: UTF8.self) } ?? "{\"ok\":false,\"error\":\"encoding failed\"}"
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ line: String) throws -> T {
        try decoder.decode(type, from: Data(line.utf8))
    }
}
