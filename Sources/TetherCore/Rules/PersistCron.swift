/// Cron: system crontabs, cron directories, the per-user spool, and the crontab tool.
struct PersistCron: Rule, LocationGated, ExecGated {
    static let execNames: [String] = ["crontab"]
    static let gate: [Place] = [.cron]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.cron", severity: .high, action: .kill, mitre: "T1053.003",
                                    kinds: EventKind.modifying + [.exec],
                                    title: "cron jobs: /etc/crontab, /etc/cron.*, the cron spool, crontab(1); logrotate scripts (run by root from cron or its timer)")

    static let locations = Locations(.cron, system: [
        "/etc/crontab", "/etc/logrotate.conf", "/etc/logrotate.d/", "/etc/anacrontab", "/etc/cron.d/", "/etc/cron.hourly/", "/etc/cron.daily/",
        "/etc/cron.weekly/", "/etc/cron.monthly/", "/etc/cron.yearly/",
        "/var/spool/cron/", // Debian crontabs/, SUSE tabs/, RHEL files directly (at's dirs excluded below)
        "/var/spool/anacron/", "/etc/cron.allow", "/etc/cron.deny",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            guard e.execName == "crontab", !Exec.hasFlag(e, ["-l", "-V", "--help"]) else { return nil }
            return RuleHit("cron: crontab run to install, edit or remove a crontab: \(Describe.command(e))\(e.outcomeNote)",
                           subject: "exec:crontab", perProcess: true)
        }
        guard let (path, op) = PersistCron.locations.modified(e, ctx),
              !PersistAt.locations.holdsEventPath(ctx) else { return nil }
        return RuleHit(Describe.file("cron", path, op, e), subject: path, path: path)
    }
}

/// at(1) jobs: the at spool and the at/batch tools.
struct PersistAt: Rule, LocationGated, ExecGated {
    static let execNames: [String] = ["at", "batch"]
    static let gate: [Place] = [.at]
    var info: RuleInfo { Self.definition }
    static let definition = RuleInfo(id: "persist.at", severity: .high, action: .kill, mitre: "T1053.002",
                                    kinds: EventKind.modifying + [.exec],
                                    title: "at jobs: the at spool, at(1) and batch(1)")

    static let locations = Locations(.at, system: [
        "/var/spool/cron/atjobs/", "/var/spool/cron/atspool/", "/var/spool/at/", "/var/spool/atjobs/",
        "/etc/at.allow", "/etc/at.deny",
    ])

    func evaluate(_ e: Event, _ ctx: RuleContext) throws -> RuleHit? {
        if e.kind == .exec {
            guard let name = e.execName, name == "at" || name == "batch",
                  !Exec.hasFlag(e, ["-l", "-d", "-r", "-c", "-V"]) else { return nil }
            return RuleHit("at: job scheduled with \(Describe.command(e))\(e.outcomeNote)", subject: "exec:at", perProcess: true)
        }
        guard let (path, op) = PersistAt.locations.modified(e, ctx) else { return nil }
        return RuleHit(Describe.file("at job", path, op, e), subject: path, path: path)
    }
}
