#include "crm/render/write.hpp"

#include <fmt/format.h>

#include "crm/error.hpp"
#include "crm/files.hpp"

namespace crm::render {
namespace {

namespace fs = std::filesystem;

void PrepareOutput(const fs::path& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw InputError(fmt::format("--out: {} exists and is not a directory", dir.string()));
  }
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    if (!force) {
      throw InputError(fmt::format(
          "--out: {} is not empty; pass --force to replace an earlier rendering", dir.string()));
    }
    if (!fs::exists(dir / "manifest.json")) {
      throw InputError(fmt::format(
          "--out: {} has no manifest.json, so it is not a crmctl rendering; refusing to empty it "
          "even with --force",
          dir.string()));
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      fs::remove_all(entry.path());
    }
  }
  fs::create_directories(dir, ec);
  if (ec) {
    throw RuntimeError(fmt::format("--out: cannot create {}: {}", dir.string(), ec.message()));
  }
}

}  // namespace

void WriteRendering(const fs::path& dir, const planner::Plan& plan, const Rendering& rendering,
                    const RenderOptions& options, bool force) {
  PrepareOutput(dir, force);
  // Created with the final mode, so a secret-bearing file is never readable by others, not even
  // for a moment.
  for (const RenderedFile& f : rendering.files) {
    WriteFileAtomic(dir / f.path, f.content, f.mode);
  }
  WriteFileAtomic(dir / "manifest.json", ManifestJson(plan, rendering, options).dump(2) + "\n",
                  0644);
}

}  // namespace crm::render
