#pragma once
// Shared by the libFuzzer harnesses: a scratch folder per process, quiet logging, and an
// allocation limit below libFuzzer's malloc limit so that "too large" is a reader's error, not a
// fuzzer crash.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tomograd/core/log.hpp"

namespace tomograd::fuzz {

/// A folder of this process's own under the system temp folder (created once).
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("tomograd-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

/// Writes @p size bytes to @p path (replacing it).
inline void write_bytes(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

/// Once per process: the library logs nothing (warnings on every bad input would swamp the
/// fuzzer's output).
inline void quiet() {
  static const bool done = [] {
    logger()->set_level(spdlog::level::off);
    return true;
  }();
  (void)done;
}

}  // namespace tomograd::fuzz
