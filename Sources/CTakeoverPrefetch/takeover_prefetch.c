// Header-only target (see include/takeover_prefetch.h); SwiftPM needs one source file to build it.
#include "takeover_prefetch.h"
