#pragma once
/// @file Slice export to PNG for LibTorch Volumes: png_export_base.hpp (no LibTorch) plus its
/// functions for Volume.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "tomograd/core/volume.hpp"
#include "tomograd/io/png_export_base.hpp"

namespace tomograd::io {

/// window_slice() of png_export_base.hpp for a Volume.
std::vector<uint16_t> window_slice(const Volume& volume, int64_t slice, const Window& window,
                                   int bit_depth);

/// export_png() of png_export_base.hpp for a Volume.
std::vector<std::filesystem::path> export_png(const Volume& volume,
                                              const std::filesystem::path& outdir,
                                              const PngExportOptions& options);

}  // namespace tomograd::io
