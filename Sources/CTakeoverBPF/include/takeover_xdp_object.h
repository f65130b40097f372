#ifndef TAKEOVER_XDP_OBJECT_H
#define TAKEOVER_XDP_OBJECT_H
#include <stddef.h>
// The compiled bpf/takeover_xdp.bpf.c, embedded by bpf/build (takeover_xdp_object.c is generated).
const void *takeover_xdp_object_bytes(void);
size_t takeover_xdp_object_size(void);
#endif
