#pragma once
/// @file The lumbar label vocabulary, defined once: the five conditions and five disc levels of the
/// RSNA 2024 Lumbar Spine Degenerative Classification as train.csv and
/// train_label_coordinates.csv write them, the three grades, and the 25-label index
/// (condition-major, as the train.csv columns). The real pipeline, the synthetic cohort and the
/// augmentations all read these arrays.
#include <array>

namespace tomograd::tasks::lumbar {

/// Number of conditions, of disc levels, of labels per study (conditions × levels) and of grades.
inline constexpr int kConditions = 5;
inline constexpr int kLevels = 5;
inline constexpr int kLabels = kConditions * kLevels;
inline constexpr int kGrades = 3;

/// Condition names as train.csv column prefixes, in the competition's (label) order.
inline constexpr std::array<const char*, kConditions> kConditionKeys{
    "spinal_canal_stenosis", "left_neural_foraminal_narrowing", "right_neural_foraminal_narrowing",
    "left_subarticular_stenosis", "right_subarticular_stenosis"};
/// The same as train_label_coordinates.csv writes them.
inline constexpr std::array<const char*, kConditions> kConditionNames{
    "Spinal Canal Stenosis", "Left Neural Foraminal Narrowing", "Right Neural Foraminal Narrowing",
    "Left Subarticular Stenosis", "Right Subarticular Stenosis"};
/// Short condition names for annotations drawn on images (lumbar export-png --annotate).
inline constexpr std::array<const char*, kConditions> kConditionShort{"SCS", "L-NFN", "R-NFN", "L-SS", "R-SS"};
/// Level suffixes of train.csv columns.
inline constexpr std::array<const char*, kLevels> kLevelKeys{"l1_l2", "l2_l3", "l3_l4", "l4_l5", "l5_s1"};
/// Level names of train_label_coordinates.csv.
inline constexpr std::array<const char*, kLevels> kLevelNames{"L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1"};
/// Grade names of train.csv, index = grade (0 Normal/Mild, 1 Moderate, 2 Severe).
inline constexpr std::array<const char*, kGrades> kGradeNames{"Normal/Mild", "Moderate", "Severe"};

/// Index of a label in the 25-vector: condition-major, as the train.csv columns.
constexpr int label_index(int condition, int level) { return condition * kLevels + level; }

/// The condition a left-right mirror image shows instead of @p condition: left and right neural
/// foraminal narrowing swap (1 <-> 2), and so do left and right subarticular stenosis (3 <-> 4);
/// spinal canal stenosis (0) is its own mirror.
constexpr int mirrored_condition(int condition) {
  switch (condition) {
    case 1: return 2;
    case 2: return 1;
    case 3: return 4;
    case 4: return 3;
    default: return condition;
  }
}

/// The label index of @p label (condition * 5 + level) in a left-right mirror image.
constexpr int mirrored_label(int label) { return label_index(mirrored_condition(label / kLevels), label % kLevels); }

}  // namespace tomograd::tasks::lumbar
