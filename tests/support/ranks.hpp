#pragma once
// Runs the current test binary as the ranks of a data-parallel job on 127.0.0.1 (Gloo), each
// running one hidden worker test case; the tests of distributed code use it.
#include <filesystem>
#include <string>
#include <vector>

namespace tomograd::test {

/// Starts this test binary `world` times as ranks 0..world-1 (RANK, WORLD_SIZE, LOCAL_RANK,
/// MASTER_ADDR=127.0.0.1, MASTER_PORT=port, TOMOGRAD_DIST_TIMEOUT_S=60, TG_RUN_DIR=dir, plus
/// @p extra_env "NAME=value ..."), each running the Catch test spec @p worker_spec (e.g.
/// "[.dist_worker]") with its output in dir/rank<r>.log. Waits for all; returns their exit codes.
std::vector<int> run_self_as_ranks(int world, const std::string& worker_spec, const std::filesystem::path& dir,
                                   const std::string& extra_env, int port);

/// A TCP port for a job of this test process (29600 + pid % 300).
int job_port();

}  // namespace tomograd::test
