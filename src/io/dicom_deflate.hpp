#pragma once
// Private: loading a DICOM file whose data set is in the Deflated Explicit VR Little Endian
// transfer syntax (1.2.840.10008.1.2.1.99, PS3.5 A.5) without letting DCMTK allocate what a
// hostile stream declares. DCMTK inflates such a data set on the fly and cannot know how many
// bytes the stream holds, so it allocates each element's declared length (up to 4 GiB) before
// reading it. Here the data set is inflated first, with a cap, and DCMTK then reads the inflated
// bytes from a file, where it checks every long element's length against the bytes present
// before allocating (values are loaded into memory and the file removed before returning).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace tomograd::io::detail {

/// The Deflated Explicit VR Little Endian transfer syntax UID.
inline constexpr const char* kDeflatedTransferSyntax = "1.2.840.10008.1.2.1.99";

/// Most bytes a deflated data set may inflate to: max_image_bytes() (the decoded float32 voxels
/// a reader may allocate, at least as large as any 8- to 32-bit pixel data) + 64 MiB for the
/// other attributes.
std::uint64_t max_inflated_dataset_bytes();

/// What DcmFileFormat::loadFileUntilTag(file, EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
/// ERM_autoDetect, stop) does, except for a file with a meta header naming the deflated transfer
/// syntax: its data set is inflated here (refused past max_inflated_dataset_bytes(), or when the
/// stream is corrupt, with a condition whose text says so and names the limit) and read by DCMTK
/// as explicit VR little endian. The meta header keeps the deflated transfer syntax UID; the data
/// set's original transfer syntax is then EXS_LittleEndianExplicit.
OFCondition load_dicom_file(DcmFileFormat& ff, const std::filesystem::path& file,
                            const DcmTagKey& stop = DCM_UndefinedTagKey);

}  // namespace tomograd::io::detail
