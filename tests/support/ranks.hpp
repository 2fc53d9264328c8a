#pragma once
// Runs the current test binary as the ranks of a data-parallel job on 127.0.0.1 (Gloo), each
// running one hidden worker test case; the tests of distributed code use it.
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

namespace tomograd::test {

/// Starts this test binary `world` times as ranks 0..world-1 (RANK, WORLD_SIZE, LOCAL_RANK,
/// MASTER_ADDR=127.0.0.1, MASTER_PORT=free_port(), TOMOGRAD_DIST_TIMEOUT_S=60, TG_RUN_DIR=dir, plus
/// @p extra_env "NAME=value ..."), each running the Catch test spec @p worker_spec (e.g.
/// "[.dist_worker]") with its output in dir/rank<r>.log. Waits for all; returns their exit codes.
/// Every job gets a port of its own: ctest runs tests side by side, and a rank that found another
/// test's job at its port would join it (ports derived from the pid collided in CI).
std::vector<int> run_self_as_ranks(int world, const std::string& worker_spec, const std::filesystem::path& dir,
                                   const std::string& extra_env);

/// A TCP port nobody listens on now: the kernel's pick for port 0 (from its ephemeral range, at
/// a random place in it).
int free_port();

/// Runs the shell command @p command (an app and its arguments) as the two ranks of a Gloo job on
/// 127.0.0.1 at once, rank 1's output in @p logs/rank1.log. Returns rank 0's output; the exit code
/// is the sum of the ranks' exit codes.
CommandResult run_as_two_ranks(const std::string& command, const std::filesystem::path& logs);

/// run_as_two_ranks(), failing the test when either rank fails.
CommandResult run_two_ranks(const std::string& command, const std::filesystem::path& logs);

/// The CSV outputs of a job and of one process agree: the same header, the same first column (the
/// ids) in the same order, and in the other columns the same numbers up to float summation order
/// (relative 1e-5) or the same text where a cell is not a number.
void check_same_csv(const std::filesystem::path& one, const std::filesystem::path& job);

/// The files under @p dir (relative paths), except TensorBoard's event files (named by the time
/// they were created): what a job and one process wrote, side by side.
std::set<std::string> files_under(const std::filesystem::path& dir);

/// The same for a JSON object of metrics: the same keys, numbers up to float summation order,
/// other values equal unless they are strings naming a path under @p scratch.
void check_same_json(const std::filesystem::path& one, const std::filesystem::path& job,
                     const std::filesystem::path& scratch);

}  // namespace tomograd::test
