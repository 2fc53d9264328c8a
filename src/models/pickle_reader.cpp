// A pickle virtual machine for what torch.save and LibTorch's TorchScript pickler write.
// Reference: CPython's Lib/pickletools.py (opcode semantics) and PyTorch's
// torch/serialization.py (persistent ids, _rebuild_tensor_v2). Nothing from the file is ever
// executed: known globals are interpreted here, any other global is refused, which also makes
// reading untrusted weight files safe (unlike Python's pickle.load).
#include "pickle_reader.hpp"

#include <cstdio>
#include <cstring>
#include <map>
#include <unordered_map>

#include "tomograd/core/error.hpp"

namespace tomograd::models::detail {

namespace {

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

PickleRef make(PickleKind kind) {
  auto v = std::make_shared<PickleValue>();
  v->kind = kind;
  return v;
}

PickleRef make_int(int64_t i) {
  auto v = make(PickleKind::kInt);
  v->integer = i;
  return v;
}

PickleRef make_text(PickleKind kind, std::string text) {
  auto v = make(kind);
  v->text = std::move(text);
  return v;
}

const char* kind_name(PickleKind k) {
  switch (k) {
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

class Machine {
 public:
  Machine(std::string_view data, size_t begin, const std::string& source)
      : data_(data), pos_(begin), source_(source) {}

  PickleResult run() {
    for (;;) {
      const size_t at = pos_;
      const uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;             // PROTO: the protocol number does not change parsing
        case 0x95: bytes(8); break;         // FRAME: a length hint (protocol 4)
        case '.': {                          // STOP
          if (stack_.size() != 1) fail(at, "STOP with " + std::to_string(stack_.size()) + " values on the stack");
          return {stack_.back(), pos_};
        }
        case '(': marks_.push_back(stack_.size()); break;
        case '0': pop(at); break;
        case '1': pop_mark(at); break;
        case '2': push(top(at)); break;
        case 'N': push(make(PickleKind::kNone)); break;
        case 0x88: case 0x89: {
          auto v = make(PickleKind::kBool);
          v->boolean = op == 0x88;
          push(v);
          break;
        }
        case 'J': push(make_int(static_cast<int32_t>(le(4)))); break;
        case 'K': push(make_int(static_cast<int64_t>(le(1)))); break;
        case 'M': push(make_int(static_cast<int64_t>(le(2)))); break;
        case 0x8a: push(long_value(le(1), at)); break;
        case 0x8b: push(long_value(le(4), at)); break;
        case 'G': {
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | u8();  // big-endian IEEE 754
          auto v = make(PickleKind::kFloat);
          std::memcpy(&v->real, &bits, sizeof bits);
          push(v);
          break;
        }
        case 'X': push(make_text(PickleKind::kString, bytes(le(4)))); break;
        case 0x8c: push(make_text(PickleKind::kString, bytes(le(1)))); break;
        case 0x8d: push(make_text(PickleKind::kString, bytes(le(8)))); break;
        case 'T': push(make_text(PickleKind::kBytes, bytes(le(4)))); break;
        case 'U': push(make_text(PickleKind::kBytes, bytes(le(1)))); break;
        case 'B': push(make_text(PickleKind::kBytes, bytes(le(4)))); break;
        case 'C': push(make_text(PickleKind::kBytes, bytes(le(1)))); break;
        case 0x8e: push(make_text(PickleKind::kBytes, bytes(le(8)))); break;
        case ')': push(make(PickleKind::kTuple)); break;
        case 't': {
          auto v = make(PickleKind::kTuple);
          v->items = pop_mark(at);
          push(v);
          break;
        }
        case 0x85: case 0x86: case 0x87: {
          const size_t n = op - 0x84u;
          if (stack_.size() < n) fail(at, "tuple of " + std::to_string(n) + " with too few values");
          auto v = make(PickleKind::kTuple);
          v->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(v);
          break;
        }
        case ']': push(make(PickleKind::kList)); break;
        case 'l': {
          auto v = make(PickleKind::kList);
          v->items = pop_mark(at);
          push(v);
          break;
        }
        case 'a': {
          PickleRef item = pop(at);
          list_at(top(at), at)->items.push_back(item);
          break;
        }
        case 'e': {
          auto items = pop_mark(at);
          auto& list = list_at(top(at), at)->items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case '}': push(make(PickleKind::kDict)); break;
        case 'd': {
          auto v = make(PickleKind::kDict);
          add_pairs(v, pop_mark(at), at);
          push(v);
          break;
        }
        case 's': {
          PickleRef value = pop(at);
          PickleRef key = pop(at);
          dict_at(top(at), at)->entries.emplace_back(key, value);
          break;
        }
        case 'u': {
          auto items = pop_mark(at);
          add_pairs(dict_at(top(at), at), items, at);
          break;
        }
        case 'q': memo_[le(1)] = top(at); break;
        case 'r': memo_[le(4)] = top(at); break;
        case 0x94: memo_[memo_.size()] = top(at); break;
        case 'h': push(memo(le(1), at)); break;
        case 'j': push(memo(le(4), at)); break;
        case 'c': {
          std::string module = line(at);
          std::string name = line(at);
          push(make_text(PickleKind::kGlobal, module + "." + name));
          break;
        }
        case 0x93: {
          PickleRef name = pop(at);
          PickleRef module = pop(at);
          if (module->kind != PickleKind::kString || name->kind != PickleKind::kString) {
            fail(at, "STACK_GLOBAL expects two strings");
          }
          push(make_text(PickleKind::kGlobal, module->text + "." + name->text));
          break;
        }
        case 'Q': push(persistent_load(pop(at), at)); break;
        case 'R': {
          PickleRef args = pop(at);
          PickleRef callable = pop(at);
          push(reduce(callable, args, at));
          break;
        }
        case 0x81: {
          PickleRef args = pop(at);
          PickleRef cls = pop(at);
          push(new_object(cls, args, at));
          break;
        }
        case 'b': {
          PickleRef state = pop(at);
          build(top(at), state, at);
          break;
        }
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          throw IoError(source_ + ": unsupported pickle opcode " + hex + " (" + opcode_name(op) + ") at byte " +
                        std::to_string(at) +
                        "; tomograd reads the pickle subset that torch.save(state_dict) writes");
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    throw IoError(source_ + ": malformed pickle at byte " + std::to_string(at) + ": " + what);
  }

  void need(size_t n) const {
    if (n > data_.size() || pos_ > data_.size() - n) {
      throw IoError(source_ + ": pickle data ends early at byte " + std::to_string(data_.size()) +
                    " (truncated or corrupt file?)");
    }
  }

  uint8_t u8() {
    need(1);
    return static_cast<uint8_t>(data_[pos_++]);
  }

  uint64_t le(int n) {
    need(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }

  std::string bytes(uint64_t n) {
    need(n);
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  std::string line(size_t at) {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) fail(at, "GLOBAL without a newline");
    std::string s(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }

  PickleRef long_value(uint64_t n, size_t at) {
    std::string raw = bytes(n);
    if (n > 8) return make_text(PickleKind::kBigInt, raw);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(raw[i])) << (8 * i);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(raw[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign
    return make_int(static_cast<int64_t>(v));
  }

  void push(PickleRef v) { stack_.push_back(std::move(v)); }

  PickleRef pop(size_t at) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail(at, "pop from an empty stack");
    PickleRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }

  const PickleRef& top(size_t at) const {
    if (stack_.empty()) fail(at, "empty stack");
    return stack_.back();
  }

  std::vector<PickleRef> pop_mark(size_t at) {
    if (marks_.empty()) fail(at, "no MARK");
    const size_t m = marks_.back();
    marks_.pop_back();
    if (m > stack_.size()) fail(at, "MARK beyond the stack");
    std::vector<PickleRef> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  PickleRef memo(uint64_t key, size_t at) const {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail(at, "memo key " + std::to_string(key) + " not set");
    return it->second;
  }

  const PickleRef& list_at(const PickleRef& v, size_t at) const {
    if (v->kind != PickleKind::kList) fail(at, std::string("APPEND to a ") + kind_name(v->kind));
    return v;
  }

  const PickleRef& dict_at(const PickleRef& v, size_t at) const {
    if (v->kind != PickleKind::kDict) fail(at, std::string("SETITEM on a ") + kind_name(v->kind));
    return v;
  }

  void add_pairs(const PickleRef& dict, const std::vector<PickleRef>& items, size_t at) const {
    if (items.size() % 2) fail(at, "odd number of dict items");
    for (size_t i = 0; i < items.size(); i += 2) dict->entries.emplace_back(items[i], items[i + 1]);
  }

  [[noreturn]] void unsupported_global(const std::string& name, size_t at) const {
    throw IoError(source_ + ": unsupported global '" + name + "' at byte " + std::to_string(at) +
                  " of the pickle; tomograd reads tensors, dicts, lists and numbers only "
                  "(re-save the checkpoint with torch.save(model.state_dict()))");
  }

  static std::vector<int64_t> int_tuple(const PickleRef& v, bool* ok) {
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

  // ('storage', torch.FloatStorage, key, location, numel[, view_metadata]).
  PickleRef persistent_load(const PickleRef& pid, size_t at) const {
    const auto& t = pid->items;
    if (pid->kind != PickleKind::kTuple || (t.size() != 5 && t.size() != 6) || t[0]->kind != PickleKind::kString ||
        t[0]->text != "storage") {
      fail(at, "persistent id is not a ('storage', type, key, location, numel) tuple");
    }
    if (t[1]->kind != PickleKind::kGlobal || t[1]->text.rfind("torch.", 0) != 0 ||
        t[1]->text.size() < 7 + 6 || t[1]->text.compare(t[1]->text.size() - 7, 7, "Storage") != 0) {
      fail(at, "storage type is not a torch.*Storage global");
    }
    auto v = make(PickleKind::kStorage);
    v->storage.type = t[1]->text.substr(t[1]->text.rfind('.') + 1);
    if (t[2]->kind == PickleKind::kString) {
      v->storage.key = t[2]->text;
    } else if (t[2]->kind == PickleKind::kInt) {
      v->storage.key = std::to_string(t[2]->integer);
    } else {
      fail(at, "storage key is neither a string nor an int");
    }
    if (t[3]->kind == PickleKind::kString) v->storage.location = t[3]->text;
    if (t[4]->kind != PickleKind::kInt || t[4]->integer < 0) fail(at, "storage size is not a non-negative int");
    v->storage.numel = t[4]->integer;
    if (t.size() == 6 && t[5]->kind != PickleKind::kNone) {
      // Legacy storage view: (view_key, offset, view_size) into the root storage.
      const auto& view = t[5]->items;
      if (t[5]->kind != PickleKind::kTuple || view.size() != 3 || view[1]->kind != PickleKind::kInt) {
        fail(at, "malformed legacy storage view metadata");
      }
      v->storage.view_offset = view[1]->integer;
    }
    return v;
  }

  PickleRef reduce(const PickleRef& callable, const PickleRef& args, size_t at) const {
    if (callable->kind != PickleKind::kGlobal) fail(at, std::string("REDUCE on a ") + kind_name(callable->kind));
    if (args->kind != PickleKind::kTuple) fail(at, "REDUCE arguments are not a tuple");
    const std::string& name = callable->text;
    const auto& a = args->items;
    if (name == "collections.OrderedDict" || name == "builtins.dict") {
      auto d = make(PickleKind::kDict);
      if (!a.empty() && (a[0]->kind == PickleKind::kList || a[0]->kind == PickleKind::kTuple)) {
        for (const auto& pair : a[0]->items) {
          if (pair->items.size() == 2) d->entries.emplace_back(pair->items[0], pair->items[1]);
        }
      }
      return d;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
      bool ok = a.size() >= 4 && a[0]->kind == PickleKind::kStorage && a[1]->kind == PickleKind::kInt;
      auto v = make(PickleKind::kTensor);
      if (ok) {
        v->tensor.storage = a[0]->storage;
        v->tensor.offset = a[1]->integer + a[0]->storage.view_offset;
        v->tensor.sizes = int_tuple(a[2], &ok);
        v->tensor.strides = int_tuple(a[3], &ok);
        ok = ok && v->tensor.sizes.size() == v->tensor.strides.size();
      }
      if (!ok) fail(at, "unexpected arguments to " + name);
      return v;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != PickleKind::kTensor) fail(at, name + " without a tensor");
      return a[0];  // a Parameter is its data for our purposes
    }
    if (name.rfind("torch.jit._pickle.build_", 0) == 0 || name == "torch.jit._pickle.restore_type_tag") {
      if (a.empty()) fail(at, name + " without arguments");
      return a[0];  // typed lists / type tags of TorchScript: the value itself
    }
    if (name == "torch.device" && !a.empty() && a[0]->kind == PickleKind::kString) return a[0];
    unsupported_global(name, at);
  }

  PickleRef new_object(const PickleRef& cls, const PickleRef& args, size_t at) const {
    if (cls->kind != PickleKind::kGlobal) fail(at, std::string("NEWOBJ on a ") + kind_name(cls->kind));
    if (cls->text == "collections.OrderedDict") return make(PickleKind::kDict);
    // Objects of TorchScript classes (LibTorch archives: modules, their submodules): their
    // attributes arrive later through BUILD.
    if (cls->text.rfind("__torch__.", 0) == 0) return make_text(PickleKind::kObject, cls->text);
    unsupported_global(cls->text, at);
  }

  void build(const PickleRef& target, const PickleRef& state, size_t at) const {
    switch (target->kind) {
      case PickleKind::kObject: target->state = state; return;
      case PickleKind::kDict: return;    // OrderedDict attributes such as _metadata: not needed
      case PickleKind::kTensor: return;  // Parameter/tensor Python attributes: not needed
      default: fail(at, std::string("BUILD on a ") + kind_name(target->kind));
    }
  }

  std::string_view data_;
  size_t pos_;
  const std::string& source_;
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleRef> memo_;
};

void collect(const PickleRef& v, const std::string& prefix, int depth,
             std::vector<std::pair<std::string, TensorRef>>& out) {
  if (!v || depth > 64) return;  // state dicts are shallow; this only guards against cycles
  auto join = [&](const std::string& key) { return prefix.empty() ? key : prefix + "." + key; };
  switch (v->kind) {
    case PickleKind::kTensor:
      out.emplace_back(prefix.empty() ? "tensor" : prefix, v->tensor);
      return;
    case PickleKind::kDict:
      for (const auto& [key, value] : v->entries) {
        if (key->kind == PickleKind::kString) {
          collect(value, join(key->text), depth + 1, out);
        } else if (key->kind == PickleKind::kInt) {
          collect(value, join(std::to_string(key->integer)), depth + 1, out);
        }
      }
      return;
    case PickleKind::kObject:
      collect(v->state, prefix, depth + 1, out);
      return;
    case PickleKind::kList:
    case PickleKind::kTuple:
      for (size_t i = 0; i < v->items.size(); ++i) collect(v->items[i], join(std::to_string(i)), depth + 1, out);
      return;
    default:
      return;
  }
}

}  // namespace

PickleResult unpickle(std::string_view data, size_t begin, const std::string& source) {
  return Machine(data, begin, source).run();
}

std::vector<std::pair<std::string, TensorRef>> collect_tensors(const PickleRef& root) {
  std::vector<std::pair<std::string, TensorRef>> out;
  collect(root, "", 0, out);
  return out;
}

}  // namespace tomograd::models::detail
