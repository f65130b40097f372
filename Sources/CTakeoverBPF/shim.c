#include "CTakeoverBPF.h"

const char *takeover_cbpf_libbpf_version(void) {
    return libbpf_version_string();
}
