// Machine-readable benchmark output for scripts/plot_bench.py: when ESK8S_BENCH_DATA names a
// directory, a benchmark also writes its per-run figures there as CSV (one header line, then one
// row per run or sample), next to the markdown report it prints. scripts/bench sets it.
#pragma once

#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

namespace esk8s::bench {

// $ESK8S_BENCH_DATA/name, truncated, with `header` and a newline written; nullopt when the
// variable is unset or empty. Throws naming the path when it cannot be written.
inline std::optional<std::ofstream> data_file(const std::string& name, const std::string& header) {
  const char* dir = std::getenv("ESK8S_BENCH_DATA");
  if (dir == nullptr || *dir == '\0') return std::nullopt;
  const std::string path = std::string(dir) + "/" + name;
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    throw std::runtime_error("cannot write " + path +
                             " (ESK8S_BENCH_DATA must name an existing, writable directory)");
  }
  out << header << "\n";
  return out;
}

}  // namespace esk8s::bench
