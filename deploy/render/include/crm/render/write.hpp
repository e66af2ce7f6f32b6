// Writing a rendering to disk: its files with their final modes, and manifest.json beside them
// (what `crmctl validate` and `crmctl apply` read back).
#pragma once

#include <filesystem>

#include "crm/planner/plan.hpp"
#include "crm/render/render.hpp"

namespace crm::render {

/// Writes `rendering` and its manifest.json into `dir`: a new or empty directory, or with
/// `force` an earlier rendering (one with a manifest.json), which is emptied first. Files are
/// created with their final mode. Throws InputError naming --out when `dir` is not one of these,
/// RuntimeError when it cannot write.
void WriteRendering(const std::filesystem::path& dir, const planner::Plan& plan,
                    const Rendering& rendering, const RenderOptions& options, bool force);

}  // namespace crm::render
