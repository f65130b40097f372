#ifndef TAKEOVER_CPCAP_H
#define TAKEOVER_CPCAP_H
// C shim for libpcap.
//
// Why a wrapper and not pcap.h itself: <pcap/bpf.h> and <linux/bpf.h> both define `struct bpf_insn`
// differently, and Swift loads every Clang module of a dependency's dependencies, so one Swift module
// graph cannot import both headers. This header exposes libpcap through an opaque handle and plain C
// types only; shim.c is the one file that includes <pcap/pcap.h>.

/// Version string of the linked libpcap.
const char *takeover_pcap_lib_version(void);

#endif
