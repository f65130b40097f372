// Small C helpers for the benchmarks: things Swift's Glibc module does not import (the CPU_SET macros).
#pragma once

/// Pins the calling thread to one CPU. Returns 0, or an errno value (EINVAL when the CPU does not exist).
int bench_pin_current_thread(int cpu);

/// How many CPUs the calling thread may run on.
int bench_allowed_cpu_count(void);
