import CBenchSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A POSIX thread running `body` pinned to one CPU, joined for its result. The benchmarks start their
/// workers with this, the same way for the Swift and the C workloads.
struct StartedThread: ~Copyable {
    private let thread: pthread_t
    private let box: Unmanaged<ResultBox>

    fileprivate init(thread: pthread_t, box: Unmanaged<ResultBox>) {
        self.thread = thread
        self.box = box
    }

    /// Waits for the thread and returns what its body returned.
    consuming func join() -> Int {
        let rc = pthread_join(thread, nil)
        precondition(rc == 0, "pthread_join: \(rc)")
        // pthread_join orders the thread's write of `result` before this read.
        return box.takeRetainedValue().result
    }
}

private final class ResultBox {
    let cpu: Int32
    let body: () -> Int
    var result = 0
    init(cpu: Int32, _ body: @escaping () -> Int) {
        self.cpu = cpu
        self.body = body
    }
}

func startThread(pinnedTo cpu: Int32, _ body: @escaping @Sendable () -> Int) -> StartedThread {
    let box = Unmanaged.passRetained(ResultBox(cpu: cpu, body))
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { context in
        let box = Unmanaged<ResultBox>.fromOpaque(context!).takeUnretainedValue()
        let pinned = bench_pin_current_thread(box.cpu)
        precondition(pinned == 0, "cannot pin a thread to CPU \(box.cpu): errno \(pinned)")
        box.result = box.body()
        return nil
    }, box.toOpaque())
    precondition(rc == 0, "pthread_create: \(rc)")
    return StartedThread(thread: thread, box: box)
}
