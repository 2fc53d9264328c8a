#include "tomograd/core/memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace tomograd {

torch::Tensor empty_for_fill(at::IntArrayRef sizes, torch::ScalarType dtype) {
  torch::Tensor t = torch::empty(sizes, torch::TensorOptions().dtype(dtype));
#ifdef MADV_HUGEPAGE
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  const std::size_t bytes = static_cast<std::size_t>(t.nbytes());
  if (bytes >= 2 * kHuge) {
    // madvise needs a page-aligned start; huge pages back the 2 MiB-aligned part of the range.
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    auto begin = reinterpret_cast<std::uintptr_t>(t.data_ptr());
    auto end = begin + bytes;
    begin = (begin + page - 1) & ~(page - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // advisory only
  }
#endif
  return t;
}

}  // namespace tomograd
