internal import CTakeoverBPF
internal import CTakeoverPcap

/// Versions of the C libraries this module links, for logs and `takeover check`.
public enum LinuxLibraries {
    public static var libbpfVersion: String { String(cString: takeover_cbpf_libbpf_version()) }
    public static var libpcapVersion: String { String(cString: takeover_pcap_lib_version()) }
}
