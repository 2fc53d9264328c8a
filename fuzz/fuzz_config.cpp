// libFuzzer harness: YAML config decoding: parse, walk every key with the typed getters the
// task decoders use, sections, unknown-key checks, and --set overrides taken from the first line.
#include "fuzz_common.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"

namespace {

void walk(tomograd::ConfigReader& reader, const YAML::Node& node, int depth) {
  if (depth > 8 || !node.IsMap()) return;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) continue;
    const std::string key = kv.first.Scalar();
    try {
      if (kv.second.IsMap()) {
        tomograd::ConfigReader child = reader.child(key);
        walk(child, kv.second, depth + 1);
        child.finish();
        continue;
      }
      int i = 0;
      double d = 0;
      bool b = false;
      std::string s;
      std::vector<double> v;
      std::vector<std::string> names;
      try { reader.get(key, i); } catch (const tomograd::ConfigError&) {}
      try { reader.get(key, d); } catch (const tomograd::ConfigError&) {}
      try { reader.get(key, b); } catch (const tomograd::ConfigError&) {}
      try { reader.get(key, s); } catch (const tomograd::ConfigError&) {}
      try { reader.get(key, v); } catch (const tomograd::ConfigError&) {}
      try { reader.get(key, names); } catch (const tomograd::ConfigError&) {}
    } catch (const tomograd::ConfigError&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    YAML::Node root = parse_yaml_text(text, "input.yaml");
    const std::string first = text.substr(0, text.find('\n'));
    if (first.rfind("#set ", 0) == 0) apply_overrides(root, {first.substr(5)});
    ConfigReader reader(root, "input.yaml");
    walk(reader, root, 0);
    reader.finish();
  } catch (const Error&) {
  }
  return 0;
}
