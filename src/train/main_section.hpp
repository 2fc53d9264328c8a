#pragma once
// Internals of the train layer (not installed): whether run_on_main_process() is running its
// writer in this thread (rank 0 alone, the other ranks waiting at its barrier).

namespace tomograd::train::detail {

/// True inside run_on_main_process()'s writer: sharded work there runs unsharded (sharded.hpp).
bool in_main_process_section();

}  // namespace tomograd::train::detail
