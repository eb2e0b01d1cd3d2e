#pragma once
// The switches that change a backend's arithmetic (not its results' meaning, but their rounding), for
// config.json and benchmark headers: what a program asks without depending on a backend's internals.
// A run is bit-identical only with the same settings (README, "Results are bit-identical ...").
#include <string>

namespace collapse {

// Whether this process may use the cpu backend's Winograd convolutions (backends/cpu/conv2d_winograd.h;
// COLLAPSE_CPU_WINOGRAD, read once; default on).
bool cpu_winograd_enabled();
// For run configs: "on", "off (COLLAPSE_CPU_WINOGRAD=0)", or "unavailable" where this machine's oneDNN has
// no Winograd kernel (no AVX-512).
std::string cpu_winograd_status();

}  // namespace collapse
