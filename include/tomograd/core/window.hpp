#pragma once
/// @file Display/intensity windows (centre/width) and their named presets.
#include <optional>
#include <string>
#include <vector>

namespace tomograd {

/// A window in the volume's physical units (HU for CT).
struct Window {
  double center = 40.0;
  double width = 80.0;
  double low() const { return center - width / 2.0; }
  double high() const { return center + width / 2.0; }
};

/// Named presets: brain 40/80, subdural 80/200, stroke 40/40, bone 600/2800, soft_tissue 50/400,
/// lung -600/1500.
const std::vector<std::pair<std::string, Window>>& window_presets();

/// Parses a preset name or "C,W" (e.g. "40,80"). Throws ValueError listing the valid presets.
Window parse_window(const std::string& text);

}  // namespace tomograd
