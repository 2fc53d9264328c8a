#pragma once
// Private: a pickle reader for the subset of Python's pickle format that torch.save writes
// (protocol 2: dicts, OrderedDict, lists, tuples, numbers, strings, tensors as
// torch._utils._rebuild_tensor_v2 of persistent storages) and LibTorch's TorchScript pickler
// (objects of __torch__ classes, torch.jit._pickle.build_* lists). It never imports or calls
// anything: the few globals it knows are interpreted, every other one is an error.
// No LibTorch here: tensors come out as descriptions (TensorRef) to be materialized by the
// caller from the archive's storages.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tomograd::models::detail {

/// A storage referenced by a persistent id ('storage', torch.FloatStorage, key, location, numel).
struct StorageRef {
  std::string type;      ///< "FloatStorage", "LongStorage", ... (the global's name)
  std::string key;       ///< archive record "data/<key>" (zip) or position in the key list (legacy)
  std::string location;  ///< "cpu", "cuda:0", ...
  int64_t numel = 0;     ///< elements
  int64_t view_offset = 0;  ///< legacy storage views: element offset into the root storage
};

/// A tensor to rebuild: as_strided(storage, sizes, strides, offset).
struct TensorRef {
  StorageRef storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
};

enum class PickleKind {
  kNone, kBool, kInt, kBigInt, kFloat, kString, kBytes, kTuple, kList, kDict,
  kGlobal, kObject, kStorage, kTensor
};

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

/// A value on the pickle VM's stack. Containers are shared (the memo refers to the same object).
struct PickleValue {
  PickleKind kind = PickleKind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string text;  ///< string, bytes, little-endian bytes of a big int, "module.name" of a
                     ///< global, class name of an object
  std::vector<PickleRef> items;                            ///< tuple, list
  std::vector<std::pair<PickleRef, PickleRef>> entries;    ///< dict (insertion order)
  PickleRef state;                                         ///< object: state set by BUILD
  StorageRef storage;
  TensorRef tensor;
};

/// Result of running the VM up to STOP.
struct PickleResult {
  PickleRef value;
  size_t end = 0;  ///< offset just after the STOP opcode
};

/// Unpickles data[begin..] up to STOP. @p source names the file and record in error messages.
/// Storage ids may have 5 fields (zip format) or 6 (legacy format, with view metadata).
/// Throws tomograd::IoError "<source>: ..." for truncated data, an unsupported opcode (with its
/// byte value and pickle name) or global, or a malformed torch structure.
PickleResult unpickle(std::string_view data, size_t begin, const std::string& source);

/// Every tensor reachable from @p root with a dotted name: dict keys and object attributes are
/// joined with '.', list items by index; a top-level tensor is named "tensor". Order: as
/// pickled. A tensor reachable twice (shared) is listed under each name.
std::vector<std::pair<std::string, TensorRef>> collect_tensors(const PickleRef& root);

}  // namespace tomograd::models::detail
