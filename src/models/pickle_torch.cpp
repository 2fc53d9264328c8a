// The torch-specific part of the pickle reader: which globals a state dict may name and what
// each one means (PyTorch's torch/serialization.py and torch/_utils.py), storages, tensor views
// and the walk that names every tensor. Nothing is imported or called: a global that is not
// listed here is refused by name.
#include <algorithm>
#include <cstdio>

#include "pickle_reader.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::models::detail {

const char* opcode_name(uint8_t op) {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return "not a pickle opcode";
  }
}

const char* kind_name(PickleKind kind) {
  switch (kind) {
    case PickleKind::kNone: return "None";
    case PickleKind::kBool: return "bool";
    case PickleKind::kInt: return "int";
    case PickleKind::kBigInt: return "int";
    case PickleKind::kFloat: return "float";
    case PickleKind::kString: return "str";
    case PickleKind::kBytes: return "bytes";
    case PickleKind::kTuple: return "tuple";
    case PickleKind::kList: return "list";
    case PickleKind::kDict: return "dict";
    case PickleKind::kGlobal: return "global";
    case PickleKind::kObject: return "object";
    case PickleKind::kStorage: return "storage";
    case PickleKind::kTensor: return "tensor";
  }
  return "?";
}

void PickleSite::fail(const std::string& what) const {
  throw IoError(source + ": malformed pickle at byte " + std::to_string(at) + ": " + what);
}

void PickleSite::unsupported_global(const std::string& name) const {
  throw IoError(source + ": unsupported global '" + name + "' at byte " + std::to_string(at) +
                " of the pickle; tomograd reads tensors, dicts, lists and numbers only and never runs code "
                "from a file (re-save the checkpoint with torch.save(model.state_dict()))");
}

namespace {

std::vector<int64_t> int_tuple(const PickleRef& v, bool* ok) {
  std::vector<int64_t> out;
  if (v->kind != PickleKind::kTuple && v->kind != PickleKind::kList) {
    *ok = false;
    return out;
  }
  for (const auto& item : v->items) {
    if (item->kind != PickleKind::kInt) *ok = false;
    out.push_back(item->integer);
  }
  return out;
}

bool is_storage_global(const PickleRef& v) {
  const std::string& t = v->text;
  return v->kind == PickleKind::kGlobal && t.rfind("torch.", 0) == 0 && t.size() >= 7 + 6 &&
         t.compare(t.size() - 7, 7, "Storage") == 0;
}

// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
PickleRef rebuild_tensor(PickleArena& arena, const std::string& name, const std::vector<PickleRef>& a,
                         const PickleSite& site) {
  bool ok = a.size() >= 4 && a[0]->kind == PickleKind::kStorage && a[1]->kind == PickleKind::kInt;
  auto v = arena.make(PickleKind::kTensor);
  if (ok) {
    v->tensor.storage = a[0]->storage;
    ok = !__builtin_add_overflow(a[1]->integer, a[0]->storage.view_offset, &v->tensor.offset);
    v->tensor.sizes = int_tuple(a[2], &ok);
    v->tensor.strides = int_tuple(a[3], &ok);
    ok = ok && v->tensor.sizes.size() == v->tensor.strides.size();
  }
  if (!ok) site.fail("unexpected arguments to " + name);
  return v;
}

}  // namespace

PickleRef persistent_load(PickleArena& arena, const PickleRef& pid, const PickleSite& site) {
  const auto& t = pid->items;
  if (pid->kind != PickleKind::kTuple || (t.size() != 5 && t.size() != 6) || t[0]->kind != PickleKind::kString ||
      t[0]->text != "storage") {
    site.fail("persistent id is not a ('storage', type, key, location, numel) tuple");
  }
  if (!is_storage_global(t[1])) site.fail("storage type is not a torch.*Storage global");
  auto v = arena.make(PickleKind::kStorage);
  v->storage.type = t[1]->text.substr(t[1]->text.rfind('.') + 1);
  if (t[2]->kind == PickleKind::kString) {
    v->storage.key = t[2]->text;
  } else if (t[2]->kind == PickleKind::kInt) {
    v->storage.key = std::to_string(t[2]->integer);
  } else {
    site.fail("storage key is neither a string nor an int");
  }
  if (t[3]->kind == PickleKind::kString) v->storage.location = t[3]->text;
  if (t[4]->kind != PickleKind::kInt || t[4]->integer < 0) site.fail("storage size is not a non-negative int");
  v->storage.numel = t[4]->integer;
  if (t.size() == 6 && t[5]->kind != PickleKind::kNone) {
    // Legacy storage view: (view_key, offset, view_size) into the root storage.
    const auto& view = t[5]->items;
    if (t[5]->kind != PickleKind::kTuple || view.size() != 3 || view[1]->kind != PickleKind::kInt ||
        view[1]->integer < 0) {
      site.fail("malformed legacy storage view metadata");
    }
    v->storage.view_offset = view[1]->integer;
  }
  return v;
}

PickleRef reduce_global(PickleArena& arena, const PickleRef& callable, const PickleRef& args,
                        const PickleSite& site, int64_t& budget) {
  if (callable->kind != PickleKind::kGlobal) site.fail(std::string("REDUCE on a ") + kind_name(callable->kind));
  if (args->kind != PickleKind::kTuple) site.fail("REDUCE arguments are not a tuple");
  const std::string& name = callable->text;
  const auto& a = args->items;
  if (name == "collections.OrderedDict" || name == "builtins.dict") {
    auto d = arena.make(PickleKind::kDict);
    if (!a.empty() && (a[0]->kind == PickleKind::kList || a[0]->kind == PickleKind::kTuple)) {
      budget -= static_cast<int64_t>(a[0]->items.size());
      if (budget < 0) site.fail("the pickle copies more references than its size allows (a pickle bomb?)");
      for (const auto& pair : a[0]->items) {
        if (pair->items.size() == 2) d->entries.emplace_back(pair->items[0], pair->items[1]);
      }
    }
    return d;
  }
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
    return rebuild_tensor(arena, name, a, site);
  }
  if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
    if (a.empty() || a[0]->kind != PickleKind::kTensor) site.fail(name + " without a tensor");
    return a[0];  // a Parameter is its data for our purposes
  }
  if (name.rfind("torch.jit._pickle.build_", 0) == 0 || name == "torch.jit._pickle.restore_type_tag") {
    if (a.empty()) site.fail(name + " without arguments");
    return a[0];  // typed lists / type tags of TorchScript: the value itself
  }
  if (name == "torch.device" && !a.empty() && a[0]->kind == PickleKind::kString) return a[0];
  site.unsupported_global(name);
}

PickleRef new_object(PickleArena& arena, const PickleRef& cls, const PickleSite& site) {
  if (cls->kind != PickleKind::kGlobal) site.fail(std::string("NEWOBJ on a ") + kind_name(cls->kind));
  if (cls->text == "collections.OrderedDict") return arena.make(PickleKind::kDict);
  // Objects of TorchScript classes (LibTorch archives: modules, their submodules): their
  // attributes arrive later through BUILD.
  if (cls->text.rfind("__torch__.", 0) == 0) {
    auto v = arena.make(PickleKind::kObject);
    v->text = cls->text;
    return v;
  }
  site.unsupported_global(cls->text);
}

void build_object(const PickleRef& target, const PickleRef& state, const PickleSite& site) {
  switch (target->kind) {
    case PickleKind::kObject: target->state = state; return;
    case PickleKind::kDict: return;    // OrderedDict attributes such as _metadata: not needed
    case PickleKind::kTensor: return;  // Parameter/tensor Python attributes: not needed
    default: site.fail(std::string("BUILD on a ") + kind_name(target->kind));
  }
}

namespace {

// Names every tensor; a budget of visits and name bytes bounds what shared references (a DAG
// that doubles at every level) can make it do.
class TensorCollector {
 public:
  explicit TensorCollector(const std::string& source) : source_(source) {}

  void collect(const PickleRef& v, const std::string& prefix, int depth) {
    if (!v || depth > 64) return;  // state dicts are shallow
    // A container inside itself (found by fuzz_pickle: a list holding itself ten times took
    // 13 s to walk) adds no tensor: each cycle is cut where it closes.
    if (std::find(path_.begin(), path_.end(), v.get()) != path_.end()) return;
    path_.push_back(v.get());
    walk(v, prefix, depth);
    path_.pop_back();
  }
  std::vector<std::pair<std::string, TensorRef>> take() { return std::move(out_); }

 private:
  void walk(const PickleRef& v, const std::string& prefix, int depth) {
    if (++visits_ > kMaxVisits || name_bytes_ > kMaxNameBytes) {
      throw IoError(source_ + ": the pickle's containers refer to each other more than " +
                    std::to_string(kMaxVisits) + " times or make over 256 MiB of names (a pickle bomb?)");
    }
    auto join = [&](const std::string& key) { return prefix.empty() ? key : prefix + "." + key; };
    switch (v->kind) {
      case PickleKind::kTensor:
        name_bytes_ += prefix.size();
        out_.emplace_back(prefix.empty() ? "tensor" : prefix, v->tensor);
        return;
      case PickleKind::kDict:
        for (const auto& [key, value] : v->entries) {
          if (key->kind == PickleKind::kString) collect(value, join(key->text), depth + 1);
          else if (key->kind == PickleKind::kInt) collect(value, join(std::to_string(key->integer)), depth + 1);
        }
        return;
      case PickleKind::kObject: collect(v->state, prefix, depth + 1); return;
      case PickleKind::kList:
      case PickleKind::kTuple:
        for (size_t i = 0; i < v->items.size(); ++i) collect(v->items[i], join(std::to_string(i)), depth + 1);
        return;
      default: return;
    }
  }

  static constexpr int64_t kMaxVisits = 200000;  // a large state dict needs a few tens of thousands
  static constexpr size_t kMaxNameBytes = size_t{256} << 20;
  const std::string& source_;
  int64_t visits_ = 0;
  size_t name_bytes_ = 0;
  std::vector<std::pair<std::string, TensorRef>> out_;
  std::vector<const PickleValue*> path_;  // containers from the root to the one being walked
};

}  // namespace

std::vector<std::pair<std::string, TensorRef>> collect_tensors(const PickleRef& root, const std::string& source) {
  TensorCollector c(source);
  c.collect(root, "", 0);
  return c.take();
}

int64_t checked_view_numel(const TensorRef& ref, int64_t storage_numel, const std::string& name,
                           const std::string& source) {
  const std::string what = source + ": tensor '" + name + "'";
  int64_t numel = 1, last = ref.offset;
  bool overflow = false;
  for (size_t i = 0; i < ref.sizes.size(); ++i) {
    if (ref.sizes[i] < 0 || ref.strides[i] < 0) throw IoError(what + " has a negative size or stride");
    overflow = overflow || __builtin_mul_overflow(numel, ref.sizes[i], &numel);
    int64_t reach = 0;
    if (ref.sizes[i] > 0) {
      overflow = overflow || __builtin_mul_overflow(ref.sizes[i] - 1, ref.strides[i], &reach) ||
                 __builtin_add_overflow(last, reach, &last);
    }
  }
  if (overflow) throw IoError(what + ": its sizes and strides overflow 64 bits");
  if (numel > 0 && (ref.offset < 0 || last >= storage_numel)) {
    throw IoError(what + " reaches element " + std::to_string(last) + " of storage '" + ref.storage.key +
                  "', which has " + std::to_string(storage_numel) + " elements");
  }
  return numel;
}

}  // namespace tomograd::models::detail
