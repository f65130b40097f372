// libFuzzer entry point: each input runs through `ParseTrackHarness` (the file shared with the test suite's
// FuzzRegressionTests), and a broken promise traps so libFuzzer saves the input as a crash.
import TakeoverCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParseTrack(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    do {
        _ = try ParseTrackHarness.run(input)
    } catch {
        fatalError("ParseTrackHarness: \(error)")
    }
    return 0
}
