// JPEG 2000 decoding through OpenJPEG: DCMTK's free build has no JPEG 2000 codec
// (PS3.5 A.4.4 transfer syntaxes 1.2.840.10008.1.2.4.90 / .91).
#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "dicom_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"

namespace tomograd::io::detail {

namespace {

struct MemoryStream {
  const uint8_t* data;
  OPJ_SIZE_T size;
  OPJ_SIZE_T pos;
};

OPJ_SIZE_T stream_read(void* buffer, OPJ_SIZE_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->pos >= s->size) return static_cast<OPJ_SIZE_T>(-1);
  OPJ_SIZE_T k = std::min(n, s->size - s->pos);
  std::memcpy(buffer, s->data + s->pos, k);
  s->pos += k;
  return k;
}

OPJ_OFF_T stream_skip(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (n < 0) {
    OPJ_OFF_T back = std::min<OPJ_OFF_T>(-n, static_cast<OPJ_OFF_T>(s->pos));
    s->pos -= static_cast<OPJ_SIZE_T>(back);
    return -back;
  }
  OPJ_OFF_T k = std::min<OPJ_OFF_T>(n, static_cast<OPJ_OFF_T>(s->size - s->pos));
  s->pos += static_cast<OPJ_SIZE_T>(k);
  return k;
}

OPJ_BOOL stream_seek(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (n < 0 || static_cast<OPJ_SIZE_T>(n) > s->size) return OPJ_FALSE;
  s->pos = static_cast<OPJ_SIZE_T>(n);
  return OPJ_TRUE;
}

void on_message(const char* msg, void* context) {
  auto* last = static_cast<std::string*>(context);
  *last = msg ? msg : "";
  while (!last->empty() && (last->back() == '\n')) last->pop_back();
}

}  // namespace

J2kFrame decode_jpeg2000(const uint8_t* data, std::size_t size, const std::string& context, int width, int height) {
  if (size < 12) throw DicomError(context + ": JPEG 2000 frame too short (" + std::to_string(size) + " bytes)");
  // A JP2 file starts with its signature box; a raw codestream with SOC+SIZ (FF 4F FF 51).
  static const uint8_t kJp2Magic[] = {0, 0, 0, 0x0C, 'j', 'P', ' ', ' '};
  const bool jp2 = std::memcmp(data, kJp2Magic, sizeof kJp2Magic) == 0;
  std::unique_ptr<opj_codec_t, decltype(&opj_destroy_codec)> codec(
      opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K), &opj_destroy_codec);
  std::string last_error;
  opj_set_error_handler(codec.get(), on_message, &last_error);
  opj_set_warning_handler(codec.get(), [](const char*, void*) {}, nullptr);
  opj_set_info_handler(codec.get(), [](const char*, void*) {}, nullptr);
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!opj_setup_decoder(codec.get(), &params)) throw DicomError(context + ": OpenJPEG set-up failed");

  MemoryStream mem{data, size, 0};
  std::unique_ptr<opj_stream_t, decltype(&opj_stream_destroy)> stream(
      opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE), &opj_stream_destroy);
  opj_stream_set_user_data(stream.get(), &mem, nullptr);
  opj_stream_set_user_data_length(stream.get(), size);
  opj_stream_set_read_function(stream.get(), stream_read);
  opj_stream_set_skip_function(stream.get(), stream_skip);
  opj_stream_set_seek_function(stream.get(), stream_seek);

  opj_image_t* raw = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw)) {
    throw DicomError(context + ": invalid JPEG 2000 header" + (last_error.empty() ? "" : " (" + last_error + ")"));
  }
  std::unique_ptr<opj_image_t, decltype(&opj_image_destroy)> image(raw, &opj_image_destroy);
  // The codestream's size is checked against the DICOM header before OpenJPEG allocates the
  // decoded image, whatever the codestream claims.
  const int64_t w = static_cast<int64_t>(raw->x1) - raw->x0, h = static_cast<int64_t>(raw->y1) - raw->y0;
  if (w != width || h != height || raw->numcomps != 1) {
    throw DicomError(context + ": JPEG 2000 frame is " + std::to_string(w) + "x" + std::to_string(h) + " with " +
                     std::to_string(raw->numcomps) + " component(s), header says " + std::to_string(width) + "x" +
                     std::to_string(height) + " greyscale");
  }
  if (!opj_decode(codec.get(), stream.get(), image.get()) ||
      !opj_end_decompress(codec.get(), stream.get())) {
    throw DicomError(context + ": JPEG 2000 decoding failed" + (last_error.empty() ? "" : " (" + last_error + ")"));
  }
  if (image->numcomps != 1) {
    throw DicomError(context + ": JPEG 2000 image has " + std::to_string(image->numcomps) +
                     " components; tomograd reads greyscale images only");
  }
  const opj_image_comp_t& c = image->comps[0];
  if (c.data == nullptr) throw DicomError(context + ": JPEG 2000 decoder returned no data");
  J2kFrame f;
  f.width = static_cast<int>(c.w);
  f.height = static_cast<int>(c.h);
  f.precision = static_cast<int>(c.prec);
  f.is_signed = c.sgnd != 0;
  f.values.assign(c.data, c.data + static_cast<std::size_t>(c.w) * c.h);
  return f;
}

}  // namespace tomograd::io::detail
