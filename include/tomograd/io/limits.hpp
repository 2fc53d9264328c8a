#pragma once
/// @file Size limits the readers check before they allocate anything a file asks for.
///
/// A header may claim any size (a DICOM file that says 65535 x 65535 pixels x 65535 frames, a
/// NIfTI dim of 2^40): every reader multiplies the declared sizes with overflow checks, compares
/// the result with the bytes the file actually holds, and with max_image_bytes(), before it
/// allocates a buffer.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

namespace tomograd::io {

/// The largest decoded image (in bytes) a reader allocates. Defaults to the machine's physical
/// memory: more can never be held, and trying would end in the kernel's OOM killer or a
/// LibTorch allocation failure instead of a message naming the file.
std::uint64_t max_image_bytes();

/// Overrides max_image_bytes() for this process (0 restores the default). Used by the fuzzing
/// harnesses (whose memory limit is a few GiB) and by tests.
void set_max_image_bytes(std::uint64_t bytes);

/// The product of @p factors, or nullopt when a factor is negative or the product overflows
/// 64 bits.
std::optional<std::uint64_t> checked_product(std::initializer_list<std::int64_t> factors);

/// "1.5 GiB", "562.9 TiB", "348 bytes": a byte count for messages.
std::string format_bytes(std::uint64_t bytes);

/// deflate's largest possible ratio (RFC 1951: a 258-byte match costs at least 2 bits, so
/// 1032:1); a gzip stream of N bytes never inflates to more than N * kMaxDeflateRatio bytes.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

}  // namespace tomograd::io
