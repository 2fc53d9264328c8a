// io_base (no LibTorch) against the LibTorch API it serves: the torch-free readers give the
// voxels the Volume readers give, the writers write the same bytes from an ImageView and from a
// Volume, and export-png's automatic window equals what torch::quantile computed before.
#include <catch2/catch.hpp>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/volume_image.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/nifti.hpp"
#include "tomograd/io/png_export.hpp"
#include "tomograd/io/volume_io.hpp"

using namespace tomograd;
using namespace tomograd::io;
namespace fs = std::filesystem;

namespace {

// What `export-png --window auto` computed before io_base: torch::quantile in float64.
std::pair<double, double> torch_percentiles(const torch::Tensor& data) {
  auto q = torch::quantile(data.flatten().to(torch::kFloat64), torch::tensor({0.005, 0.995}, torch::kFloat64));
  return {q[0].item<double>(), q[1].item<double>()};
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

torch::Tensor as_tensor(const Image& image) {
  return torch::from_blob(const_cast<float*>(image.data()), {image.depth(), image.rows(), image.cols()});
}

}  // namespace

TEST_CASE("quantile_linear equals torch::quantile bit for bit", "[io]") {
  torch::manual_seed(11);
  for (int64_t n : {1, 2, 3, 7, 200, 1001, 40000}) {
    for (bool ties : {false, true}) {
      auto t = ties ? torch::randint(-5, 6, {n}).to(torch::kFloat32) : torch::randn({n}) * 300 + 40;
      for (double q : {0.0, 0.005, 0.25, 0.5, 0.77, 0.995, 1.0}) {
        INFO("n " << n << ", ties " << ties << ", q " << q);
        std::vector<float> values(t.data_ptr<float>(), t.data_ptr<float>() + n);
        const double ours = quantile_linear(values, q);
        const double theirs = torch::quantile(t.to(torch::kFloat64), q).item<double>();
        REQUIRE(same_bits(ours, theirs));
      }
    }
  }
  std::vector<float> with_nan{1.0f, std::numeric_limits<float>::quiet_NaN(), 3.0f};
  CHECK(std::isnan(quantile_linear(with_nan, 0.5)));
  std::vector<float> none;
  CHECK_THROWS_AS(quantile_linear(none, 0.5), ValueError);
}

TEST_CASE("the automatic PNG window equals the torch::quantile one on real scans", "[io]") {
  for (const char* name : {"pydicom/CT_small.dcm", "pydicom/MR_small.dcm", "nibabel/anatomical.nii",
                           "nibabel/reoriented_anat_moved.nii", "nibabel/standard.nii.gz"}) {
    INFO(name);
    const Image image = load_image(test::data_file(name));
    auto [lo, hi] = torch_percentiles(as_tensor(image));
    if (hi <= lo) hi = lo + 1.0;
    Image no_window = image;
    no_window.info().window_centers.clear();
    const Window w = auto_window(no_window.view());
    CHECK(same_bits(w.center, (lo + hi) / 2.0));
    CHECK(same_bits(w.width, hi - lo));
  }
  // The file's own window wins when it has one.
  Image ct = load_image(test::data_file("pydicom/CT_small.dcm"));
  ct.info().window_centers = {40};
  ct.info().window_widths = {80};
  CHECK(auto_window(ct.view()).center == 40);
}

TEST_CASE("torch-free readers give the Volume readers' voxels and geometry", "[io]") {
  for (const char* name : {"pydicom/MR_small.dcm", "pydicom/JPEG2000.dcm", "nibabel/anatomical.nii",
                           "nibabel/standard.nii.gz"}) {
    INFO(name);
    const fs::path path = test::data_file(name);
    const Image image = load_image(path);
    const Volume volume = load_volume(path);
    REQUIRE(torch::equal(as_tensor(image), volume.data()));
    CHECK(image.geometry().affine_lps() == volume.affine_lps());
    CHECK(image.info().instance_numbers == volume.info().instance_numbers);
    CHECK(image.info().transfer_syntaxes == volume.info().transfer_syntaxes);
  }
}

TEST_CASE("writers write the same bytes from an ImageView and from a Volume", "[io]") {
  test::TempDir tmp;
  torch::manual_seed(5);
  // Non-integral values on an oblique grid: the DICOM writer's float32 rescale and rounding and
  // NIfTI's float32 path both run.
  const double c = std::cos(0.3), s = std::sin(0.3);
  Volume v(torch::randn({3, 10, 12}) * 250 + 30, {2.5, 0.7, 0.8}, {-20, 15, 40},
           Mat3{{{c, 0, s}, {0, 1, 0}, {-s, 0, c}}});
  v.info().study_uid = "1.2.826.0.1.3680043.8.498.1";
  const ImageView view = view_of(v);
  for (const char* name : {"a.nii", "a.nii.gz"}) {
    write_nifti(v, tmp / ("volume_" + std::string(name)));
    write_nifti(view, tmp / ("view_" + std::string(name)));
    CHECK(read_file(tmp / ("volume_" + std::string(name))) == read_file(tmp / ("view_" + std::string(name))));
  }
  PngExportOptions png;
  png.window = auto_window(view);
  png.bit_depth = 16;
  const auto a = export_png(v, tmp / "png_volume", png);
  const auto b = export_png(view, tmp / "png_view", png);
  REQUIRE(a.size() == b.size());
  for (std::size_t k = 0; k < a.size(); ++k) CHECK(read_file(a[k]) == read_file(b[k]));
  // DICOM: the stored int16 codes from an ImageView and from a Volume, and the float32 tensor
  // arithmetic the writer used before io_base: round((value - intercept) / slope), half to even.
  DicomWriteOptions o;
  o.modality = "MR";
  const auto from_volume = write_dicom_series(v, tmp / "dcm_volume", o);
  const auto from_view = write_dicom_series(view, tmp / "dcm_view", o);
  const double lo = v.data().min().item<double>(), hi = v.data().max().item<double>();
  const double intercept = (lo + hi) / 2.0, slope = std::max(hi - intercept, intercept - lo) / 32767.0;
  const auto codes = ((v.data() - intercept) / slope).round_().to(torch::kInt16);
  REQUIRE(from_volume.size() == 3);
  for (int64_t k = 0; k < 3; ++k) {
    for (const auto& file : {from_volume[k], from_view[k]}) {
      DcmFileFormat ff;
      REQUIRE(ff.loadFile(file.c_str()).good());
      const Uint16* pixels = nullptr;  // PixelRepresentation 1: the words are int16
      REQUIRE(ff.getDataset()->findAndGetUint16Array(DCM_PixelData, pixels).good());
      CHECK(torch::equal(torch::from_blob(const_cast<Uint16*>(pixels), {10, 12}, torch::kInt16), codes[k]));
    }
  }
}
