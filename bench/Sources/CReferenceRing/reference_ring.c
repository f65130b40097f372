// The C reference SPSC ring: see include/reference_ring.h, and the memory-order reasoning in
// Sources/TakeoverCore/Rings/SPSCRing.swift, which this file mirrors line for line.
#include "reference_ring.h"

#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { INDEX_BLOCK = 128 };

struct reference_ring {
    void *base;
    _Atomic uint32_t *producer_index;
    _Atomic uint32_t *consumer_index;
    uint64_t *slots;
    uint32_t mask;
};

reference_ring *reference_ring_create(uint32_t capacity, uint32_t index_spacing) {
    if (capacity == 0 || (capacity & (capacity - 1)) != 0 || capacity > (1u << 31)) return NULL;
    if (index_spacing < sizeof(uint32_t) || index_spacing > INDEX_BLOCK || index_spacing % sizeof(uint32_t)) return NULL;
    reference_ring *ring = malloc(sizeof *ring);
    if (!ring) return NULL;
    size_t bytes = 2 * INDEX_BLOCK + (size_t)capacity * sizeof(uint64_t);
    ring->base = aligned_alloc(INDEX_BLOCK, bytes);
    if (!ring->base) { free(ring); return NULL; }
    memset(ring->base, 0, bytes);
    ring->producer_index = (_Atomic uint32_t *)ring->base;
    ring->consumer_index = (_Atomic uint32_t *)((char *)ring->base + index_spacing);
    atomic_init(ring->producer_index, 0);
    atomic_init(ring->consumer_index, 0);
    ring->slots = (uint64_t *)((char *)ring->base + 2 * INDEX_BLOCK);
    ring->mask = capacity - 1;
    return ring;
}

void reference_ring_destroy(reference_ring *ring) {
    if (!ring) return;
    free(ring->base);
    free(ring);
}

// The endpoints: per-side state, owned by one thread, as in the Swift ring's Producer and Consumer.
typedef struct {
    _Atomic uint32_t *producer_index, *consumer_index;
    uint64_t *slots;
    uint32_t mask, next, limit, reserved;
} producer;

typedef struct {
    _Atomic uint32_t *producer_index, *consumer_index;
    uint64_t *slots;
    uint32_t mask, next, limit, peeked;
} consumer;

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

static inline uint32_t producer_reserve(producer *p, uint32_t wanted) {
    uint32_t free_slots = p->limit - p->next;
    if (free_slots < wanted) {
        p->limit = atomic_load_explicit(p->consumer_index, memory_order_acquire) + p->mask + 1;
        free_slots = p->limit - p->next;
    }
    p->reserved = min_u32(free_slots, wanted);
    return p->reserved;
}

static inline void producer_write(producer *p, uint32_t offset, uint64_t value) {
    p->slots[(p->next + offset) & p->mask] = value;
}

static inline void producer_submit(producer *p, uint32_t count) {
    p->next += count;
    p->reserved = 0;
    atomic_store_explicit(p->producer_index, p->next, memory_order_release);
}

static inline int producer_push(producer *p, uint64_t value) {
    if (producer_reserve(p, 1) != 1) return 0;
    producer_write(p, 0, value);
    producer_submit(p, 1);
    return 1;
}

static inline uint32_t consumer_peek(consumer *c, uint32_t wanted) {
    uint32_t available = c->limit - c->next;
    if (available < wanted) {
        c->limit = atomic_load_explicit(c->producer_index, memory_order_acquire);
        available = c->limit - c->next;
    }
    c->peeked = min_u32(available, wanted);
    return c->peeked;
}

static inline uint64_t consumer_read(const consumer *c, uint32_t offset) {
    return c->slots[(c->next + offset) & c->mask];
}

static inline void consumer_release(consumer *c, uint32_t count) {
    c->next += count;
    c->peeked = 0;
    atomic_store_explicit(c->consumer_index, c->next, memory_order_release);
}

static inline int consumer_pop(consumer *c, uint64_t *value) {
    if (consumer_peek(c, 1) != 1) return 0;
    *value = consumer_read(c, 0);
    consumer_release(c, 1);
    return 1;
}

// Waiting for the other side: spin, and every 64 empty rounds yield the core (2 shared cores: a spinning
// thread can starve the very thread it waits for). The Swift workload does the same.
static inline void idle(uint32_t *rounds) {
    if (++*rounds % 64 == 0) sched_yield();
}

uint64_t reference_ring_produce(reference_ring *ring, uint64_t items, uint32_t batch) {
    producer p = {ring->producer_index, ring->consumer_index, ring->slots, ring->mask, 0, 0, 0};
    p.next = atomic_load_explicit(p.producer_index, memory_order_relaxed);
    p.limit = atomic_load_explicit(p.consumer_index, memory_order_acquire) + p.mask + 1;
    uint64_t sent = 0;
    uint32_t rounds = 0;
    while (sent < items) {
        uint32_t got;
        if (batch == 1) {
            got = (uint32_t)producer_push(&p, sent);
        } else {
            uint64_t left = items - sent;
            got = producer_reserve(&p, left < batch ? (uint32_t)left : batch);
            for (uint32_t i = 0; i < got; i++) producer_write(&p, i, sent + i);
            producer_submit(&p, got);
        }
        sent += got;
        if (got == 0) idle(&rounds);
    }
    return sent;
}

uint64_t reference_ring_consume(reference_ring *ring, uint64_t items, uint32_t batch) {
    consumer c = {ring->producer_index, ring->consumer_index, ring->slots, ring->mask, 0, 0, 0};
    c.next = atomic_load_explicit(c.consumer_index, memory_order_relaxed);
    c.limit = atomic_load_explicit(c.producer_index, memory_order_acquire);
    uint64_t received = 0, mismatches = 0;
    uint32_t rounds = 0;
    while (received < items) {
        uint32_t got;
        if (batch == 1) {
            uint64_t value;
            got = (uint32_t)consumer_pop(&c, &value);
            if (got && value != received) mismatches++;
        } else {
            got = consumer_peek(&c, batch);
            for (uint32_t i = 0; i < got; i++) mismatches += consumer_read(&c, i) != received + i;
            consumer_release(&c, got);
        }
        received += got;
        if (got == 0) idle(&rounds);
    }
    return mismatches;
}

uint64_t reference_ring_steady_state(reference_ring *ring, uint64_t rounds, uint32_t batch) {
    producer p = {ring->producer_index, ring->consumer_index, ring->slots, ring->mask, 0, 0, 0};
    p.next = atomic_load_explicit(p.producer_index, memory_order_relaxed);
    p.limit = atomic_load_explicit(p.consumer_index, memory_order_acquire) + p.mask + 1;
    consumer c = {ring->producer_index, ring->consumer_index, ring->slots, ring->mask, 0, 0, 0};
    c.next = atomic_load_explicit(c.consumer_index, memory_order_relaxed);
    c.limit = atomic_load_explicit(c.producer_index, memory_order_acquire);
    uint64_t sequence = 0, checksum = 0;
    for (uint64_t round = 0; round < rounds; round++) {
        uint32_t reserved = producer_reserve(&p, batch);
        for (uint32_t i = 0; i < reserved; i++) producer_write(&p, i, sequence + i);
        producer_submit(&p, reserved);
        sequence += reserved;
        uint32_t peeked = consumer_peek(&c, batch);
        for (uint32_t i = 0; i < peeked; i++) checksum += consumer_read(&c, i);
        consumer_release(&c, peeked);
    }
    return checksum;
}
