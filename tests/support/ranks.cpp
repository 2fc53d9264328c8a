#include "support/ranks.hpp"

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "tomograd/core/csv.hpp"

namespace tomograd::test {

std::vector<int> run_self_as_ranks(int world, const std::string& worker_spec, const std::filesystem::path& dir,
                                   const std::string& extra_env) {
  const int port = free_port();
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

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

CommandResult run_as_two_ranks(const std::string& command, const std::filesystem::path& logs) {
  const std::string port = std::to_string(free_port());
  auto env = [&](int rank) {
    return "RANK=" + std::to_string(rank) + " WORLD_SIZE=2 LOCAL_RANK=" + std::to_string(rank) +
           " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " TOMOGRAD_DIST_TIMEOUT_S=120 ";
  };
  const std::string log1 = shell_quote((logs / "rank1.log").string()), rc1 = shell_quote((logs / "rank1.rc").string());
  // Both ranks at once; the job fails when either fails.
  // One subshell, so that run_command's redirections take rank 0's output.
  return run_command("((" + env(1) + command + " > " + log1 + " 2>&1; echo $? > " + rc1 + ") & " + env(0) + command +
                     "; rc0=$?; wait; exit $((rc0 + $(cat " + rc1 + "))))");
}

CommandResult run_two_ranks(const std::string& command, const std::filesystem::path& logs) {
  auto r = run_as_two_ranks(command, logs);
  std::ifstream in(logs / "rank1.log");
  INFO(r.out << r.err << std::string(std::istreambuf_iterator<char>(in), {}));
  REQUIRE(r.exit_code == 0);
  return r;
}

void check_same_csv(const std::filesystem::path& one, const std::filesystem::path& job) {
  INFO(one.string() << " vs " << job.string());
  const CsvTable a = CsvTable::read(one), b = CsvTable::read(job);
  REQUIRE(b.header() == a.header());
  REQUIRE(b.num_rows() == a.num_rows());
  for (std::size_t c = 0; c < a.header().size(); ++c) {
    const auto x = a.strings(a.header()[c]), y = b.strings(a.header()[c]);
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO("column " << a.header()[c] << ", row " << i + 1 << ": " << x[i] << " vs " << y[i]);
      char* end_x = nullptr;
      char* end_y = nullptr;
      const double u = std::strtod(x[i].c_str(), &end_x), v = std::strtod(y[i].c_str(), &end_y);
      const bool numbers = c > 0 && !x[i].empty() && *end_x == '\0' && !y[i].empty() && *end_y == '\0';
      if (!numbers) CHECK(y[i] == x[i]);
      else if (std::isnan(u)) CHECK(std::isnan(v));
      else CHECK(v == Approx(u).epsilon(1e-5).margin(1e-7));
    }
  }
}

std::set<std::string> files_under(const std::filesystem::path& dir) {
  std::set<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().parent_path().filename() != "tensorboard") {
      files.insert(std::filesystem::relative(e.path(), dir).string());
    }
  }
  return files;
}

void check_same_json(const std::filesystem::path& one, const std::filesystem::path& job,
                     const std::filesystem::path& scratch) {
  INFO(one.string() << " vs " << job.string());
  std::ifstream in_one(one), in_job(job);
  const auto a = nlohmann::json::parse(in_one), b = nlohmann::json::parse(in_job);
  REQUIRE(b.size() == a.size());
  for (const auto& [key, v] : a.items()) {
    INFO("key " << key);
    REQUIRE(b.contains(key));
    if (v.is_number()) CHECK(b[key].get<double>() == Approx(v.get<double>()).epsilon(1e-5).margin(1e-7));
    else if (!v.is_string() || v.get<std::string>().find(scratch.string()) == std::string::npos) CHECK(b[key] == v);
  }
}

}  // namespace tomograd::test
