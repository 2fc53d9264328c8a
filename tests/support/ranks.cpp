#include "support/ranks.hpp"

#include <sys/wait.h>
#include <unistd.h>

namespace tomograd::test {

std::vector<int> run_self_as_ranks(int world, const std::string& worker_spec, const std::filesystem::path& dir,
                                   const std::string& extra_env, int port) {
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      const std::string cmd = "RANK=" + std::to_string(r) + " WORLD_SIZE=" + std::to_string(world) +
                              " LOCAL_RANK=" + std::to_string(r) + " MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                              std::to_string(port) + " TOMOGRAD_DIST_TIMEOUT_S=60 TG_RUN_DIR='" + dir.string() + "' " +
                              extra_env + " '" + exe + "' '" + worker_spec + "' > '" + dir.string() + "/rank" +
                              std::to_string(r) + ".log' 2>&1";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128);
  }
  return codes;
}

int job_port() { return 29600 + static_cast<int>(getpid() % 300); }

}  // namespace tomograd::test
