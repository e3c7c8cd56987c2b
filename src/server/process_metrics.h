#pragma once
// Process metrics in the names every Prometheus client library uses (process_*), read from
// /proc/self on Linux. Any thread; no state.
#include <optional>

namespace ds {

struct ProcessStats {
  double cpu_seconds = 0;         // user + system CPU time
  double resident_bytes = 0;      // RSS
  double virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  double open_fds = 0;
  double max_fds = 0;             // RLIMIT_NOFILE soft limit
};

// nullopt when /proc is unavailable (then no process_* samples are rendered).
std::optional<ProcessStats> read_process_stats();

}  // namespace ds
