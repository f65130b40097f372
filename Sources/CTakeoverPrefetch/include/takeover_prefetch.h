// Cache prefetch for the session table's batched lookups. Swift has no prefetch intrinsic; this is the
// compiler's portable builtin (x86 PREFETCHW/PREFETCHT0, ARM PRFM), no system call, no library.
#ifndef TAKEOVER_PREFETCH_H
#define TAKEOVER_PREFETCH_H

/// Starts loading the cache line holding `address` for a later write (it is read first), keeping it in
/// every cache level. Never faults, even on a bad address.
static inline __attribute__((always_inline)) void takeover_prefetch_for_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// Starts loading the cache line holding `address` for a later read, keeping it in every cache level. Never
/// faults, even on a bad address.
static inline __attribute__((always_inline)) void takeover_prefetch_for_read(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
