import Testing
import TakeoverLinux

@Suite struct LinuxLibrariesTests {
    @Test func cLibrariesLink() {
        #expect(LinuxLibraries.libbpfVersion.hasPrefix("v1."))
        #expect(LinuxLibraries.libpcapVersion.contains("libpcap"))
    }
}
