// The entry point of _ops_x86_64_v4.so: the same op sources as the engine, compiled for
// x86-64-v4 and registered through the plugin ABI (see core/kernel_variant.h).
#include "coarsenet/op.h"

CN_PLUGIN_MAIN()
