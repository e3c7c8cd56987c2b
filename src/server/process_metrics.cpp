#include "server/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ds {

namespace {

std::optional<double> boot_time_seconds() {
  std::ifstream f("/proc/stat");
  std::string key;
  double value = 0;
  while (f >> key) {
    if (key == "btime" && (f >> value)) return value;
    f.ignore(1 << 20, '\n');
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProcessStats> read_process_stats() {
  std::ifstream f("/proc/self/stat");
  std::string line;
  if (!std::getline(f, line)) return std::nullopt;
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so split after the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;  // fields[0] is field 3 (state) of proc(5)
  for (std::string t; rest >> t;) fields.push_back(t);
  if (fields.size() < 22) return std::nullopt;
  const double ticks = double(sysconf(_SC_CLK_TCK));
  const double page = double(sysconf(_SC_PAGESIZE));
  auto field = [&](int n) { return std::stod(fields[size_t(n - 3)]); };  // proc(5) numbering

  ProcessStats s;
  s.cpu_seconds = (field(14) + field(15)) / ticks;  // utime + stime
  s.virtual_bytes = field(23);
  s.resident_bytes = field(24) * page;
  if (auto bt = boot_time_seconds()) s.start_time_seconds = *bt + field(22) / ticks;
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  s.open_fds = fds;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) s.max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : double(rl.rlim_cur);
  return s;
}

}  // namespace ds
