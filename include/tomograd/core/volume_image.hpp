#pragma once
/// @file Volume and Image (image.hpp) share voxels without copying them: the readers of io_base
/// fill an Image, the LibTorch API hands out a Volume viewing the same buffer, and the writers
/// take a Volume's voxels as an ImageView.
#include "tomograd/core/image.hpp"
#include "tomograd/core/volume.hpp"

namespace tomograd {

/// A Volume whose tensor views @p image's buffer (torch::from_blob with a deleter that keeps the
/// buffer alive as long as any tensor uses it): no copy, the same values. Throws ValueError for
/// an image without voxels.
Volume to_volume(Image image);

/// The geometry of @p volume.
ImageGeometry geometry_of(const Volume& volume);

/// @p volume's voxels ([D,H,W] contiguous float32, as Volume keeps them), geometry and info.
/// Valid while @p volume lives and its data is not replaced.
ImageView view_of(const Volume& volume);

}  // namespace tomograd
