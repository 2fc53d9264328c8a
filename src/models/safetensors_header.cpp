// safetensors header checks, without LibTorch (the fuzzing harness links this file alone).
#include "safetensors_header.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "tomograd/core/error.hpp"

namespace tomograd::models::detail {

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

namespace {

SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& info, uint64_t available,
                             const std::string& source) {
  const std::string what = source + ": tensor '" + name + "'";
  if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets")) {
    throw IoError(what + ": expected {dtype, shape, data_offsets}");
  }
  SafetensorsEntry e;
  e.name = name;
  e.dtype = info["dtype"].is_string() ? info["dtype"].get<std::string>() : "";
  const int elem = safetensors_element_size(e.dtype);
  if (elem == 0) throw IoError(what + ": unsupported dtype '" + e.dtype + "'");
  if (!info["shape"].is_array()) throw IoError(what + ": shape must be a list of sizes");
  uint64_t nbytes = static_cast<uint64_t>(elem);
  for (const auto& s : info["shape"]) {
    if (!s.is_number_integer() || s.get<int64_t>() < 0) throw IoError(what + ": invalid shape (sizes must be integers >= 0)");
    e.shape.push_back(s.get<int64_t>());
    if (__builtin_mul_overflow(nbytes, static_cast<uint64_t>(e.shape.back()), &nbytes)) {
      throw IoError(what + ": shape " + info["shape"].dump() + " has more bytes than 2^64");
    }
  }
  const auto& off = info["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
    throw IoError(what + ": data_offsets must be [begin, end]");
  }
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.end < e.begin || e.end - e.begin != nbytes) {
    throw IoError(what + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                  "] do not hold " + std::to_string(nbytes) + " bytes for its dtype and shape");
  }
  if (e.end > available) {
    throw IoError(what + ": data ends at byte " + std::to_string(e.end) + " but the file holds " +
                  std::to_string(available) + " data bytes (truncated?)");
  }
  return e;
}

}  // namespace

int safetensors_element_size(const std::string& dtype) {
  static const std::map<std::string, int> kSizes = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                                    {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
  auto it = kSizes.find(dtype);
  return it == kSizes.end() ? 0 : it->second;
}

SafetensorsHeader parse_safetensors_header(std::string_view data, const std::string& source) {
  if (data.size() < 8) throw IoError(source + ": too short for a safetensors file");
  const uint64_t header_size = read_u64_le(data.data());
  if (header_size > data.size() - 8) {
    throw IoError(source + ": safetensors header of " + std::to_string(header_size) + " bytes exceeds the file (" +
                  std::to_string(data.size()) + " bytes; truncated?)");
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data.begin() + 8, data.begin() + 8 + static_cast<std::ptrdiff_t>(header_size));
  } catch (const nlohmann::json::exception& e) {
    throw IoError(source + ": safetensors header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) throw IoError(source + ": safetensors header is not a JSON object");
  SafetensorsHeader out;
  out.data_offset = 8 + header_size;
  const uint64_t available = data.size() - out.data_offset;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (info.is_object()) {
        for (const auto& [k, v] : info.items()) out.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
      continue;
    }
    out.entries.push_back(parse_entry(name, info, available, source));
  }
  std::stable_sort(out.entries.begin(), out.entries.end(),
                   [](const SafetensorsEntry& x, const SafetensorsEntry& y) { return x.begin < y.begin; });
  return out;
}

}  // namespace tomograd::models::detail
