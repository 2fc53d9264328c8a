#pragma once
// Private helpers shared by the DICOM reader and writer (DCMTK may appear here, never in
// include/).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tomograd::io::detail {

/// Registers DCMTK's decoders/encoders (RLE, JPEG, JPEG-LS) once and quiets DCMTK's own logger
/// (we report errors ourselves, with the file name).
void ensure_dcmtk_ready();

/// True for the JPEG 2000 transfer syntaxes that DCMTK's free build cannot decode.
bool is_jpeg2000(const std::string& transfer_syntax_uid);

/// A decoded JPEG 2000 frame: one component, values as signed integers.
struct J2kFrame {
  int width = 0, height = 0, precision = 0;
  bool is_signed = false;
  std::vector<int32_t> values;  ///< row-major, width*height
};

/// Decodes one JPEG 2000 codestream (or JP2 file) from memory with OpenJPEG. Throws DicomError
/// mentioning @p context on failure, and before decoding when the codestream is not one
/// component of @p width x @p height samples.
J2kFrame decode_jpeg2000(const uint8_t* data, std::size_t size, const std::string& context, int width, int height);

/// Reads a string tag (first value), trimmed; empty when absent.
std::string get_string(DcmItem& item, const DcmTagKey& tag);
/// A new UID under DCMTK's site root (studies, series, instances the writers create).
std::string new_uid();
/// Sets @p tag to @p value in @p item; DicomError naming the tag and @p file otherwise.
void put_string(DcmItem& item, const DcmTagKey& tag, const std::string& value, const std::filesystem::path& file);
/// Reads all values of a decimal/integer string tag; empty when absent or unparsable.
std::vector<double> get_numbers(DcmItem& item, const DcmTagKey& tag);
/// First value of a numeric tag, if present and parsable.
std::optional<double> get_number(DcmItem& item, const DcmTagKey& tag);
/// First value of an integer tag (IS, US, SL, ...), clamped to int's range so that an absurd
/// value ("1e30") stays an int the size checks can report; nullopt when absent or not finite.
std::optional<int> get_int(DcmItem& item, const DcmTagKey& tag);
/// get_numbers(), or empty when a value is not finite (a NaN position would break sorting).
std::vector<double> get_finite(DcmItem& item, const DcmTagKey& tag);

}  // namespace tomograd::io::detail
