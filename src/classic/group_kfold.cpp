#include "tomograd/classic/group_kfold.hpp"

#include <algorithm>
#include <map>
#include <random>

#include "tomograd/core/error.hpp"
#include "tomograd/core/random.hpp"

namespace tomograd::classic {

std::vector<int> group_k_fold(const std::vector<std::string>& groups, int k, uint64_t seed) {
  if (k < 2) throw ValueError("cross-validation needs at least 2 folds, got " + std::to_string(k));
  // Distinct ids in order of first appearance (independent of std::map ordering of strings).
  std::map<std::string, std::size_t> index;
  std::vector<std::string> ids;
  std::vector<std::size_t> sizes;
  for (const auto& g : groups) {
    auto [it, inserted] = index.emplace(g, ids.size());
    if (inserted) {
      ids.push_back(g);
      sizes.push_back(0);
    }
    ++sizes[it->second];
  }
  if (ids.size() < static_cast<std::size_t>(k)) {
    throw ValueError("cross-validation with " + std::to_string(k) + " folds needs at least " + std::to_string(k) +
                     " distinct ids, found " + std::to_string(ids.size()) +
                     " (all rows of one id stay in one fold; use fewer --folds)");
  }
  std::vector<std::size_t> order(ids.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // std::shuffle's algorithm is unspecified, so use an explicit Fisher-Yates with mt19937_64
  // (whose output is fixed by the standard): folds are identical across standard libraries.
  std::mt19937_64 rng(derive_seed(seed, 0x6b666f6c64ULL));
  for (std::size_t i = order.size(); i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(order[i - 1], order[j]);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return sizes[a] > sizes[b]; });
  std::vector<std::size_t> fold_rows(static_cast<std::size_t>(k), 0);
  std::vector<int> fold_of_id(ids.size(), 0);
  for (std::size_t id : order) {
    auto smallest = std::min_element(fold_rows.begin(), fold_rows.end()) - fold_rows.begin();
    fold_of_id[id] = static_cast<int>(smallest);
    fold_rows[static_cast<std::size_t>(smallest)] += sizes[id];
  }
  std::vector<int> out(groups.size());
  for (std::size_t r = 0; r < groups.size(); ++r) out[r] = fold_of_id[index.at(groups[r])];
  return out;
}

FoldRows fold_rows(const std::vector<int>& fold_of_row, int fold) {
  FoldRows f;
  for (std::size_t r = 0; r < fold_of_row.size(); ++r) (fold_of_row[r] == fold ? f.test : f.train).push_back(r);
  return f;
}

}  // namespace tomograd::classic
