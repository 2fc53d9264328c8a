// Weight file formats. PyTorch's zip container is read with LibTorch's own
// caffe2::serialize::PyTorchStreamReader (miniz), after our own check of its directory against
// the file (zip_directory.hpp: miniz allocates an entry's declared size before reading it); its
// data.pkl with our pickle reader, because
// LibTorch's torch::pickle_load does not rebuild a Python collections.OrderedDict (it becomes
// None) and cannot read the legacy format.
#include "tomograd/models/weights_file.hpp"

#include <caffe2/serialize/inline_container.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <unordered_map>

#include "pickle_reader.hpp"
#include "safetensors_header.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/zip_directory.hpp"

namespace tomograd::models {

namespace fs = std::filesystem;
using detail::StorageRef;
using detail::TensorRef;

namespace {

struct DtypeInfo {
  torch::Dtype dtype;
  const char* storage;      // torch.<storage> in pickles
  const char* safetensors;  // safetensors "dtype" ("" when it has none)
};

const std::vector<DtypeInfo>& dtypes() {
  static const std::vector<DtypeInfo> table = {
      {torch::kFloat32, "FloatStorage", "F32"},       {torch::kFloat64, "DoubleStorage", "F64"},
      {torch::kFloat16, "HalfStorage", "F16"},        {torch::kBFloat16, "BFloat16Storage", "BF16"},
      {torch::kInt64, "LongStorage", "I64"},          {torch::kInt32, "IntStorage", "I32"},
      {torch::kInt16, "ShortStorage", "I16"},         {torch::kInt8, "CharStorage", "I8"},
      {torch::kUInt8, "ByteStorage", "U8"},           {torch::kBool, "BoolStorage", "BOOL"},
      {torch::kComplexFloat, "ComplexFloatStorage", ""}, {torch::kComplexDouble, "ComplexDoubleStorage", ""},
      {torch::kUInt8, "UntypedStorage", ""}};
  return table;
}

const DtypeInfo* find_storage_type(const std::string& name) {
  for (const auto& d : dtypes()) {
    if (name == d.storage) return &d;
  }
  return nullptr;
}

const DtypeInfo& dtype_info(torch::Dtype dtype) {
  for (const auto& d : dtypes()) {
    if (d.dtype == dtype) return d;
  }
  throw ValueError(std::string("weights: unsupported tensor dtype ") + c10::toString(dtype));
}

// Little-endian only (x86-64, aarch64): both formats store little-endian data.
static_assert(sizeof(void*) == 8, "64-bit platforms only");

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

torch::Dtype storage_dtype(const StorageRef& s, const std::string& source) {
  const DtypeInfo* d = find_storage_type(s.type);
  if (!d) throw IoError(source + ": unsupported storage type torch." + s.type);
  return d->dtype;
}

// Rebuilds every tensor as a strided view of its storage, after checking the view lies inside.
StateDict materialize(const std::vector<std::pair<std::string, TensorRef>>& refs,
                      const std::function<torch::Tensor(const StorageRef&)>& storage_of, const std::string& source) {
  StateDict out;
  for (const auto& [name, ref] : refs) {
    torch::Tensor storage = storage_of(ref.storage);
    const int64_t numel = detail::checked_view_numel(ref, storage.numel(), name, source);
    torch::Tensor t = numel == 0 ? torch::empty(ref.sizes, storage.options())
                                 : storage.as_strided(ref.sizes, ref.strides, ref.offset);
    if (out.contains(name)) throw IoError(source + ": tensor name '" + name + "' appears twice");
    out.insert(name, t);
  }
  return out;
}

// Bytes of @p numel elements of @p dtype; throws when that overflows.
uint64_t storage_bytes(int64_t numel, torch::Dtype dtype, const std::string& what) {
  uint64_t bytes = 0;
  if (numel < 0 || __builtin_mul_overflow(static_cast<uint64_t>(numel), c10::elementSize(dtype), &bytes)) {
    throw IoError(what + ": " + std::to_string(numel) + " elements overflow 64 bits of bytes");
  }
  return bytes;
}

// ---- PyTorch zip ------------------------------------------------------------------------------

std::string record_text(caffe2::serialize::PyTorchStreamReader& reader, const std::string& name) {
  auto [data, size] = reader.getRecord(name);
  return std::string(static_cast<const char*>(data.get()), size);
}

StateDict read_torch_zip(const fs::path& path) {
  const std::string source = path.string();
  zip::check_zip_file(path);
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(source);
  } catch (const c10::Error& e) {
    throw IoError(source + ": not a readable PyTorch zip archive (truncated or corrupt?): " +
                  first_line(e.what_without_backtrace()));
  } catch (const std::logic_error& e) {  // std::stoull of a "version" record that is no number
    throw IoError(source + ": not a readable PyTorch zip archive: bad version record (" + std::string(e.what()) + ")");
  }
  try {
    if (!reader->hasRecord("data.pkl")) {
      throw IoError(source + ": zip archive without data.pkl: not a torch.save file");
    }
    if (reader->hasRecord("byteorder") && record_text(*reader, "byteorder") != "little") {
      throw IoError(source + ": big-endian tensor data is not supported");
    }
    const std::string pickle = record_text(*reader, "data.pkl");
    auto result = detail::unpickle(pickle, 0, source + " (data.pkl)");
    std::unordered_map<std::string, torch::Tensor> storages;
    auto storage_of = [&](const StorageRef& s) -> torch::Tensor {
      auto it = storages.find(s.key);
      if (it != storages.end()) return it->second;
      const torch::Dtype dtype = storage_dtype(s, source);
      const std::string record = "data/" + s.key;
      if (!reader->hasRecord(record)) throw IoError(source + ": storage record '" + record + "' is missing");
      const uint64_t bytes = storage_bytes(s.numel, dtype, source + ": storage '" + record + "'");
      auto [data, size] = reader->getRecord(record);
      if (size < bytes) {
        throw IoError(source + ": storage '" + record + "' has " + std::to_string(size) + " bytes, expected " +
                      std::to_string(bytes));
      }
      torch::Tensor t = torch::empty({s.numel}, torch::TensorOptions().dtype(dtype));
      if (bytes > 0) std::memcpy(t.data_ptr(), data.get(), bytes);
      storages.emplace(s.key, t);
      return t;
    };
    return materialize(detail::collect_tensors(result.value, source), storage_of, source);
  } catch (const c10::Error& e) {
    throw IoError(source + ": cannot read the zip archive (truncated or corrupt?): " +
                  first_line(e.what_without_backtrace()));
  }
}

// ---- PyTorch legacy ---------------------------------------------------------------------------

// torch.save before 1.6: pickles of (magic number, protocol version 1001, sys_info), then the
// object with 6-field storage ids, then the list of storage keys, then for each key an int64
// element count followed by the raw little-endian data (torch/serialization.py, _legacy_save).
const char kLegacyMagic[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";  // 0x1950a86a20f9469cfc6c

StateDict read_torch_legacy(const fs::path& path) {
  const std::string source = path.string();
  const std::string data = read_file(path);
  auto magic = detail::unpickle(data, 0, source);
  if (magic.value->kind != detail::PickleKind::kBigInt || magic.value->text != std::string(kLegacyMagic, 10)) {
    throw IoError(source + ": not a legacy torch.save file (wrong magic number)");
  }
  auto protocol = detail::unpickle(data, magic.end, source);
  if (protocol.value->kind != detail::PickleKind::kInt || protocol.value->integer != 1001) {
    throw IoError(source + ": unsupported legacy protocol version");
  }
  auto sys_info = detail::unpickle(data, protocol.end, source);
  for (const auto& [k, v] : sys_info.value->entries) {
    if (k->text == "little_endian" && v->kind == detail::PickleKind::kBool && !v->boolean) {
      throw IoError(source + ": big-endian tensor data is not supported");
    }
  }
  auto main = detail::unpickle(data, sys_info.end, source);
  auto keys = detail::unpickle(data, main.end, source);
  if (keys.value->kind != detail::PickleKind::kList) throw IoError(source + ": legacy storage key list missing");
  auto refs = detail::collect_tensors(main.value, source);
  std::unordered_map<std::string, torch::Dtype> key_dtype;
  for (const auto& [name, ref] : refs) key_dtype[ref.storage.key] = storage_dtype(ref.storage, source);

  std::unordered_map<std::string, torch::Tensor> storages;
  size_t pos = keys.end;
  for (const auto& k : keys.value->items) {
    if (k->kind != detail::PickleKind::kString) throw IoError(source + ": legacy storage key is not a string");
    auto it = key_dtype.find(k->text);
    if (it == key_dtype.end()) throw IoError(source + ": storage '" + k->text + "' is used by no tensor");
    if (data.size() - pos < 8) throw IoError(source + ": file ends inside the storage data (truncated?)");
    int64_t numel = 0;
    std::memcpy(&numel, data.data() + pos, 8);
    pos += 8;
    const int64_t elem = static_cast<int64_t>(c10::elementSize(it->second));
    if (numel < 0 || static_cast<uint64_t>(numel) > (data.size() - pos) / static_cast<uint64_t>(elem)) {
      throw IoError(source + ": file ends inside storage '" + k->text + "' (truncated?)");
    }
    torch::Tensor t = torch::empty({numel}, torch::TensorOptions().dtype(it->second));
    if (numel > 0) std::memcpy(t.data_ptr(), data.data() + pos, static_cast<size_t>(numel * elem));
    pos += static_cast<size_t>(numel * elem);
    storages.emplace(k->text, t);
  }
  auto storage_of = [&](const StorageRef& s) -> torch::Tensor {
    auto it = storages.find(s.key);
    if (it == storages.end()) throw IoError(source + ": storage '" + s.key + "' has no data");
    return it->second;
  };
  return materialize(refs, storage_of, source);
}

// ---- safetensors ------------------------------------------------------------------------------

WeightsFile read_safetensors(const fs::path& path) {
  const std::string source = path.string();
  const std::string data = read_file(path);
  const detail::SafetensorsHeader header = detail::parse_safetensors_header(data, source);
  WeightsFile out;
  out.format = WeightsFormat::kSafetensors;
  out.metadata = header.metadata;
  for (const auto& e : header.entries) {
    const DtypeInfo* d = nullptr;
    for (const auto& candidate : dtypes()) {
      if (*candidate.safetensors && e.dtype == candidate.safetensors) d = &candidate;
    }
    if (!d) throw IoError(source + ": tensor '" + e.name + "': unsupported dtype '" + e.dtype + "'");
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(d->dtype));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data.data() + header.data_offset + e.begin, e.end - e.begin);
    out.tensors.insert(e.name, t);
  }
  return out;
}

// ---- writing ----------------------------------------------------------------------------------

torch::Tensor cpu_contiguous(const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous(); }

// The pickle torch.save(state_dict) writes (protocol 2), without the optional _metadata.
class PickleWriter {
 public:
  PickleWriter() { out_ += "\x80\x02"; }
  void op(char c) { out_ += c; }
  void global(const std::string& module, const std::string& name) { out_ += 'c' + module + '\n' + name + '\n'; }
  void text(const std::string& s) {
    out_ += 'X';
    le(s.size(), 4);
    out_ += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out_ += 'K';
      le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      out_ += 'M';
      le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out_ += 'J';
      le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    } else {
      out_ += '\x8a';
      out_ += '\x08';
      le(static_cast<uint64_t>(v), 8);
    }
  }
  void int_tuple(c10::IntArrayRef values) {
    op('(');
    for (int64_t v : values) integer(v);
    op('t');
  }
  const std::string& bytes() const { return out_; }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string out_;
};

}  // namespace

std::string to_string(WeightsFormat format) {
  switch (format) {
    case WeightsFormat::kTorchZip: return "pytorch-zip";
    case WeightsFormat::kTorchLegacy: return "pytorch-legacy";
    case WeightsFormat::kSafetensors: return "safetensors";
  }
  return "unknown";
}

WeightsFormat detect_weights_format(const fs::path& path) {
  const std::string source = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IoError(source + ": file does not exist");
  if (fs::is_directory(path, ec)) throw IoError(source + ": is a folder, expected a weights file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(source + ": cannot open for reading");
  char head[16] = {};
  in.read(head, sizeof head);
  const auto n = static_cast<size_t>(in.gcount());
  if (n == 0) throw IoError(source + ": empty file, expected a weights file");
  if (n >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return WeightsFormat::kTorchZip;
  if (n >= 14 && std::memcmp(head, "\x80\x02\x8a\x0a", 4) == 0 && std::memcmp(head + 4, kLegacyMagic, 10) == 0) {
    return WeightsFormat::kTorchLegacy;
  }
  // safetensors caps its JSON header at 100 MB; a larger length is not a safetensors file, a
  // length beyond the end of the file is a truncated one (reported by the reader).
  if (n >= 9 && head[8] == '{' && detail::read_u64_le(head) < (uint64_t{100} << 20)) return WeightsFormat::kSafetensors;
  std::string start;
  for (size_t i = 0; i < n && i < 12; ++i) {
    const unsigned char c = static_cast<unsigned char>(head[i]);
    if (c >= 32 && c < 127) {
      start += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      start += hex;
    }
  }
  throw IoError(source + ": not a weights file: expected a PyTorch .pth/.pt (zip or legacy) or a .safetensors file, "
                         "but it starts with \"" + start + "\"");
}

WeightsFile read_weights_file(const fs::path& path) {
  WeightsFile out;
  out.format = detect_weights_format(path);
  switch (out.format) {
    case WeightsFormat::kTorchZip: out.tensors = read_torch_zip(path); break;
    case WeightsFormat::kTorchLegacy: out.tensors = read_torch_legacy(path); break;
    case WeightsFormat::kSafetensors: return read_safetensors(path);
  }
  return out;
}

StateDict read_weights(const fs::path& path) { return read_weights_file(path).tensors; }

void write_safetensors(const fs::path& path, const StateDict& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& item : tensors) {
    torch::Tensor t = cpu_contiguous(item.value());
    const DtypeInfo& d = dtype_info(t.scalar_type());
    if (!*d.safetensors) throw ValueError(path.string() + ": safetensors has no dtype for " + item.key());
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[item.key()] = {{"dtype", d.safetensors}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(t);
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  AtomicFile file(path, Overwrite::kAllow);
  {
    std::ofstream out(file.temp_path(), std::ios::binary);
    char size[8];
    for (int i = 0; i < 8; ++i) size[i] = static_cast<char>((static_cast<uint64_t>(json.size()) >> (8 * i)) & 0xff);
    out.write(size, 8);
    out.write(json.data(), static_cast<std::streamsize>(json.size()));
    for (const auto& t : data) {
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    }
    if (!out) throw IoError(path.string() + ": write failed");
  }
  file.commit();
}

void write_torch_state_dict(const fs::path& path, const StateDict& tensors) {
  PickleWriter p;
  p.global("collections", "OrderedDict");
  p.op(')');
  p.op('R');
  p.op('(');
  std::vector<torch::Tensor> data;
  for (const auto& item : tensors) {
    torch::Tensor t = cpu_contiguous(item.value());
    const DtypeInfo& d = dtype_info(t.scalar_type());
    p.text(item.key());
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op('(');
    p.op('(');  // persistent id
    p.text("storage");
    p.global("torch", d.storage);
    p.text(std::to_string(data.size()));
    p.text("cpu");
    p.integer(t.numel());
    p.op('t');
    p.op('Q');
    p.integer(0);  // storage offset
    p.int_tuple(t.sizes());
    p.int_tuple(t.strides());
    p.op('\x89');  // requires_grad = False
    p.global("collections", "OrderedDict");  // backward hooks
    p.op(')');
    p.op('R');
    p.op('t');
    p.op('R');
    data.push_back(t);
  }
  p.op('u');
  p.op('.');

  AtomicFile file(path, Overwrite::kAllow);
  {
    std::ofstream out(file.temp_path(), std::ios::binary);
    if (!out) throw IoError(path.string() + ": cannot open for writing");
    try {
      caffe2::serialize::PyTorchStreamWriter writer([&out](const void* buf, size_t n) -> size_t {
        out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
        return out ? n : 0;
      });
      writer.writeRecord("data.pkl", p.bytes().data(), p.bytes().size());
      writer.writeRecord("byteorder", "little", 6);
      for (size_t i = 0; i < data.size(); ++i) {
        writer.writeRecord("data/" + std::to_string(i), data[i].data_ptr(),
                           static_cast<size_t>(data[i].numel() * data[i].element_size()));
      }
      writer.writeEndOfFile();
    } catch (const c10::Error& e) {
      throw IoError(path.string() + ": write failed: " + first_line(e.what_without_backtrace()));
    }
    if (!out) throw IoError(path.string() + ": write failed");
  }
  file.commit();
}

void save_weights(const fs::path& path, const StateDict& tensors) {
  if (path.extension() == ".safetensors") {
    write_safetensors(path, tensors);
  } else {
    write_torch_state_dict(path, tensors);
  }
}

std::string dtype_name(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32: return "float32";
    case torch::kFloat64: return "float64";
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kInt64: return "int64";
    case torch::kInt32: return "int32";
    case torch::kInt16: return "int16";
    case torch::kInt8: return "int8";
    case torch::kUInt8: return "uint8";
    case torch::kBool: return "bool";
    case torch::kComplexFloat: return "complex64";
    case torch::kComplexDouble: return "complex128";
    default: return c10::toString(dtype);
  }
}

StateDict module_state_dict(const torch::nn::Module& module) {
  // PyTorch's order: a module's own parameters, then its own buffers, then each child's.
  StateDict out;
  auto add_own = [&out](const std::string& prefix, const torch::nn::Module& m) {
    for (const auto& p : m.named_parameters(/*recurse=*/false)) out.insert(prefix + p.key(), p.value());
    for (const auto& b : m.named_buffers(/*recurse=*/false)) out.insert(prefix + b.key(), b.value());
  };
  add_own("", module);
  for (const auto& child : module.named_modules("", /*include_self=*/false)) add_own(child.key() + ".", *child.value());
  return out;
}

}  // namespace tomograd::models
