// Brain extraction on generated skull phantoms (known brain) and on a real head CT written by
// others (InVesalius' example project "ProMED CT 0051", fetched by scripts/fetch-test-data.sh).
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <fstream>
#include <regex>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/preprocess/brain_extraction.hpp"
#include "tomograd/preprocess/morphology.hpp"
#include "tomograd/preprocess/phantom.hpp"

using namespace tomograd;
using namespace tomograd::preprocess;
namespace fs = std::filesystem;

TEST_CASE("brain extraction finds the phantom's brain (Dice >= 0.95) at several sizes", "[preprocess]") {
  struct Case {
    int64_t d, h, w;
    Vec3 spacing;
  };
  // Anisotropic voxels, thick and thin slices, non-square slices.
  const Case cases[] = {{16, 64, 64, {9.0, 3.6, 3.6}},
                        {12, 80, 72, {12.0, 2.9, 3.2}},
                        {24, 96, 96, {6.0, 2.4, 2.4}},
                        {10, 128, 112, {14.0, 1.8, 2.05}}};
  uint64_t seed = 1;
  for (const auto& c : cases) {
    HeadPhantomOptions o;
    o.depth = c.d;
    o.rows = c.h;
    o.cols = c.w;
    o.spacing_mm = c.spacing;
    o.seed = seed++;
    HeadPhantom p = make_head_phantom(o);
    BrainMask b = extract_brain(p.ct);
    const double d = dice(b.mask, p.brain);
    INFO("phantom " << c.d << "x" << c.h << "x" << c.w << " Dice " << d);
    CHECK(d >= 0.95);
    // Nothing outside the head: not the table, the pad or the holder arc.
    CHECK(b.mask.logical_and(p.head.logical_not()).sum().item<int64_t>() == 0);
    CHECK(b.volume_ml == Approx(mask_volume_ml(p.brain, o.spacing_mm)).epsilon(0.1));
    CHECK(b.mask.scalar_type() == torch::kUInt8);
  }
}

TEST_CASE("the head mask leaves out air, table, pad and head holder", "[preprocess]") {
  HeadPhantom p = make_head_phantom({});
  torch::Tensor head = head_mask(p.ct);
  // -300 HU keeps voxels at least ~68% tissue, the truth those at least half: the 8 mm slices
  // that cut the scalp tangentially differ a little.
  CHECK(dice(head, p.head) >= 0.93);
  // Rows below the head (pad, table, the holder arc's bottom) are empty in the head mask.
  const auto rows_true = p.head.sum(std::vector<int64_t>{0, 2}).nonzero();
  const int64_t last_row = rows_true.max().item<int64_t>();
  const auto below = head.sum(std::vector<int64_t>{0, 2}).slice(0, last_row + 2);
  CHECK(below.sum().item<int64_t>() == 0);
  CHECK(head.logical_and(p.head.logical_not()).sum().item<double>() / p.head.sum().item<double>() < 0.02);
}

TEST_CASE("brain extraction explains inputs that are not head CT", "[preprocess]") {
  Volume air(torch::full({4, 16, 16}, -1000.0f), {5, 1, 1});
  CHECK_THROWS_WITH(extract_brain(air), Catch::Contains("no head found"));
  Volume mr(torch::full({4, 32, 32}, 800.0f), {5, 1, 1});  // MR-like positive intensities
  CHECK_THROWS_WITH(extract_brain(mr), Catch::Contains("is this a CT in HU"));
  BrainExtractionOptions bad;
  bad.brain_low_hu = 200;
  CHECK_THROWS_WITH(extract_brain(make_head_phantom({}).ct, bad), Catch::Contains("brain_extraction.brain_low_hu"));
}


TEST_CASE("brain extraction on a real head CT keeps the brain inside the skull", "[preprocess]") {
  const fs::path project = test::data_file("invesalius/Cranium.inv3");
  test::TempDir tmp;
  Volume ct = test::read_invesalius_ct(project, tmp.path());
  REQUIRE(ct.depth() == 108);
  const Vec3 sp = ct.spacing_mm();
  BrainMask b = extract_brain(ct);
  const torch::Tensor& hu = ct.data();
  const auto in = b.mask.ne(0);
  const double n = in.sum().item<double>();
  INFO("brain " << b.volume_ml << " mL, head " << b.head_volume_ml << " mL");
  // An adult brain with its CSF is about 1000-1700 mL; this scan stops above the skull base,
  // so less of it is in the field of view.
  CHECK(b.volume_ml > 700);
  CHECK(b.volume_ml < 1700);
  // Brain parenchyma is 20-45 HU; the mean over the mask must be there (not fat, not bone).
  const double mean_hu = hu.masked_select(in).mean().item<double>();
  CHECK(mean_hu > 15);
  CHECK(mean_hu < 45);
  CHECK(hu.masked_select(in).gt(300).sum().item<double>() / n < 0.002);   // bone
  CHECK(hu.masked_select(in).lt(-100).sum().item<double>() / n < 0.002);  // air, fat
  // Inside the head and away from its surface: scalp plus skull are at least ~4 mm thick, so
  // the brain lies (almost entirely) in the head eroded by 4 mm.
  const torch::Tensor deep = erode(b.head, sp, 4.0);
  CHECK(in.logical_and(deep.logical_not()).sum().item<double>() / n < 0.01);
  // The head holder arc (the bright curve outside the head) is not part of the head.
  const torch::Tensor outside = hu.gt(100).logical_and(b.head.logical_not());
  CHECK(outside.sum().item<int64_t>() > 1000);
  // The brain is one piece.
  CHECK(label_components(b.mask).count() == 1);
}
