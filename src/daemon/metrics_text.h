// Prometheus text exposition (format 0.0.4) of a daemon status snapshot.
// The snapshot is plain JSON built on the main loop (ObserveSnapshot in
// observe_status.h): {"filter": {...}, "components": {"carp": ..., ...}}; the
// renderer is pure so the HTTP thread can run it and tests can feed fakes.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace hapf::daemon {

// The /metrics body. Unknown or missing parts are left out, never guessed.
std::string RenderMetrics(const nlohmann::json& snapshot);

// A label value escaped as the exposition format wants (\\, \", \n).
std::string EscapeLabel(const std::string& value);

}  // namespace hapf::daemon
