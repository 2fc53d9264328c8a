#pragma once
// Shared internals of the metastasis pipeline (not installed).
#include <string>
#include <vector>

#include "../common.hpp"
#include "tomograd/tasks/metastasis.hpp"
#include "tomograd/tasks/slice_dataset.hpp"

namespace tomograd::tasks::metastasis::detail {

using tasks::detail::cache_dir;
using tasks::detail::checkpoint_path;
using tasks::detail::num;
using tasks::detail::require_empty_dir;
using tasks::detail::throw_if_problems;
using tasks::detail::write_csv;

/// Scans @p p.path and sets p.series to its CT series with the most slices (at least
/// @p min_slices). Adds a problem and returns false when there is none.
bool pick_ct_series(Patient& p, int min_slices, std::vector<std::string>& problems);

}  // namespace tomograd::tasks::metastasis::detail
