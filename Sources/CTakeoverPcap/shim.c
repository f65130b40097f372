#include "CTakeoverPcap.h"
#include <pcap/pcap.h>

const char *takeover_pcap_lib_version(void) {
    return pcap_lib_version();
}
