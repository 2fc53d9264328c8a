// A pickle virtual machine for what torch.save and LibTorch's TorchScript pickler write.
// Reference: CPython's Lib/pickletools.py (opcode semantics) and PyTorch's
// torch/serialization.py (persistent ids, _rebuild_tensor_v2). Nothing from the file is ever
// executed: known globals are interpreted (pickle_torch.cpp), any other global is refused, which
// also makes reading untrusted weight files safe (unlike Python's pickle.load). Every length is
// checked against the bytes left before it is used, and every value lives in an arena that
// breaks reference cycles.
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "pickle_reader.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::models::detail {

PickleArena::~PickleArena() {
  // Empty every container first: cycles and deep chains then release without recursion.
  for (auto& v : values_) {
    v->items.clear();
    v->entries.clear();
    v->state.reset();
  }
}

PickleRef PickleArena::make(PickleKind kind) {
  // A few hundred bytes per value: a pickle that makes millions of them is not a state dict.
  if (values_.size() >= kMaxValues) {
    throw IoError(source_ + ": the pickle makes more than " + std::to_string(kMaxValues) +
                  " values; a state dict needs a few per tensor (a pickle bomb?)");
  }
  auto v = std::make_shared<PickleValue>();
  v->kind = kind;
  values_.push_back(v);
  return v;
}

namespace {

class Machine {
 public:
  Machine(std::string_view data, size_t begin, const std::string& source)
      : data_(data), pos_(begin), source_(source), arena_(std::make_shared<PickleArena>(source)),
        budget_(16 * static_cast<int64_t>(data.size()) + 4096) {}

  PickleResult run() {
    for (;;) {
      const size_t at = pos_;
      const uint8_t op = u8();
      if (op == '.') {  // STOP
        if (stack_.size() != 1) fail(at, "STOP with " + std::to_string(stack_.size()) + " values on the stack");
        return {stack_.back(), pos_, arena_};
      }
      if (!stack_op(op, at) && !scalar_op(op, at) && !container_op(op, at) && !object_op(op, at)) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        throw IoError(source_ + ": unsupported pickle opcode " + hex + " (" + opcode_name(op) + ") at byte " +
                      std::to_string(at) + "; tomograd reads the pickle subset that torch.save(state_dict) writes");
      }
    }
  }

 private:
  // Framing, marks, the stack and the memo.
  bool stack_op(uint8_t op, size_t at) {
    switch (op) {
      case 0x80: u8(); return true;      // PROTO: the protocol number does not change parsing
      case 0x95: bytes(8); return true;  // FRAME: a length hint (protocol 4)
      case '(': marks_.push_back(stack_.size()); return true;
      case '0': pop(at); return true;
      case '1': pop_mark(at); return true;
      case '2': push(top(at)); return true;
      case 'q': memo_[le(1)] = top(at); return true;
      case 'r': memo_[le(4)] = top(at); return true;
      case 0x94: memo_[memo_.size()] = top(at); return true;
      case 'h': push(memo(le(1), at)); return true;
      case 'j': push(memo(le(4), at)); return true;
      default: return false;
    }
  }

  // None, booleans, numbers, strings and bytes.
  bool scalar_op(uint8_t op, size_t at) {
    switch (op) {
      case 'N': push(arena_->make(PickleKind::kNone)); return true;
      case 0x88: case 0x89: {
        auto v = arena_->make(PickleKind::kBool);
        v->boolean = op == 0x88;
        push(v);
        return true;
      }
      case 'J': push(make_int(static_cast<int32_t>(le(4)))); return true;
      case 'K': push(make_int(static_cast<int64_t>(le(1)))); return true;
      case 'M': push(make_int(static_cast<int64_t>(le(2)))); return true;
      case 0x8a: push(long_value(le(1))); return true;
      case 0x8b: push(long_value(le(4))); return true;
      case 'G': {
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | u8();  // big-endian IEEE 754
        auto v = arena_->make(PickleKind::kFloat);
        std::memcpy(&v->real, &bits, sizeof bits);
        push(v);
        return true;
      }
      case 'X': push(make_text(PickleKind::kString, bytes(le(4)))); return true;
      case 0x8c: push(make_text(PickleKind::kString, bytes(le(1)))); return true;
      case 0x8d: push(make_text(PickleKind::kString, bytes(le(8)))); return true;
      case 'T': case 'B': push(make_text(PickleKind::kBytes, bytes(le(4)))); return true;
      case 'U': case 'C': push(make_text(PickleKind::kBytes, bytes(le(1)))); return true;
      case 0x8e: push(make_text(PickleKind::kBytes, bytes(le(8)))); return true;
      default: (void)at; return false;
    }
  }

  // Tuples, lists and dicts.
  bool container_op(uint8_t op, size_t at) {
    switch (op) {
      case ')': push(arena_->make(PickleKind::kTuple)); return true;
      case ']': push(arena_->make(PickleKind::kList)); return true;
      case '}': push(arena_->make(PickleKind::kDict)); return true;
      case 't': case 'l': {
        auto v = arena_->make(op == 't' ? PickleKind::kTuple : PickleKind::kList);
        v->items = pop_mark(at);
        push(v);
        return true;
      }
      case 0x85: case 0x86: case 0x87: {
        const size_t n = op - 0x84u;
        if (stack_.size() < n || (!marks_.empty() && stack_.size() - n < marks_.back())) {
          fail(at, "tuple of " + std::to_string(n) + " with too few values");
        }
        auto v = arena_->make(PickleKind::kTuple);
        v->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        push(v);
        return true;
      }
      case 'a': {
        PickleRef item = pop(at);
        list_at(top(at), at)->items.push_back(item);
        return true;
      }
      case 'e': {
        auto items = pop_mark(at);
        auto& list = list_at(top(at), at)->items;
        list.insert(list.end(), items.begin(), items.end());
        return true;
      }
      case 'd': {
        auto v = arena_->make(PickleKind::kDict);
        add_pairs(v, pop_mark(at), at);
        push(v);
        return true;
      }
      case 's': {
        PickleRef value = pop(at);
        PickleRef key = pop(at);
        dict_at(top(at), at)->entries.emplace_back(key, value);
        return true;
      }
      case 'u': {
        auto items = pop_mark(at);
        add_pairs(dict_at(top(at), at), items, at);
        return true;
      }
      default: return false;
    }
  }

  // Globals and what may be done with them (pickle_torch.cpp decides which are allowed).
  bool object_op(uint8_t op, size_t at) {
    const PickleSite site{source_, at};
    switch (op) {
      case 'c': {
        std::string module = line(at);
        std::string name = line(at);
        push(make_text(PickleKind::kGlobal, module + "." + name));
        return true;
      }
      case 0x93: {
        PickleRef name = pop(at);
        PickleRef module = pop(at);
        if (module->kind != PickleKind::kString || name->kind != PickleKind::kString) {
          fail(at, "STACK_GLOBAL expects two strings");
        }
        push(make_text(PickleKind::kGlobal, module->text + "." + name->text));
        return true;
      }
      case 'Q': push(persistent_load(*arena_, pop(at), site)); return true;
      case 'R': {
        PickleRef args = pop(at);
        PickleRef callable = pop(at);
        push(reduce_global(*arena_, callable, args, site, budget_));
        return true;
      }
      case 0x81: {
        PickleRef args = pop(at);
        PickleRef cls = pop(at);
        push(new_object(*arena_, cls, site));
        return true;
      }
      case 'b': {
        PickleRef state = pop(at);
        build_object(top(at), state, site);
        return true;
      }
      default: return false;
    }
  }

  [[noreturn]] void fail(size_t at, const std::string& what) const { PickleSite{source_, at}.fail(what); }

  void need(uint64_t n) const {
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

  PickleRef make_int(int64_t i) {
    auto v = arena_->make(PickleKind::kInt);
    v->integer = i;
    return v;
  }

  PickleRef make_text(PickleKind kind, std::string text) {
    auto v = arena_->make(kind);
    v->text = std::move(text);
    return v;
  }

  PickleRef long_value(uint64_t n) {
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

  std::string_view data_;
  size_t pos_;
  const std::string& source_;
  std::shared_ptr<PickleArena> arena_;
  int64_t budget_;  // references reduce_global() may still copy
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleRef> memo_;
};

}  // namespace

PickleResult unpickle(std::string_view data, size_t begin, const std::string& source) {
  return Machine(data, begin, source).run();
}

}  // namespace tomograd::models::detail
