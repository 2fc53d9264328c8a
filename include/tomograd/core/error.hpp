#pragma once
/// @file Exception hierarchy. Every message names the file, key, tag or row and what was expected.
#include <stdexcept>
#include <string>

namespace tomograd {

/// Base of every error tomograd throws on bad input or failed I/O.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// A file could not be read or written, or its content is not what was expected.
class IoError : public Error {
 public:
  explicit IoError(const std::string& what) : Error(what) {}
};

/// A DICOM file or series is unreadable or inconsistent.
class DicomError : public IoError {
 public:
  explicit DicomError(const std::string& what) : IoError(what) {}
};

/// A NIfTI file is unreadable or unsupported.
class NiftiError : public IoError {
 public:
  explicit NiftiError(const std::string& what) : IoError(what) {}
};

/// A CSV file has a missing column or a malformed row.
class CsvError : public IoError {
 public:
  explicit CsvError(const std::string& what) : IoError(what) {}
};

/// A configuration file or override has an unknown key or a value of the wrong type.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what) : Error(what) {}
};

/// An argument or data value is outside what the operation accepts.
class ValueError : public Error {
 public:
  explicit ValueError(const std::string& what) : Error(what) {}
};

}  // namespace tomograd
