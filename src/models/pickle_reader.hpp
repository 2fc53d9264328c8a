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

/// Owns every value one unpickle() created. A pickle can make a list that contains itself
/// (APPEND of a memoized list) or nest lists a million deep: the arena's destructor first empties
/// every container, so neither a reference cycle (a leak) nor a deep chain (recursive
/// destruction, a stack overflow) survives it. Values are valid while their arena lives.
class PickleArena {
 public:
  static constexpr size_t kMaxValues = size_t{1} << 22;
  /// @p source names the file in the error thrown past kMaxValues values.
  explicit PickleArena(std::string source) : source_(std::move(source)) {}
  PickleArena(const PickleArena&) = delete;
  PickleArena& operator=(const PickleArena&) = delete;
  ~PickleArena();
  PickleRef make(PickleKind kind);

 private:
  std::string source_;
  std::vector<PickleRef> values_;
};

/// Result of running the VM up to STOP.
struct PickleResult {
  PickleRef value;  ///< valid while @p arena lives
  size_t end = 0;   ///< offset just after the STOP opcode
  std::shared_ptr<PickleArena> arena;
};

/// Unpickles data[begin..] up to STOP. @p source names the file and record in error messages.
/// Storage ids may have 5 fields (zip format) or 6 (legacy format, with view metadata).
/// Throws tomograd::IoError "<source>: ..." for truncated data, an unsupported opcode (with its
/// byte value and pickle name) or global, or a malformed torch structure.
PickleResult unpickle(std::string_view data, size_t begin, const std::string& source);

/// Every tensor reachable from @p root with a dotted name: dict keys and object attributes are
/// joined with '.', list items by index; a top-level tensor is named "tensor". Order: as
/// pickled. A tensor reachable twice (shared) is listed under each name. Containers nested more
/// than 64 deep are not followed; more than 200000 visits (a pickle of shared references
/// that doubles at each level) or 256 MiB of names throw IoError naming @p source.
std::vector<std::pair<std::string, TensorRef>> collect_tensors(const PickleRef& root,
                                                               const std::string& source = "pickle");

/// Elements of the tensor @p ref describes, after checking (with overflow checks) that its
/// sizes and strides are non-negative and its view [offset, last element] lies inside a storage
/// of @p storage_numel elements. Throws IoError "<source>: tensor '<name>' ...".
int64_t checked_view_numel(const TensorRef& ref, int64_t storage_numel, const std::string& name,
                           const std::string& source);

// ---- the interpreter's pieces (pickle_torch.cpp) ----------------------------------------------

/// Pickle name of an opcode ("BINPUT"), or "not a pickle opcode".
const char* opcode_name(uint8_t op);
/// Python type name of a kind ("dict").
const char* kind_name(PickleKind kind);

/// Where an opcode sits, for messages.
struct PickleSite {
  const std::string& source;
  size_t at;
  /// Throws IoError "<source>: malformed pickle at byte <at>: <what>".
  [[noreturn]] void fail(const std::string& what) const;
  /// Throws IoError naming the global and what tomograd reads instead.
  [[noreturn]] void unsupported_global(const std::string& name) const;
};

/// BINPERSID: ('storage', torch.FloatStorage, key, location, numel[, view_metadata]).
PickleRef persistent_load(PickleArena& arena, const PickleRef& pid, const PickleSite& site);
/// REDUCE of an allowed global (OrderedDict, _rebuild_tensor_v2, ...); any other global throws.
/// @p budget counts the references it may still copy (a dict rebuilt from a list copies them).
PickleRef reduce_global(PickleArena& arena, const PickleRef& callable, const PickleRef& args,
                        const PickleSite& site, int64_t& budget);
/// NEWOBJ: OrderedDict or a TorchScript class object; any other class throws.
PickleRef new_object(PickleArena& arena, const PickleRef& cls, const PickleSite& site);
/// BUILD: sets an object's state; dicts and tensors ignore theirs.
void build_object(const PickleRef& target, const PickleRef& state, const PickleSite& site);

}  // namespace tomograd::models::detail
