// hapfd: the hapf daemon (see docs/daemon.md).
#include "daemon/daemon.h"

int main(int argc, char** argv) { return hapf::daemon::HapfdMain(argc, argv); }
