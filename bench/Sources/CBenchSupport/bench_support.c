#define _GNU_SOURCE
#include "bench_support.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>

int bench_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int bench_allowed_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return CPU_COUNT(&set);
}

// The interposer's hook type and setter (malloc-interposer's interposer.h), found at run time so that this target
// needs no link dependency on it.
typedef void (*allocation_hook_t)(size_t size);
typedef void (*set_allocation_hook_t)(allocation_hook_t hook);

static char counted_thread_name[16];
static _Atomic long long counted_thread_allocations;

// Runs inside the allocator on the allocating thread: no allocation here. PR_GET_NAME reads the calling thread's
// name from the kernel into a 16-byte buffer (a system call, no libc allocation).
static void count_if_named_thread(size_t size) {
    (void)size;
    char name[16] = {0};
    if (prctl(PR_GET_NAME, name, 0, 0, 0) == 0 && strncmp(name, counted_thread_name, sizeof name) == 0) {
        atomic_fetch_add_explicit(&counted_thread_allocations, 1, memory_order_relaxed);
    }
}

static set_allocation_hook_t interposer_hook_setter(void) {
    return (set_allocation_hook_t)dlsym(RTLD_DEFAULT, "malloc_interposer_set_allocation_hook");
}

int bench_count_allocations_on_threads_named(const char *name) {
    set_allocation_hook_t set = interposer_hook_setter();
    if (set == NULL) return -1;
    set(NULL);
    strncpy(counted_thread_name, name, sizeof counted_thread_name - 1);
    counted_thread_name[sizeof counted_thread_name - 1] = 0;
    atomic_store(&counted_thread_allocations, 0);
    set(count_if_named_thread);
    return 0;
}

void bench_stop_counting_thread_allocations(void) {
    set_allocation_hook_t set = interposer_hook_setter();
    if (set != NULL) set(NULL);
}

long long bench_thread_allocations(void) {
    return atomic_load_explicit(&counted_thread_allocations, memory_order_relaxed);
}
