#pragma once
/// @file K-fold splits grouped by patient: every row of one id lands in the same fold.
#include <cstdint>
#include <string>
#include <vector>

namespace tomograd::classic {

/// Assigns each row a fold in [0, k) so that rows sharing a group (patient id) share a fold and
/// folds hold about the same number of rows: ids are shuffled with @p seed, then taken largest
/// first (stable, so ties keep the shuffled order) and each goes to the fold with the fewest rows
/// so far (as scikit-learn's GroupKFold, plus the seeded shuffle). The same ids and seed always
/// give the same folds.
/// @return one fold index per row. Throws ValueError when k < 2 or there are fewer distinct ids
/// than k.
std::vector<int> group_k_fold(const std::vector<std::string>& groups, int k, uint64_t seed);

/// Row indices of the training and test parts of fold @p fold.
struct FoldRows {
  std::vector<std::size_t> train;
  std::vector<std::size_t> test;
};
FoldRows fold_rows(const std::vector<int>& fold_of_row, int fold);

}  // namespace tomograd::classic
