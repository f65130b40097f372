// Small C helpers for the benchmarks: things Swift's Glibc module does not import (the CPU_SET macros).
#pragma once

/// Pins the calling thread to one CPU. Returns 0, or an errno value (EINVAL when the CPU does not exist).
int bench_pin_current_thread(int cpu);

/// How many CPUs the calling thread may run on.
int bench_allowed_cpu_count(void);

/// Starts counting the allocations made on threads named `name` (pthread_setname_np; at most 15 characters),
/// through the malloc interposer's allocation hook, which package-benchmark calls for every allocation while it
/// counts (the whole run of a benchmark that asks for a malloc metric). Replaces any earlier name. Returns 0, or
/// -1 when the interposer is not loaded (no hook to install).
int bench_count_allocations_on_threads_named(const char *name);

/// Stops counting (removes the hook).
void bench_stop_counting_thread_allocations(void);

/// Allocations counted on threads of that name since counting started.
long long bench_thread_allocations(void);

/// The session table's prefetch (TakeoverCore's `takeover_prefetch_for_write`), for the baseline copy of the
/// table in BaselineSessions, which cannot see TakeoverCore's internal C target.
static inline __attribute__((always_inline)) void bench_prefetch_for_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// TakeoverCore's `takeover_prefetch_for_read` (the tag stage), for a baseline copy from a revision that has it.
static inline __attribute__((always_inline)) void bench_prefetch_for_read(const void *address) {
    __builtin_prefetch(address, 0, 3);
}
