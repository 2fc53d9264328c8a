#pragma once
/// @file Installation checks of the classic models (used by `tomograd doctor`): the versions of
/// the libraries they run on, and every registered model fitted on a tiny problem whose answer is
/// known.
#include <string>
#include <utility>
#include <vector>

#include "tomograd/classic/registry.hpp"

namespace tomograd::classic {

/// ("xgboost", "2.0.3"), ("libsvm", "3.31"): the libraries linked at run time.
std::vector<std::pair<std::string, std::string>> backend_versions();

/// Fits @p entry's model with its default parameters on 20 rows of one feature x = 0..19 and
/// checks it on the same rows: a regressor's predictions of y = 2x + 1 must correlate with y
/// (Pearson r >= 0.9), a classifier's P(y = 1) for y = [x >= 10] must rank every positive above
/// every negative (AUC = 1). @return a one-line summary ("r = 0.998"). Throws Error naming the
/// model when the check fails (and whatever the model throws).
std::string self_check(const ModelEntry& entry);

}  // namespace tomograd::classic
