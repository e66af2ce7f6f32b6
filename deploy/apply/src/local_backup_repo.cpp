// The pgBackRest repository of a local deployment: where it lives (outside the deployment
// directory), its configuration with the cipher passphrase, and running pgbackrest against it as
// the postgres user.
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "crm/error.hpp"
#include "crm/files.hpp"
#include "crm/text.hpp"
#include "local_deployment.hpp"

namespace crm::apply::local {

namespace fs = std::filesystem;

namespace {

// Gives `path` to the postgres user when we are root: pgbackrest runs as it.
void GiveToPostgres(const fs::path& path) {
  if (!AsRoot()) {
    return;
  }
  const passwd* pg = ::getpwnam("postgres");
  if (pg == nullptr || ::chown(path.c_str(), pg->pw_uid, pg->pw_gid) != 0) {
    throw RuntimeError(fmt::format("cannot give {} to the postgres user", path.string()));
  }
}

// The value of `key` in the repository's configuration, "" when absent.
std::string ConfValue(const fs::path& conf, const std::string& key) {
  for (const std::string& line : SplitLines(ReadFileIfExists(conf).value_or(""))) {
    if (line.starts_with(key + "=")) {
      return line.substr(key.size() + 1);
    }
  }
  return "";
}

// pgBackRest's compression runs on one core per process: a backup of 1 GB with gz on one process
// took 108 s on the 2-vCPU machine (docs/benchmarks.md, "Backup and restore").
int Processes() {
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  return static_cast<int>(std::clamp(cores, 1L, 4L));
}

}  // namespace

BackupRepo ChooseBackupRepo(const Layout& layout, const std::string& given,
                            const std::string& recorded) {
  if (!given.empty()) {
    const fs::path repo = fs::weakly_canonical(fs::absolute(given));
    const fs::path rel = repo.lexically_relative(layout.dir);
    if (!rel.empty() && *rel.begin() != "..") {
      throw InputError(fmt::format(
          "--backup-repo: {} is inside the deployment directory, which `destroy --purge` removes; "
          "choose a directory outside {}",
          repo.string(), layout.dir.string()));
    }
    return {repo};
  }
  if (!recorded.empty()) {
    return {fs::path(recorded)};
  }
  return {fs::path(layout.dir.string() + ".backups")};
}

std::string ArchiveCommand(const BackupRepo& repo) {
  return fmt::format("pgbackrest --config={} --stanza={} archive-push %p", repo.Conf().string(),
                     kStanza);
}

std::string BackupPassphrase(const Layout& layout, const BackupRepo& repo) {
  if (const auto kept = ReadFileIfExists(layout.BackupPassphrase())) {
    const std::string pass = TrimLine(*kept);
    if (!pass.empty()) {
      return pass;
    }
  }
  if (const std::string pass = ConfValue(repo.Conf(), "repo1-cipher-pass"); !pass.empty()) {
    return pass;
  }
  return RandomSecret() + RandomSecret();
}

void WriteBackupConfig(const Layout& layout, const BackupRepo& repo, const std::string& passphrase,
                       int pg_port, int retention_full) {
  CheckPostgresCanReach(repo.root.parent_path());
  for (const fs::path& d : {repo.root, repo.Repo(), repo.root / "log", repo.root / "lock"}) {
    fs::create_directories(d);
    ::chmod(d.c_str(), 0700);
    GiveToPostgres(d);
  }
  fs::create_directories(repo.Files());
  ::chmod(repo.Files().c_str(), 0700);
  // The passphrase lives beside the repository too: `destroy --purge` removes secrets/, and a
  // repository nobody can decrypt is no backup (docs/operations.md, "Backups").
  const std::string conf = fmt::format(
      "# crmctl apply --target local: pgBackRest for {dir}\n"
      "[global]\n"
      "repo1-path={repo}\n"
      "repo1-cipher-type=aes-256-cbc\n"
      "repo1-cipher-pass={pass}\n"
      "repo1-retention-full={retention}\n"
      "compress-type=zst\n"
      "process-max={processes}\n"
      "log-path={root}/log\n"
      "lock-path={root}/lock\n"
      "log-level-console=warn\n"
      "log-level-file=info\n"
      "start-fast=y\n"
      "\n"
      "[{stanza}]\n"
      "pg1-path={pgdata}\n"
      "pg1-port={port}\n"
      "pg1-socket-path={socket}\n"
      "pg1-user={user}\n",
      fmt::arg("dir", layout.dir.string()), fmt::arg("repo", repo.Repo().string()),
      fmt::arg("pass", passphrase), fmt::arg("retention", retention_full),
      fmt::arg("root", repo.root.string()), fmt::arg("stanza", kStanza),
      fmt::arg("processes", Processes()), fmt::arg("pgdata", layout.PgData().string()),
      fmt::arg("port", pg_port), fmt::arg("socket", layout.Pg().string()),
      fmt::arg("user", Superuser()));
  WriteFileAtomic(repo.Conf(), conf, 0600);
  GiveToPostgres(repo.Conf());
  if (fs::exists(layout.Secrets())) {
    WriteFileAtomic(layout.BackupPassphrase(), passphrase + "\n", 0600);
  }
}

bool StanzaExists(const BackupRepo& repo) {
  return fs::exists(repo.Repo() / "backup" / kStanza / "backup.info");
}

tools::ToolResult PgBackRest(const BackupRepo& repo, const std::vector<std::string>& args,
                             std::chrono::seconds timeout) {
  const auto binary = tools::FindTool("pgbackrest");
  if (!binary) {
    throw RuntimeError(
        "pgbackrest is not installed (Debian's pgbackrest package; scripts/bootstrap installs it)");
  }
  tools::ProcessSpec spec;
  spec.argv = {*binary, "--config=" + repo.Conf().string(), fmt::format("--stanza={}", kStanza)};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.cwd = repo.root.string();
  spec.timeout = timeout;
  spec.as_postgres = true;
  return tools::RunProcess(spec);
}

std::string PgBackRestOrThrow(const BackupRepo& repo, const std::vector<std::string>& args,
                              std::chrono::seconds timeout, const std::string& what) {
  const tools::ToolResult r = PgBackRest(repo, args, timeout);
  if (r.exit_code != 0) {
    throw RuntimeError(fmt::format("{} failed (pgbackrest exit {}{}): {}\n  logs in {}/log", what,
                                   r.exit_code, r.timed_out ? ", timed out" : "", r.output,
                                   repo.root.string()));
  }
  return r.output;
}

}  // namespace crm::apply::local
