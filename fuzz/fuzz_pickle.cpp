// libFuzzer harness: the .pth pickle reader (data.pkl of a torch.save zip, or the pickles of a
// legacy file): the VM, the allowed globals, tensor naming and view bounds.
#include <string_view>

#include "../src/models/pickle_reader.hpp"
#include "tomograd/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::string source = "input.pth";
  try {
    size_t begin = 0;
    for (int i = 0; i < 5 && begin < bytes.size(); ++i) {  // a legacy file holds five pickles
      auto result = models::detail::unpickle(bytes, begin, source);
      for (const auto& [name, ref] : models::detail::collect_tensors(result.value, source)) {
        models::detail::checked_view_numel(ref, ref.storage.numel, name, source);
      }
      begin = result.end;
    }
  } catch (const Error&) {
  }
  return 0;
}
