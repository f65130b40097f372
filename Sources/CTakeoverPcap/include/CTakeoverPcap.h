#ifndef TAKEOVER_CPCAP_H
#define TAKEOVER_CPCAP_H
// C shim for libpcap.
//
// Why a wrapper and not pcap.h itself: <pcap/bpf.h> and <linux/bpf.h> both define `struct bpf_insn`
// differently, and Swift loads every Clang module of a dependency's dependencies, so one Swift module
// graph cannot import both headers. This header exposes libpcap through an opaque handle and plain C
// types only; shim.c is the one file that includes <pcap/pcap.h>.
#include <stddef.h>
#include <stdint.h>

/// Version string of the linked libpcap.
const char *takeover_pcap_lib_version(void);

/// Size of the error buffers the functions below write into (libpcap's PCAP_ERRBUF_SIZE).
#define TAKEOVER_PCAP_ERRBUF_SIZE 256

/// Results. Zero is success; the negative values mirror libpcap's PCAP_ERROR_* codes that the caller
/// must tell apart (missing interface, missing privileges), everything else is TAKEOVER_PCAP_ERROR
/// with the text in the error buffer.
#define TAKEOVER_PCAP_OK 0
#define TAKEOVER_PCAP_ERROR (-1)
#define TAKEOVER_PCAP_NO_SUCH_DEVICE (-2)
#define TAKEOVER_PCAP_PERMISSION_DENIED (-3)
#define TAKEOVER_PCAP_PROMISCUOUS_PERMISSION_DENIED (-4)
#define TAKEOVER_PCAP_INTERFACE_NOT_UP (-5)
#define TAKEOVER_PCAP_BAD_FILTER (-6)
/// pcap_dispatch was told to stop (pcap_breakloop); not an error.
#define TAKEOVER_PCAP_BROKEN_LOOP (-7)

/// An open live capture. Opaque: the pcap_t lives behind it.
typedef struct takeover_pcap takeover_pcap;

typedef struct {
    /// Bytes kept of each frame (the rest is counted in `wire_length` only).
    int32_t snapshot_length;
    /// Kernel ring size in bytes; 0 keeps libpcap's default (2 MiB).
    int32_t buffer_size;
    /// Non-zero: deliver each frame as soon as it arrives. libpcap 1.10 then uses a TPACKET_V2 ring
    /// (frame by frame); otherwise it uses TPACKET_V3, whose blocks are handed over when full or when
    /// `timeout_ms` has passed since the block's first frame.
    int32_t immediate;
    /// Block retire timeout for TPACKET_V3, in milliseconds (ignored in immediate mode).
    int32_t timeout_ms;
    /// Non-zero: put the interface into promiscuous mode for the life of the handle.
    int32_t promiscuous;
} takeover_pcap_options;

/// Opens and activates a live capture on `device`, with nanosecond timestamps. On failure returns one of
/// the negative codes, writes the reason into `errbuf` and leaves `*out` NULL.
int takeover_pcap_open_live(const char *device, const takeover_pcap_options *options, takeover_pcap **out,
                            char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]);

/// Closes the capture (and the kernel socket and ring). NULL is allowed.
void takeover_pcap_close(takeover_pcap *handle);

/// Compiles `expression` to classic BPF for this handle's link type and installs it in the kernel.
/// A filter that does not compile returns TAKEOVER_PCAP_BAD_FILTER with libpcap's message.
int takeover_pcap_set_filter(takeover_pcap *handle, const char *expression, char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]);

/// Checks that `expression` compiles for Ethernet (DLT_EN10MB), without a device or privileges.
int takeover_pcap_check_filter(const char *expression, int32_t snapshot_length,
                               char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]);

/// Sets or clears non-blocking mode.
int takeover_pcap_set_nonblocking(takeover_pcap *handle, int nonblocking, char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]);

/// The packet socket's file descriptor, for poll(); -1 if libpcap has none.
int takeover_pcap_selectable_fd(takeover_pcap *handle);

/// Called once per frame by takeover_pcap_dispatch. `bytes` points into the kernel ring and is valid only
/// during the call: libpcap hands the ring slot (V2) or block (V3) back to the kernel right after, which
/// is why there is no variant that returns pointers in arrays.
typedef void (*takeover_pcap_frame_handler)(void *context, const uint8_t *bytes, uint32_t captured_length,
                                            uint32_t wire_length, int64_t seconds, int64_t nanoseconds);

/// Hands up to `max_frames` ready frames to `handler` (pcap_dispatch). Returns the number handled
/// (0: none ready in non-blocking mode), TAKEOVER_PCAP_BROKEN_LOOP, or TAKEOVER_PCAP_ERROR with the
/// reason in `errbuf`.
int takeover_pcap_dispatch(takeover_pcap *handle, int max_frames, takeover_pcap_frame_handler handler,
                           void *context, char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]);

/// Sends one complete Ethernet frame (pcap_inject). Returns the bytes sent or TAKEOVER_PCAP_ERROR.
int takeover_pcap_inject(takeover_pcap *handle, const void *frame, size_t length,
                         char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]);

typedef struct {
    /// Frames that passed the filter (pcap_stat.ps_recv).
    uint64_t received;
    /// Frames the kernel dropped because the ring was full (ps_drop).
    uint64_t dropped;
    /// Frames the interface or driver dropped (ps_ifdrop).
    uint64_t interface_dropped;
} takeover_pcap_statistics;

/// Counters since the handle was opened.
int takeover_pcap_statistics_get(takeover_pcap *handle, takeover_pcap_statistics *out,
                                 char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]);

#endif
