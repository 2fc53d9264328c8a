// libFuzzer harness: the safetensors header (length, JSON, dtypes, shapes, data offsets).
#include <string_view>

#include "../src/models/safetensors_header.hpp"
#include "tomograd/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  try {
    const auto header = models::detail::parse_safetensors_header(
        std::string_view(reinterpret_cast<const char*>(data), size), "input.safetensors");
    for (const auto& e : header.entries) {
      // What the reader then copies must lie inside the input.
      if (header.data_offset + e.end > size) __builtin_trap();
    }
  } catch (const Error&) {
  }
  return 0;
}
