#pragma once
// Private: the safetensors header (an 8-byte little-endian length, then JSON), parsed and checked
// against the file without LibTorch, so the checks can be fuzzed on their own.
// Format: https://github.com/huggingface/safetensors (README, "Format").
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tomograd::models::detail {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;           ///< "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  ///< byte range in the data section, checked: end - begin = numel * size
};

struct SafetensorsHeader {
  std::map<std::string, std::string> metadata;  ///< "__metadata__"
  std::vector<SafetensorsEntry> entries;        ///< in the order of their data
  uint64_t data_offset = 0;                     ///< where the data section starts in the file
};

/// The little-endian unsigned 64-bit number at @p p (the header length of a safetensors file).
uint64_t read_u64_le(const char* p);

/// Bytes per element of a safetensors dtype, 0 for a dtype tomograd does not read.
int safetensors_element_size(const std::string& dtype);

/// Parses and checks the header of the file @p data: the length fits the file, the JSON is an
/// object, every tensor has a known dtype, a non-negative shape whose byte count does not overflow,
/// and data_offsets [begin, end] of exactly that many bytes inside the data section. Throws
/// IoError "<source>: tensor '<name>': ..." naming what was expected.
SafetensorsHeader parse_safetensors_header(std::string_view data, const std::string& source);

}  // namespace tomograd::models::detail
