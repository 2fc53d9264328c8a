#include "tomograd/io/limits.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace tomograd::io {

namespace {
std::atomic<std::uint64_t> g_max_image_bytes{0};

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return std::uint64_t{1} << 36;  // 64 GiB when unknown
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
}
}  // namespace

std::uint64_t max_image_bytes() {
  const std::uint64_t set = g_max_image_bytes.load(std::memory_order_relaxed);
  return set != 0 ? set : physical_memory_bytes();
}

void set_max_image_bytes(std::uint64_t bytes) { g_max_image_bytes.store(bytes, std::memory_order_relaxed); }

std::optional<std::uint64_t> checked_product(std::initializer_list<std::int64_t> factors) {
  std::uint64_t product = 1;
  for (std::int64_t f : factors) {
    if (f < 0) return std::nullopt;
    if (__builtin_mul_overflow(product, static_cast<std::uint64_t>(f), &product)) return std::nullopt;
  }
  return product;
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", v, kUnits[u]);
  return text;
}

}  // namespace tomograd::io
