#include "tomograd/train/tensorboard.hpp"

#include <unistd.h>
#include <zlib.h>

#include <array>
#include <chrono>
#include <cmath>
#include <fstream>

#include "tensorboard_event.pb.h"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"

namespace fs = std::filesystem;

namespace tomograd::train {

namespace {

std::array<uint32_t, 256> crc32c_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

void put_be32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// A PNG chunk: length, type, data, CRC-32 (zlib's) of type and data (PNG spec, section 5.3).
void png_chunk(std::string& out, const char* type, const std::string& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  out += body;
  put_be32(out, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

uint32_t crc32c(const void* data, std::size_t size) {
  static const std::array<uint32_t, 256> table = crc32c_table();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, std::size_t size) {
  const uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string encode_png(const Image8& image) {
  if (image.height <= 0 || image.width <= 0) throw ValueError("PNG encoding: empty image");
  if (image.channels != 1 && image.channels != 3 && image.channels != 4) {
    throw ValueError("PNG encoding: " + std::to_string(image.channels) + " channels (expected 1, 3 or 4)");
  }
  const std::size_t row = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.channels);
  if (image.pixels.size() != row * static_cast<std::size_t>(image.height)) {
    throw ValueError("PNG encoding: " + std::to_string(image.pixels.size()) + " pixel bytes for a " +
                     std::to_string(image.height) + "x" + std::to_string(image.width) + "x" +
                     std::to_string(image.channels) + " image");
  }
  // Each scanline starts with its filter type byte (0: none).
  std::string raw;
  raw.reserve((row + 1) * static_cast<std::size_t>(image.height));
  for (int y = 0; y < image.height; ++y) {
    raw += '\0';
    raw.append(reinterpret_cast<const char*>(image.pixels.data()) + row * static_cast<std::size_t>(y), row);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), 6) != Z_OK) {
    throw ValueError("PNG encoding: zlib failed");
  }
  packed.resize(packed_size);
  std::string ihdr;
  put_be32(ihdr, static_cast<uint32_t>(image.width));
  put_be32(ihdr, static_cast<uint32_t>(image.height));
  const char color_type = image.channels == 1 ? 0 : image.channels == 3 ? 2 : 6;
  ihdr += std::string({'\x08', color_type, '\0', '\0', '\0'});  // bit depth, colour type, compression, filter, interlace
  std::string png = "\x89PNG\r\n\x1a\n";
  png_chunk(png, "IHDR", ihdr);
  png_chunk(png, "IDAT", packed);
  png_chunk(png, "IEND", "");
  return png;
}

Image8 to_image8(const torch::Tensor& input) {
  torch::Tensor t = input.detach().to(torch::kCPU);
  if (t.dim() == 2) t = t.unsqueeze(0);
  if (t.dim() != 3 || (t.size(0) != 1 && t.size(0) != 3)) {
    throw ValueError("image for TensorBoard: shape " + std::string(c10::str(t.sizes())) + " (expected [H,W], [1,H,W] or [3,H,W])");
  }
  if (t.scalar_type() != torch::kUInt8) {
    t = t.to(torch::kFloat64);
    t = torch::where(torch::isfinite(t), t, torch::zeros_like(t));
    const double lo = t.min().item<double>(), hi = t.max().item<double>();
    t = hi > lo ? (t - lo) * (255.0 / (hi - lo)) : torch::full_like(t, 128.0);
    t = t.round().clamp(0, 255).to(torch::kUInt8);
  }
  t = t.permute({1, 2, 0}).contiguous();
  Image8 out;
  out.channels = static_cast<int>(t.size(2));
  out.height = static_cast<int>(t.size(0));
  out.width = static_cast<int>(t.size(1));
  out.pixels.assign(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel());
  return out;
}

struct TensorBoardWriter::Impl {
  fs::path path;
  std::ofstream out;

  void write(const tensorboard::Event& event) {
    std::string data;
    if (!event.SerializeToString(&data)) throw IoError(path.string() + ": could not serialize an event");
    std::string header;
    put_le(header, data.size(), 8);
    std::string record = header;
    put_le(record, masked_crc32c(header.data(), header.size()), 4);
    record += data;
    put_le(record, masked_crc32c(data.data(), data.size()), 4);
    out.write(record.data(), static_cast<std::streamsize>(record.size()));
    if (!out) throw IoError(path.string() + ": writing an event record failed");
  }
};

TensorBoardWriter::TensorBoardWriter(const fs::path& dir) : impl_(std::make_unique<Impl>()) {
  ensure_directory(dir);
  const double t = now_seconds();
  const std::string stem = "events.out.tfevents." + std::to_string(static_cast<int64_t>(t)) + "." + host_name();
  impl_->path = dir / stem;
  for (int n = 1; fs::exists(impl_->path); ++n) impl_->path = dir / (stem + "." + std::to_string(n));
  impl_->out.open(impl_->path, std::ios::binary);
  if (!impl_->out) throw IoError(impl_->path.string() + ": cannot create the TensorBoard event file");
  tensorboard::Event e;
  e.set_wall_time(t);
  e.set_file_version("brain.Event:2");
  impl_->write(e);
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  try {
    flush();
  } catch (const std::exception&) {
    // A destructor must not throw; flush() reports write errors to callers that call it.
  }
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step) {
  tensorboard::Event e;
  e.set_wall_time(now_seconds());
  e.set_step(step);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  impl_->write(e);
}

void TensorBoardWriter::image(const std::string& tag, const Image8& image, int64_t step) {
  tensorboard::Event e;
  e.set_wall_time(now_seconds());
  e.set_step(step);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* img = v->mutable_image();
  img->set_height(image.height);
  img->set_width(image.width);
  img->set_colorspace(image.channels);
  img->set_encoded_image_string(encode_png(image));
  impl_->write(e);
}

void TensorBoardWriter::flush() {
  impl_->out.flush();
  if (!impl_->out) throw IoError(impl_->path.string() + ": writing the TensorBoard event file failed");
}

const fs::path& TensorBoardWriter::path() const { return impl_->path; }

}  // namespace tomograd::train
