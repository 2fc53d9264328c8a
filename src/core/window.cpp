#include "tomograd/core/window.hpp"

#include <cstdlib>

#include "tomograd/core/error.hpp"

namespace tomograd {

const std::vector<std::pair<std::string, Window>>& window_presets() {
  static const std::vector<std::pair<std::string, Window>> presets = {
      {"brain", {40, 80}},      {"subdural", {80, 200}}, {"stroke", {40, 40}},
      {"bone", {600, 2800}},    {"soft_tissue", {50, 400}}, {"lung", {-600, 1500}},
  };
  return presets;
}

Window parse_window(const std::string& text) {
  for (const auto& [name, w] : window_presets()) {
    if (name == text) return w;
  }
  auto comma = text.find(',');
  if (comma != std::string::npos) {
    const char* s = text.c_str();
    char* end = nullptr;
    double c = std::strtod(s, &end);
    bool ok = end == s + comma;
    const char* ws = s + comma + 1;
    double w = std::strtod(ws, &end);
    ok = ok && end != ws && *end == '\0';
    if (ok && w > 0) return Window{c, w};
  }
  std::string names;
  for (const auto& p : window_presets()) names += (names.empty() ? "" : ", ") + p.first;
  throw ValueError("invalid window '" + text + "': expected a preset (" + names +
                   ") or CENTER,WIDTH with WIDTH > 0, e.g. 40,80");
}

}  // namespace tomograd
