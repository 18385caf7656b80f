// The status page's files (src/daemon/web/), embedded at build time by
// observe.cmake so the firewall serves them without any external asset.
#pragma once

#include <string_view>

namespace hapf::daemon::web {

extern const std::string_view kIndexHtml;  // the status page (after login)
extern const std::string_view kLoginHtml;  // the login form
extern const std::string_view kAppJs;
extern const std::string_view kStyleCss;

}  // namespace hapf::daemon::web
