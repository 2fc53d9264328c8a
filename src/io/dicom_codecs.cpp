#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/dcmjpls/djencode.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>

#include "dicom_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/io/dicom_base.hpp"

namespace tomograd::io {

namespace detail {

void ensure_dcmtk_ready() {
  static std::once_flag once;
  std::call_once(once, [] {
    // DCMTK logs warnings about odd files to stderr; we turn each problem into our own message
    // with the file name, so its logger stays quiet unless we are tracing.
    OFLog::configure(logger()->level() <= spdlog::level::trace ? OFLogger::WARN_LOG_LEVEL
                                                              : OFLogger::OFF_LOG_LEVEL);
    // Some archives store well-known attributes with VR UN (unknown); read them with the VR from
    // the data dictionary, as pydicom does, instead of losing ImagePositionPatient and friends.
    dcmEnableUnknownVRConversion.set(OFTrue);
    DcmRLEDecoderRegistration::registerCodecs();
    DcmRLEEncoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    DJEncoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    // preferCookedEncoding = false: DCMTK 3.6.7's cooked JPEG-LS encoder writes past its buffer
    // on small images (valgrind; undecodable slices and heap corruption); the raw path is clean.
    DJLSEncoderRegistration::registerCodecs(0, 0, 0, 0, OFFalse);
    if (!dcmDataDict.isDictionaryLoaded()) {
      logger()->warn("DCMTK's data dictionary is not loaded (DCMDICTPATH={}): implicit VR files "
                     "may be misread",
                     std::getenv("DCMDICTPATH") ? std::getenv("DCMDICTPATH") : "unset");
    }
  });
}

bool is_jpeg2000(const std::string& uid) {
  return uid == "1.2.840.10008.1.2.4.90" || uid == "1.2.840.10008.1.2.4.91";
}

std::string new_uid() {
  char buf[100];
  dcmGenerateUniqueIdentifier(buf, SITE_INSTANCE_UID_ROOT);
  return buf;
}

void put_string(DcmItem& item, const DcmTagKey& tag, const std::string& value, const std::filesystem::path& file) {
  const OFCondition st = item.putAndInsertString(tag, value.c_str());
  if (st.bad()) {
    throw DicomError("cannot set " + std::string(DcmTag(tag).getTagName()) + " in '" + file.string() + "': " + st.text());
  }
}

std::string get_string(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFString(tag, value).bad()) return "";
  std::string s(value.c_str());
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n\0");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<double> get_numbers(DcmItem& item, const DcmTagKey& tag) {
  std::vector<double> out;
  DcmElement* el = nullptr;
  if (item.findAndGetElement(tag, el).bad() || el == nullptr) return out;
  const unsigned long n = el->getVM();
  for (unsigned long i = 0; i < n; ++i) {
    Float64 v = 0;
    if (el->getFloat64(v, i).good()) {
      out.push_back(v);
      continue;
    }
    // Integer VRs (US, SS, UL, SL) do not offer getFloat64.
    Sint32 si = 0;
    Uint16 us = 0;
    if (el->getSint32(si, i).good()) out.push_back(si);
    else if (el->getUint16(us, i).good()) out.push_back(us);
    else {
      OFString s;
      if (el->getOFString(s, i).bad()) return {};
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (end == s.c_str()) return {};
      out.push_back(d);
    }
  }
  return out;
}

std::optional<double> get_number(DcmItem& item, const DcmTagKey& tag) {
  auto v = get_numbers(item, tag);
  if (v.empty()) return std::nullopt;
  return v.front();
}

std::optional<int> get_int(DcmItem& item, const DcmTagKey& tag) {
  auto v = get_number(item, tag);
  if (!v || !std::isfinite(*v)) return std::nullopt;
  const double clamped = std::clamp(*v, static_cast<double>(std::numeric_limits<int>::min()),
                                    static_cast<double>(std::numeric_limits<int>::max()));
  return static_cast<int>(clamped);
}

std::vector<double> get_finite(DcmItem& item, const DcmTagKey& tag) {
  auto v = get_numbers(item, tag);
  for (double x : v) {
    if (!std::isfinite(x)) return {};
  }
  return v;
}

}  // namespace detail

std::string transfer_syntax_name(const std::string& uid) {
  DcmXfer x(uid.c_str());
  if (x.getXfer() == EXS_Unknown) return uid;
  return x.getXferName();
}

std::string dcmtk_version() { return OFFIS_DCMTK_VERSION_STRING; }

}  // namespace tomograd::io
