// The C reference for TakeoverCore's SPSCRing, used only by the benchmarks to measure the Swift ring against.
//
// Same algorithm, same layout, same batch API: free-running uint32_t counters masked into a power-of-two slot
// array; each side keeps a private copy of its own index and a cached copy of the other side's, reloaded with an
// acquire load only when the cache cannot satisfy the request; slots are published and handed back with release
// stores; each index in its own 128-byte block. reserve/submit for the producer, peek/release for the consumer,
// push/pop for single items. Elements are uint64_t (the benchmark moves sequence numbers).
//
// The ring's internals are private to reference_ring.c so the Swift importer never sees <stdatomic.h>; the
// benchmark workloads run in C too, so the comparison is C code against Swift code, not a call per item.
#pragma once
#include <stdint.h>

typedef struct reference_ring reference_ring;

/// A ring of `capacity` slots (a power of two). `index_spacing` is the distance in bytes between the producer
/// and the consumer index: 128 is the ring as designed; 4 puts both on one cache line, to measure the padding.
/// Returns NULL when the arguments are invalid or memory is short.
reference_ring *reference_ring_create(uint32_t capacity, uint32_t index_spacing);
void reference_ring_destroy(reference_ring *ring);

/// Producer side of the two-thread workload: pushes the sequence numbers 0..<items in batches of up to `batch`
/// (reserve, write, submit; push when batch is 1). Returns the number of items sent.
uint64_t reference_ring_produce(reference_ring *ring, uint64_t items, uint32_t batch);

/// Consumer side: takes `items` items in batches of up to `batch` (peek, read, release; pop when batch is 1)
/// and checks each is the next sequence number. Returns the number of items out of sequence (0 when correct).
uint64_t reference_ring_consume(reference_ring *ring, uint64_t items, uint32_t batch);

/// Single-thread steady state: `rounds` times, reserve `batch` slots, write sequence numbers, submit, then peek,
/// sum and release them. Returns the sum. Measures the ring's code without any cross-core traffic.
uint64_t reference_ring_steady_state(reference_ring *ring, uint64_t rounds, uint32_t batch);
