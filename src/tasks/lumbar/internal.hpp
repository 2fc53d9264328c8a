#pragma once
// Internals shared by the lumbar sources: not installed.
#include <string>
#include <vector>

namespace tomograd::tasks::lumbar::internal {

/// Throws CsvError "<what>: N problem(s)<context>:\n  - ..." (at most 50 listed) when @p problems
/// is not empty.
void throw_problems(const std::string& what, const std::vector<std::string>& problems,
                    const std::string& context = "");

}  // namespace tomograd::tasks::lumbar::internal
