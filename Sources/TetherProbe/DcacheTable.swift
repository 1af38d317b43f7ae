import CTetherProbe
import Glibc

/// Where the kernel's dcache hash table is, found from the dentries it holds, so that the
/// resolver can look a destination's directories up by name as the kernel's own path walk
/// does (a bucket, not a scan of a crowded directory's children). The table's address and
/// size are the kernel's private variables (not in kallsyms here, nor in BTF); but a
/// dentry that is the first in its bucket points back into the table (`d_hash.pprev`), at
/// bucket `hash >> shift`. Every such dentry agrees on one (table, shift); a dentry further
/// down a chain points into another dentry and agrees with nothing. The samples are the
/// kernel's own records of open files' dentries (`dcache_sample`, a BPF iterator), not
/// anything a process says, and the name hash the resolver computes is checked against
/// the kernel's for each of them: where either does not hold, the table stays unknown and
/// the resolver scans children as before (said at start).
public enum DcacheTable {
    struct Sample: Equatable {
        var dentry: UInt64, parent: UInt64, pprev: UInt64
        var hash: UInt32
        /// The name, when the sample holds all of it.
        var name: [UInt8]?
    }

    /// At least this many dentries must agree on the table, and an eighth of those hashed
    /// (a bucket's first dentry agrees, one further down its chain does not: with twice as
    /// many dentries as buckets, about two in five are first), with no other table near.
    static let minimumAgreeing = 8
    /// The most dentries read (two per open file): plenty to agree on, and cheap at start.
    static let sampleLimit = 4096

    /// The kernel's name hash in a directory (fs/namei.c, 64-bit word at a time; the
    /// directory's dentry address is the salt), as the BPF resolver computes it.
    static func hash(salt: UInt64, name: [UInt8]) -> UInt32 {
        func rol(_ v: UInt64, _ n: UInt64) -> UInt64 { v << n | v >> (64 - n) }
        func word(_ i: Int) -> UInt64 {
            var w: UInt64 = 0
            for b in 0..<8 where i * 8 + b < name.count { w |= UInt64(name[i * 8 + b]) << (8 * UInt64(b)) }
            return w
        }
        var x: UInt64 = 0, y = salt
        for i in 0..<(name.count / 8) {
            x ^= word(i)
            y ^= x
            x = rol(x, 12)
            x &+= y
            y = rol(y, 45)
            y &*= 9
        }
        x ^= word(name.count / 8)
        let golden: UInt64 = 0x61C8_8646_80B5_83EB
        y ^= x &* golden
        y &*= golden
        return UInt32(truncatingIfNeeded: y >> 32)
    }

    struct Found: Equatable {
        let table: UInt64
        let shift: UInt32
        /// Samples that agreed, and samples hashed (first in a bucket or not).
        let agreeing: Int, hashed: Int
    }

    /// The (table, shift) the samples agree on, or why there is none.
    static func solve(_ all: [Sample]) -> Result<Found, ProbeError> {
        // one vote per dentry (a file many tasks hold open is sampled once per task)
        var seen = Set<UInt64>()
        let samples = all.filter { seen.insert($0.dentry).inserted }
        let named = samples.filter { $0.name != nil && $0.pprev != 0 }
        let matching = named.filter { hash(salt: $0.parent, name: $0.name!) == $0.hash }
        guard named.count >= minimumAgreeing else {
            return .failure(ProbeError("finding the dcache's hash table", 0, detail: "only \(named.count) hashed dentries to learn from", kernel: false))
        }
        guard matching.count * 10 >= named.count * 9 else {
            return .failure(ProbeError("finding the dcache's hash table", 0,
                                       detail: "the name hash differs from this kernel's (\(matching.count) of \(named.count) dentries agree)", kernel: false))
        }
        let hashed = samples.filter { $0.pprev != 0 }
        var best: (votes: Int, shift: UInt32, table: UInt64) = (0, 0, 0)
        var runnerUp = 0
        for shift in UInt32(1)...31 {
            var votes: [UInt64: Int] = [:]
            for s in hashed {
                let (table, over) = s.pprev.subtractingReportingOverflow(UInt64(s.hash >> shift) &* 8)
                if !over { votes[table, default: 0] += 1 }
            }
            guard let top = votes.max(by: { $0.value < $1.value }) else { continue }
            if top.value > best.votes {
                runnerUp = max(runnerUp, best.votes)
                best = (top.value, shift, top.key)
            } else {
                runnerUp = max(runnerUp, top.value)
            }
        }
        guard best.votes >= minimumAgreeing, best.votes * 8 >= hashed.count, runnerUp * 4 <= best.votes,
              best.table & 7 == 0, best.table >= 0xffff_8000_0000_0000 else {
            return .failure(ProbeError("finding the dcache's hash table", 0,
                                       detail: "no table that enough dentries agree on (\(best.votes) of \(hashed.count), the next \(runnerUp))", kernel: false))
        }
        return .success(Found(table: best.table, shift: best.shift, agreeing: best.votes, hashed: hashed.count))
    }

    /// Samples from `raw` records (te_dcache_sample).
    static func samples(_ raw: [te_dcache_sample]) -> [Sample] {
        raw.map { r in
            var s = Sample(dentry: r.dentry, parent: r.parent, pprev: r.pprev, hash: r.hash, name: nil)
            if r.len < UInt32(TE_DCACHE_NAME) {
                s.name = withUnsafeBytes(of: r.name) { Array($0.prefix(Int(r.len))) }
            }
            return s
        }
    }
}

extension Probe {
    /// Finds the dcache's hash table (`DcacheTable`) and hands it to the resolver: whether
    /// it did, and what a front end says of it.
    func learnDcacheTable() -> (Bool, String) {
        var raw = [te_dcache_sample](repeating: te_dcache_sample(), count: DcacheTable.sampleLimit)
        let n = raw.withUnsafeMutableBufferPointer { tp_dcache_samples(loaded, $0.baseAddress, UInt32($0.count)) }
        let found = n < 0 ? .failure(ProbeError("", n, detail: "reading the kernel's dentries: \(String(cString: strerror(-n)))", kernel: false))
            : DcacheTable.solve(DcacheTable.samples(Array(raw.prefix(Int(n)))))
        let f = try? found.get()
        // written and frozen either way: nothing points the resolver anywhere later
        let rc = tp_dcache_set(loaded, f?.table ?? 0, f?.shift ?? 0)
        let scan = "destinations are looked up by scanning each directory's cached children (at most 4,096 per directory)"
        switch (found, rc) {
        case (.failure(let e), _):
            return (false, "the dcache's hash table: not found (\(e.detail)); " + scan)
        case (.success, let rc) where rc != 0:
            return (false, "the dcache's hash table: found but not set (\(String(cString: strerror(-rc)))); " + scan)
        case (.success(let f), _):
            return (true, "the dcache's hash table: found (\(1 << (32 - f.shift)) buckets; \(f.agreeing) of \(f.hashed) sampled dentries agree); destinations are looked up by hash as the kernel looks them up")
        }
    }
}
