// Lumbar augmentations: the left-right mirror (image and labels, also on a rendered study through
// the training sample path), elastic deformation and 3D rotation of classifier inputs, and the
// config keys that switch them on.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>

#include "../../../src/tasks/lumbar/pipeline_impl.hpp"  // ItemDataset: the training sample path
#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/tasks/lumbar/augment.hpp"
#include "tomograd/tasks/lumbar/synth.hpp"
#include "tomograd/train/loader.hpp"

using namespace tomograd;
using namespace tomograd::tasks::lumbar;

namespace {

InputOptions input_of(const std::string& kind) {
  InputOptions in;
  in.kind = kind;
  in.context = 1;
  in.shared_levels = true;
  return in;
}

/// A 2.5D input whose every channel is constant and equal to its index, plus a column ramp
/// (0.001 * column) that shows a flip of the columns.
torch::Tensor numbered_input(int64_t channels, int64_t side = 8) {
  return (torch::arange(channels, torch::kFloat32).view({-1, 1, 1}) +
          torch::arange(side, torch::kFloat32).view({1, 1, -1}) * 0.001f)
      .expand({channels, side, side})
      .contiguous();
}

}  // namespace

TEST_CASE("lumbar mirror: sagittal crops swap left and right foramen and reverse their slices", "[lumbar]") {
  const InputOptions in = input_of("sagittal");
  const torch::Tensor x = numbered_input(45);  // 5 levels x 3 crops x 3 slices
  const torch::Tensor m = mirror_input(x, in);
  REQUIRE(m.sizes() == x.sizes());
  // Level 2's blocks start at channel 18: canal 18,19,20 -> 20,19,18; left foramen (21..23) gets
  // the right foramen's slices reversed (26,25,24) and the right one the left's (23,22,21).
  const std::vector<float> expected{20, 19, 18, 26, 25, 24, 23, 22, 21};
  for (int c = 0; c < 9; ++c) CHECK(m[18 + c][0][0].item<float>() == Approx(expected[static_cast<std::size_t>(c)]));
  CHECK(m[18][3][5].item<float>() == Approx(20.005f));  // in-plane unchanged: no L-R axis there
  CHECK(torch::equal(mirror_input(m, in), x));
}

TEST_CASE("lumbar mirror: axial crops reverse their columns, combined does both", "[lumbar]") {
  const torch::Tensor ax = numbered_input(15);
  const torch::Tensor m = mirror_input(ax, input_of("axial"));
  CHECK(m[4][2][0].item<float>() == Approx(4.007f));  // column 0 <- column 7; slices kept
  CHECK(m[4][2][7].item<float>() == Approx(4.000f));
  CHECK(torch::equal(mirror_input(m, input_of("axial")), ax));

  const torch::Tensor comb = numbered_input(60);  // 5 levels x (3 sagittal + 1 axial) x 3 slices
  const torch::Tensor mc = mirror_input(comb, input_of("combined"));
  CHECK(mc[3][0][0].item<float>() == Approx(8.0f));    // level 0 left foramen <- right foramen, reversed
  CHECK(mc[9][0][0].item<float>() == Approx(9.007f));  // level 0 axial: slice kept, columns reversed
  CHECK(torch::equal(mirror_input(mc, input_of("combined")), comb));
  CHECK_THROWS_AS(mirror_input(numbered_input(44), input_of("sagittal")), ValueError);
}

TEST_CASE("lumbar mirror: a volume reverses its left-right axis", "[lumbar]") {
  const torch::Tensor v = torch::arange(2 * 4 * 3 * 3, torch::kFloat32).reshape({2, 4, 3, 3});
  const torch::Tensor m = mirror_input(v, input_of("volume"));
  CHECK(torch::equal(m[1][0], v[1][3]));
  CHECK(torch::equal(m[0][2], v[0][1]));
  CHECK(torch::equal(mirror_input(m, input_of("volume")), v));
}

TEST_CASE("lumbar mirror: labels and points of a labelled study swap left and right", "[lumbar]") {
  std::array<int, kLabels> grades{};
  for (int k = 0; k < kLabels; ++k) grades[static_cast<std::size_t>(k)] = k % 3;
  grades[label_index(1, 3)] = 2;   // left foraminal narrowing at L4/L5 severe
  grades[label_index(2, 3)] = 0;   // right normal
  grades[label_index(4, 0)] = -1;  // right subarticular L1/L2 unlabelled
  const auto m = mirror_grades(grades);
  CHECK(m[label_index(2, 3)] == 2);
  CHECK(m[label_index(1, 3)] == 0);
  CHECK(m[label_index(3, 0)] == -1);
  CHECK(m[label_index(0, 4)] == grades[label_index(0, 4)]);  // the canal is its own mirror
  CHECK(mirror_grades(m) == grades);
  CHECK(kConditionKeys[mirrored_condition(1)] == std::string("right_neural_foraminal_narrowing"));
  CHECK(kConditionKeys[mirrored_condition(4)] == std::string("left_subarticular_stenosis"));

  // Points: the spine's midline at x = 10 mm (LPS x runs to the patient's left).
  LevelPoints pts;
  pts[label_index(0, 2)] = Vec3{10, -5, 30};  // canal on the midline
  pts[label_index(1, 2)] = Vec3{25, -8, 31};  // left foramen 15 mm to the left
  pts[label_index(2, 2)] = Vec3{-4, -8, 29};  // right foramen 14 mm to the right
  const LevelPoints mp = mirror_points(pts, Vec3{10, 0, 0}, Vec3{1, 0, 0});
  REQUIRE(mp[label_index(0, 2)]);
  CHECK((*mp[label_index(0, 2)])[0] == Approx(10));
  REQUIRE(mp[label_index(2, 2)]);  // the left point, reflected, is now the right one
  CHECK((*mp[label_index(2, 2)])[0] == Approx(-5));
  CHECK((*mp[label_index(2, 2)])[2] == Approx(31));
  CHECK((*mp[label_index(1, 2)])[0] == Approx(24));
  CHECK(!mp[label_index(1, 0)]);
  const LevelPoints back = mirror_points(mp, Vec3{10, 0, 0}, Vec3{1, 0, 0});
  CHECK((*back[label_index(1, 2)])[0] == Approx(25));
}

TEST_CASE("lumbar deformations keep the shape and depend on the sample's seed only", "[lumbar]") {
  InputOptions in = input_of("sagittal");
  in.elastic_p = 1.0;
  in.elastic_alpha_px = 3;
  in.elastic_sigma_px = 2;
  const torch::Tensor x = torch::rand({45, 16, 16}, torch::Generator(at::detail::createCPUGenerator(1)));
  const uint64_t seed = train::DataLoader::sample_seed(42, 3, 7);  // (run seed, epoch, sample)
  auto draw = [&](uint64_t s, const InputOptions& o, const torch::Tensor& v) {
    std::mt19937_64 rng(s);
    return deform_input(v, o, rng);
  };
  const torch::Tensor a = draw(seed, in, x);
  CHECK(a.sizes() == x.sizes());
  CHECK(torch::equal(a, draw(seed, in, x)));
  CHECK(!torch::allclose(a, x));
  CHECK(!torch::allclose(a, draw(train::DataLoader::sample_seed(42, 4, 7), in, x)));
  CHECK(!torch::allclose(a, draw(train::DataLoader::sample_seed(42, 3, 8), in, x)));

  // Off: no draw at all, the input comes back unchanged and the generator untouched.
  in.elastic_p = 0;
  std::mt19937_64 rng(seed), fresh(seed);
  CHECK(torch::equal(deform_input(x, in, rng), x));
  CHECK(rng() == fresh());

  InputOptions vol = input_of("volume");
  vol.elastic_p = 1.0;
  vol.elastic_alpha_px = 2;
  vol.elastic_sigma_px = 1.5;
  vol.rotate3d_deg = 10;
  const torch::Tensor v = torch::rand({2, 6, 12, 12}, torch::Generator(at::detail::createCPUGenerator(2)));
  const torch::Tensor dv = draw(seed, vol, v);
  CHECK(dv.sizes() == v.sizes());
  CHECK(torch::equal(dv, draw(seed, vol, v)));
  CHECK(!torch::allclose(dv, v));
}

TEST_CASE("lumbar augmentation keys: defaults off, read from input:, bad values named", "[lumbar]") {
  const std::string cfg = std::string(TOMOGRAD_SOURCE_DIR) + "/configs/lumbar_sagittal.yaml";
  const auto base = load_config(cfg);
  CHECK(base.input.flip_lr == 0.0);
  CHECK(base.input.elastic_p == 0.0);
  CHECK(base.input.rotate3d_deg == 0.0);
  const auto on = load_config(cfg, {"input.flip_lr=0.5", "input.elastic_p=0.25", "input.elastic_alpha_px=3",
                                    "input.elastic_sigma_px=2"});
  CHECK(on.input.flip_lr == 0.5);
  CHECK(on.input.elastic_p == 0.25);
  CHECK(on.input.elastic_alpha_px == 3.0);
  CHECK(on.input.elastic_sigma_px == 2.0);
  CHECK_THROWS_WITH(load_config(cfg, {"input.flip_lr=1.5"}), Catch::Contains("input.flip_lr"));
  CHECK_THROWS_WITH(load_config(cfg, {"input.elastic_sigma_px=0"}), Catch::Contains("input.elastic_sigma_px"));
  CHECK_THROWS_WITH(load_config(cfg, {"input.flip_lrr=1"}), Catch::Contains("input.flip_lrr"));
}

// ---- The mirror on a rendered study, through the training sample path --------------------------
//
// The synthetic renderer draws its texture, bias field and noise from the seed in the same order
// whatever the severities, so two renderings with one seed differ only where a lesion changed the
// anatomy. Study A has a severe left-sided lesion at L4/L5 (foraminal narrowing for the sagittal
// and volume inputs, subarticular stenosis for the axial one), study B the same on the right,
// study N neither: A - N is the left lesion, B - N the right one. The training sample path
// (ItemDataset::get, src/tasks/lumbar/inputs.cpp, with flip_lr = 1 and every other augmentation off)
// must turn A into an input whose lesion is B's, with B's labels.
namespace {

/// A rendered sagittal volume as the pipeline's SeriesImage, intensities on one fixed scale (not
/// the loader's percentiles) so that the three renderings subtract linearly.
SeriesImage series_of(const Volume& v, const std::string& id) {
  SeriesImage s;
  s.series_id = id;
  s.description = v.info().series_description;
  s.data = v.data() / 4000.0f;
  const Mat3& d = v.direction();
  s.col_dir = {d[0][0], d[1][0], d[2][0]};
  s.row_dir = {d[0][1], d[1][1], d[2][1]};
  s.normal = {d[0][2], d[1][2], d[2][2]};  // slices run along it (the loader sorts them so)
  s.col_spacing = v.spacing_mm()[2];
  s.row_spacing = v.spacing_mm()[1];
  s.slice_spacing = v.spacing_mm()[0];
  s.slice_thickness = v.info().slice_thickness_mm;
  for (int64_t k = 0; k < v.depth(); ++k) {
    s.positions.push_back(v.index_to_lps(static_cast<double>(k), 0, 0));
    s.instance_numbers.push_back(static_cast<int>(k) + 1);
  }
  return s;
}

/// The renderer's five 3-slice axial blocks as one series, as the loader reads the RSNA layout's
/// axial series: every slice sorted along the normal (feet to head), the median gap as spacing.
SeriesImage axial_series_of(const std::vector<Volume>& blocks) {
  std::vector<torch::Tensor> slices;
  SeriesImage s = series_of(blocks.at(0), "13");
  s.positions.clear();
  s.instance_numbers.clear();
  for (const Volume& v : blocks) {
    for (int64_t k = 0; k < v.depth(); ++k) {
      slices.push_back(v.data()[k] / 4000.0f);
      s.positions.push_back(v.index_to_lps(static_cast<double>(k), 0, 0));
    }
  }
  std::vector<std::size_t> order(slices.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  auto height = [&](std::size_t i) { return s.positions[i][0] * s.normal[0] + s.positions[i][1] * s.normal[1] +
                                            s.positions[i][2] * s.normal[2]; };
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return height(x) < height(y); });
  std::vector<torch::Tensor> sorted;
  std::vector<Vec3> positions;
  for (std::size_t i : order) {
    sorted.push_back(slices[i]);
    positions.push_back(s.positions[i]);
    s.instance_numbers.push_back(static_cast<int>(sorted.size()));
  }
  s.data = torch::stack(sorted).contiguous();
  s.positions = positions;
  return s;
}

/// A study rendered with one seed and the given severities: its two sagittal series and its
/// axial series, the 25 label points the renderer placed and its grades.
struct RenderedStudy {
  StudyImages images;
  LevelPoints points;
  std::array<int, kLabels> grades{};
};

RenderedStudy render_study(const std::array<int, kLabels>& severity) {
  tasks::LumbarPhantomParams p;
  p.size = 128;
  p.seed = 5;
  p.severity = severity;
  const tasks::LumbarPhantom ph = tasks::render_lumbar_phantom(p);
  RenderedStudy st;
  st.images.study_id = "1";
  st.images.t1 = series_of(ph.sagittal_t1, "11");
  st.images.t2 = series_of(ph.sagittal_t2, "12");
  st.images.axial = axial_series_of(ph.axial_t2);
  for (const auto& pt : ph.points) {
    // An axial point's slice is one of its level's block (a series of its own here).
    const SeriesImage s = pt.series == tasks::LumbarSeries::kAxialT2
                              ? series_of(ph.axial_t2.at(static_cast<std::size_t>(pt.level)), "13")
                              : pt.series == tasks::LumbarSeries::kSagittalT1 ? *st.images.t1 : *st.images.t2;
    st.points[label_index(pt.condition, pt.level)] = s.pixel_to_lps(static_cast<int>(pt.slice), pt.x, pt.y);
  }
  st.grades = severity;
  return st;
}

/// The training sample of @p st (input and 25 targets) with only the left-right mirror on
/// (flip_lr = 1), or the evaluation sample (no augmentation) when !flip.
train::Sample sample_of(const RenderedStudy& st, InputOptions in, bool flip) {
  in.jitter_mm = 0;
  in.rotate_deg = 0;
  in.gain = 0;
  in.noise = 0;
  in.elastic_p = 0;
  in.rotate3d_deg = 0;
  in.flip_lr = 1.0;
  internal::Item item;
  item.study_id = st.images.study_id;
  item.input = internal::build_input(st.images, st.points, in, internal::margin_px(in));
  item.grades = st.grades;
  internal::ItemDataset ds({&item}, in, /*augment=*/flip);
  return ds.get(0, train::DataLoader::sample_seed(42, 0, 0));
}

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return (a * b).sum().item<double>() / (a.norm() * b.norm()).item<double>();
}

/// The mirror of A (left lesion at label @p left_label) through the training sample path with
/// input kind @p in: its image lesion is B's (right lesion), its labels are B's.
void check_mirrored_lesion(const InputOptions& in, const RenderedStudy& n, const RenderedStudy& a,
                           const RenderedStudy& b, int left_label) {
  INFO("input kind " << in.kind);
  const train::Sample sn = sample_of(n, in, false), sa = sample_of(a, in, false), sb = sample_of(b, in, false);
  const train::Sample fa = sample_of(a, in, true), fn = sample_of(n, in, true);
  REQUIRE(fa.input.sizes() == sb.input.sizes());
  const torch::Tensor lesion_left = sa.input - sn.input, lesion_right = sb.input - sn.input;
  const torch::Tensor lesion_flipped = fa.input - fn.input;
  // The renderer's lesion is visible in the input (a mean |difference| of 0.0005 would be noise).
  REQUIRE(lesion_right.abs().max().item<double>() > 0.1);
  // The mirrored left lesion has the rendered right one's shape (cosine similarity) and about its
  // size: the renderer's smooth multiplicative bias field (1 ± 0.1 x a smooth random field) is not
  // left-right symmetric, so the two lesions differ by up to about 25 % in intensity (measured:
  // cosine 0.999, 0.990 and 0.9999, size ratio 1.24, 1.10 and 0.99 for the sagittal, volume and
  // axial inputs). The unmirrored left lesion has no overlap with the right one (cosine 0).
  const double cos_flipped = cosine(lesion_flipped, lesion_right), cos_unflipped = cosine(lesion_left, lesion_right);
  const double ratio = lesion_flipped.norm().item<double>() / lesion_right.norm().item<double>();
  INFO("cosine mirrored " << cos_flipped << ", unmirrored " << cos_unflipped << ", size ratio " << ratio);
  CHECK(cos_flipped > 0.95);
  CHECK(cos_unflipped < 0.2);
  CHECK(ratio > 0.7);
  CHECK(ratio < 1.4);
  // The image itself: where the right lesion is, the mirrored A looks like B and A does not.
  const torch::Tensor where = lesion_right.abs() > 0.05;
  const double mirrored_err = (fa.input - sb.input).abs().masked_select(where).mean().item<double>();
  const double unmirrored_err = (sa.input - sb.input).abs().masked_select(where).mean().item<double>();
  INFO("on the right lesion: |mirrored A - B| " << mirrored_err << ", |A - B| " << unmirrored_err);
  CHECK(mirrored_err < 0.4 * unmirrored_err);  // measured 0.18, 0.25 and 0.02 of it
  if (in.kind == "volume") {
    // Depth runs toward the patient's right: the left lesion is in the first half, and the
    // mirror moves it to the second.
    auto half = [](const torch::Tensor& x, bool first) {
      const int64_t d = x.size(1);
      return x.narrow(1, first ? 0 : d / 2, d / 2).abs().sum().item<double>();
    };
    CHECK(half(lesion_left, true) > 10 * half(lesion_left, false));
    CHECK(half(lesion_flipped, false) > 10 * half(lesion_flipped, true));
  }
  // Labels: the mirrored sample carries B's grades (left normal, right severe), all known.
  REQUIRE(fa.target.size(0) == kLabels);
  for (int k = 0; k < kLabels; ++k) {
    INFO("label " << k);
    CHECK(fa.target[k].item<int64_t>() == b.grades[static_cast<std::size_t>(k)]);
    CHECK(fa.mask[k].item<bool>());
  }
  CHECK(sa.target[left_label].item<int64_t>() == 2);  // the unmirrored sample keeps A's
}

/// A's label points reflected across the midsagittal plane (through the canal point of L3/L4,
/// normal along the patient's left-right axis) must be B's points of the same labels for
/// @p labels: the renderer's anatomy is symmetric, so each left label lands where the right one is.
void check_mirrored_points(const RenderedStudy& a, const RenderedStudy& b, const std::vector<int>& labels) {
  const Vec3 centre = *a.points[label_index(0, 2)];
  const LevelPoints mp = mirror_points(a.points, centre, Vec3{1, 0, 0});
  for (int k : labels) {
    INFO("label " << k);
    REQUIRE(mp[static_cast<std::size_t>(k)]);
    for (int i = 0; i < 3; ++i) {
      CHECK((*mp[static_cast<std::size_t>(k)])[i] == Approx((*b.points[static_cast<std::size_t>(k)])[i]).margin(1e-6));
    }
  }
}

}  // namespace

TEST_CASE("lumbar mirror of a rendered study: a left lesion becomes the right one, labels swapped", "[lumbar]") {
  std::array<int, kLabels> none{}, left{}, right{};
  left[label_index(1, 3)] = 2;   // left neural foraminal narrowing, L4/L5, severe
  right[label_index(2, 3)] = 2;  // right neural foraminal narrowing, L4/L5, severe
  const RenderedStudy n = render_study(none), a = render_study(left), b = render_study(right);
  for (const std::string kind : {"sagittal", "volume"}) check_mirrored_lesion(input_of(kind), n, a, b, label_index(1, 3));
  // Coordinates of the sagittal labels (canal, left and right foramen).
  std::vector<int> sagittal_labels(3 * kLevels);
  std::iota(sagittal_labels.begin(), sagittal_labels.end(), 0);
  check_mirrored_points(a, b, sagittal_labels);
  CHECK((*a.points[label_index(1, 3)])[0] > (*a.points[label_index(0, 2)])[0] + 10);  // left foramen: LPS +x
}

TEST_CASE("lumbar mirror of a rendered study, axial input: left subarticular stenosis becomes right", "[lumbar]") {
  std::array<int, kLabels> none{}, left{}, right{};
  left[label_index(3, 3)] = 2;   // left subarticular stenosis, L4/L5, severe
  right[label_index(4, 3)] = 2;  // right subarticular stenosis, L4/L5, severe
  const RenderedStudy n = render_study(none), a = render_study(left), b = render_study(right);
  // The axial crops are centred between the two lateral recess points, on the midline: there
  // the mirror is a reversal of the columns (display columns run right to left).
  check_mirrored_lesion(input_of("axial"), n, a, b, label_index(3, 3));
  // Coordinates of the axial labels: the left lateral recess reflected is the right one.
  std::vector<int> axial_labels(2 * kLevels);
  std::iota(axial_labels.begin(), axial_labels.end(), 3 * kLevels);
  check_mirrored_points(a, b, axial_labels);
  CHECK((*a.points[label_index(3, 3)])[0] > (*a.points[label_index(0, 3)])[0] + 5);  // left recess: LPS +x
}
