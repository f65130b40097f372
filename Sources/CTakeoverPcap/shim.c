#include "CTakeoverPcap.h"
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(TAKEOVER_PCAP_ERRBUF_SIZE == PCAP_ERRBUF_SIZE, "error buffers must match libpcap's");

struct takeover_pcap {
    pcap_t *pcap;
};

const char *takeover_pcap_lib_version(void) {
    return pcap_lib_version();
}

static void copy_error(char *errbuf, const char *message) {
    snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", message);
}

/// Maps pcap_activate's results to ours; the message is libpcap's own where it has one.
static int activation_status(pcap_t *pcap, int status, char *errbuf) {
    switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        copy_error(errbuf, pcap_geterr(pcap));
        return TAKEOVER_PCAP_NO_SUCH_DEVICE;
    case PCAP_ERROR_PERM_DENIED:
        copy_error(errbuf, pcap_geterr(pcap));
        return TAKEOVER_PCAP_PERMISSION_DENIED;
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        copy_error(errbuf, pcap_geterr(pcap));
        return TAKEOVER_PCAP_PROMISCUOUS_PERMISSION_DENIED;
    case PCAP_ERROR_IFACE_NOT_UP:
        copy_error(errbuf, "interface is not up");
        return TAKEOVER_PCAP_INTERFACE_NOT_UP;
    case PCAP_ERROR:
        copy_error(errbuf, pcap_geterr(pcap));
        return TAKEOVER_PCAP_ERROR;
    default:
        snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", pcap_statustostr(status));
        return TAKEOVER_PCAP_ERROR;
    }
}

int takeover_pcap_open_live(const char *device, const takeover_pcap_options *options, takeover_pcap **out,
                            char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]) {
    *out = NULL;
    errbuf[0] = '\0';
    pcap_t *pcap = pcap_create(device, errbuf);
    if (pcap == NULL) return TAKEOVER_PCAP_ERROR;

    // Settings must precede pcap_activate; each only fails on an activated handle, so their results
    // matter only as a bug check.
    if (pcap_set_snaplen(pcap, options->snapshot_length) != 0
        || pcap_set_promisc(pcap, options->promiscuous != 0) != 0
        || pcap_set_immediate_mode(pcap, options->immediate != 0) != 0
        || pcap_set_timeout(pcap, options->timeout_ms) != 0
        || (options->buffer_size > 0 && pcap_set_buffer_size(pcap, options->buffer_size) != 0)
        || pcap_set_tstamp_precision(pcap, PCAP_TSTAMP_PRECISION_NANO) != 0) {
        copy_error(errbuf, pcap_geterr(pcap));
        pcap_close(pcap);
        return TAKEOVER_PCAP_ERROR;
    }

    int status = pcap_activate(pcap);
    if (status < 0) {
        int result = activation_status(pcap, status, errbuf);
        pcap_close(pcap);
        return result;
    }
    // Positive results are warnings (e.g. promiscuous mode unsupported); the capture works.

    if (pcap_datalink(pcap) != DLT_EN10MB) {
        snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s is not an Ethernet interface (link type %s)", device,
                 pcap_datalink_val_to_name(pcap_datalink(pcap)));
        pcap_close(pcap);
        return TAKEOVER_PCAP_ERROR;
    }

    takeover_pcap *handle = malloc(sizeof *handle);
    if (handle == NULL) {
        copy_error(errbuf, "out of memory");
        pcap_close(pcap);
        return TAKEOVER_PCAP_ERROR;
    }
    handle->pcap = pcap;
    *out = handle;
    return TAKEOVER_PCAP_OK;
}

void takeover_pcap_close(takeover_pcap *handle) {
    if (handle == NULL) return;
    pcap_close(handle->pcap);
    free(handle);
}

/// Compiles and, when `install` is set, installs the filter. Both callers share the compile error path.
static int compile_filter(pcap_t *pcap, const char *expression, int install, char *errbuf) {
    struct bpf_program program;
    if (pcap_compile(pcap, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        copy_error(errbuf, pcap_geterr(pcap));
        return TAKEOVER_PCAP_BAD_FILTER;
    }
    int result = TAKEOVER_PCAP_OK;
    if (install && pcap_setfilter(pcap, &program) != 0) {
        copy_error(errbuf, pcap_geterr(pcap));
        result = TAKEOVER_PCAP_ERROR;
    }
    pcap_freecode(&program);
    return result;
}

int takeover_pcap_set_filter(takeover_pcap *handle, const char *expression,
                             char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]) {
    return compile_filter(handle->pcap, expression, 1, errbuf);
}

int takeover_pcap_check_filter(const char *expression, int32_t snapshot_length,
                               char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]) {
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, snapshot_length);
    if (dead == NULL) {
        copy_error(errbuf, "pcap_open_dead failed");
        return TAKEOVER_PCAP_ERROR;
    }
    int result = compile_filter(dead, expression, 0, errbuf);
    pcap_close(dead);
    return result;
}

int takeover_pcap_set_nonblocking(takeover_pcap *handle, int nonblocking,
                                  char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]) {
    return pcap_setnonblock(handle->pcap, nonblocking, errbuf) == 0 ? TAKEOVER_PCAP_OK : TAKEOVER_PCAP_ERROR;
}

int takeover_pcap_selectable_fd(takeover_pcap *handle) {
    return pcap_get_selectable_fd(handle->pcap);
}

struct dispatch_context {
    takeover_pcap_frame_handler handler;
    void *context;
};

static void dispatch_trampoline(u_char *user, const struct pcap_pkthdr *header, const u_char *bytes) {
    const struct dispatch_context *dispatch = (const struct dispatch_context *)user;
    // With PCAP_TSTAMP_PRECISION_NANO, tv_usec holds nanoseconds.
    dispatch->handler(dispatch->context, bytes, header->caplen, header->len, (int64_t)header->ts.tv_sec,
                      (int64_t)header->ts.tv_usec);
}

int takeover_pcap_dispatch(takeover_pcap *handle, int max_frames, takeover_pcap_frame_handler handler,
                           void *context, char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]) {
    struct dispatch_context dispatch = {handler, context};
    int result = pcap_dispatch(handle->pcap, max_frames, dispatch_trampoline, (u_char *)&dispatch);
    if (result >= 0) return result;
    if (result == PCAP_ERROR_BREAK) return TAKEOVER_PCAP_BROKEN_LOOP;
    copy_error(errbuf, pcap_geterr(handle->pcap));
    return TAKEOVER_PCAP_ERROR;
}

int takeover_pcap_inject(takeover_pcap *handle, const void *frame, size_t length,
                         char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]) {
    int sent = pcap_inject(handle->pcap, frame, length);
    if (sent >= 0) return sent;
    copy_error(errbuf, pcap_geterr(handle->pcap));
    return TAKEOVER_PCAP_ERROR;
}

int takeover_pcap_statistics_get(takeover_pcap *handle, takeover_pcap_statistics *out,
                                 char errbuf[TAKEOVER_PCAP_ERRBUF_SIZE]) {
    struct pcap_stat stat;
    if (pcap_stats(handle->pcap, &stat) != 0) {
        copy_error(errbuf, pcap_geterr(handle->pcap));
        return TAKEOVER_PCAP_ERROR;
    }
    out->received = stat.ps_recv;
    out->dropped = stat.ps_drop;
    out->interface_dropped = stat.ps_ifdrop;
    return TAKEOVER_PCAP_OK;
}
