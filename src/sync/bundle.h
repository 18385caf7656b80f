// The cluster-wide part of a configuration directory, as one versioned
// bundle: the files every node shares (pf.conf, *.table, hostname.carpN and
// hostname.pfsync0 with their node-local words removed), a generation that
// only grows, and the SHA-256 of the content. Node-local words (advskew,
// carpdev, syncdev, syncpeer) come back from the node's own files or from its
// local.conf when a bundle is written out. Pure: no file system here.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hapf::sync {

using Hash = std::array<uint8_t, 32>;

struct Bundle {
  uint64_t generation = 0;
  // File name (no directory) -> contents, node-local words already stripped.
  std::map<std::string, std::string> files;
  // SHA-256 over the files (names and contents, length-prefixed, in name
  // order); the generation is not part of it.
  Hash hash() const;
};

// Hex of the first `bytes` bytes ("3fa2c91b" for 4).
std::string HashPrefix(const Hash& h, size_t bytes = 4);

// Whether a file of the configuration directory belongs to the cluster.
// hapfd.conf (keys, addresses), local.conf and sync.state never do.
bool IsSyncedFile(std::string_view name);

// Node-local overrides: local.conf, one `IFACE WORD VALUE` per line, e.g.
// `carp0 advskew 100`, `carp0 carpdev eth1`, `pfsync0 syncpeer 192.0.2.2`.
// Only the node-local words are allowed.
struct LocalOverrides {
  // iface -> (word -> value), in file order per iface.
  std::map<std::string, std::map<std::string, std::string>> words;
};
std::optional<LocalOverrides> ParseLocalConf(std::string_view text, std::string& error);

// The cluster-wide text of a synced file: for hostname.carpN the words
// `advskew N` and `carpdev IF`, for hostname.pfsync0 `syncdev IF` and
// `syncpeer ADDR` are removed (a line left empty is dropped); other files are
// returned unchanged.
std::string StripLocal(std::string_view name, std::string_view text);

// The file a node writes for a received cluster-wide text: the text, then a
// line with this node's local words for the interface — from local.conf when
// it names them, else the ones in the node's current file (`current`, may be
// empty). Lines are ifconfig commands, so a trailing `advskew 100` line works.
std::string MergeLocal(std::string_view name, std::string_view cluster_text, std::string_view current,
                       const LocalOverrides& local);

}  // namespace hapf::sync
