import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Time the hypervisor kept this VM's CPUs from running although they had work ("steal" in /proc/stat), summed over
/// the CPUs. The lab shares one machine between the client, both servers and the bench; when the host does not run
/// a vCPU, every one of them stops at once, and a run's gaps then measure the host. Resolution: the kernel's clock
/// tick for /proc/stat (USER_HZ, 10 ms). 0 on bare metal and on hypervisors that do not report steal.
public enum HostSteal {
    /// The total so far, in ns; nil when /proc/stat cannot be read.
    public static func total() -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return nil }
        // cpu user nice system idle iowait irq softirq steal …
        let fields = line.split(separator: " ")
        guard fields.count > 8, let ticks = UInt64(fields[8]) else { return nil }
        let ticksPerSecond = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        return ticks * (1_000_000_000 / ticksPerSecond)
    }
}
