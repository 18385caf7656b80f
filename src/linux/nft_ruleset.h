// The nftables table through which hapf sees every packet: built as one
// nf_tables netlink batch (so install, replace and remove are atomic) and sent
// over libmnl. hapf only ever creates, replaces and deletes its own table
// (default `inet hapf`); other tables, including iptables-nft's `ip filter` etc.,
// are never touched.
//
// Queueing: this kernel family may lack the native nftables `queue` expression
// (CONFIG_NFT_QUEUE). Install() first tries it and, when the kernel does not
// know it, falls back to x_tables' NFQUEUE target through nft_compat. If both
// are missing Install() fails with a message that names the kernel options.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hapf::linux {

// Which netfilter hooks see a packet, i.e. how many queue crossings it costs.
enum class QueueLayout : uint8_t {
  // prerouting (in, on the receiving interface), forward (out, on the sending
  // interface) and output (out, locally generated): a forwarded packet crosses
  // twice, a local one once. An inbound rewrite (rdr-to) lands before routing.
  kSplit,
  // input (in), forward (in and out in one crossing), output (out): one
  // crossing for every packet, but an inbound rewrite cannot change routing.
  kOnce,
};

// RulesetSpec::control_queue when CARP and pfsync share the data queues.
inline constexpr int32_t kNoControlQueue = -1;

// How the queue expression is expressed to the kernel.
enum class QueueBackend : uint8_t { kNative, kCompatNfqueue };

struct RulesetSpec {
  std::string table = "hapf";
  QueueLayout layout = QueueLayout::kSplit;
  uint16_t queue_base = 0;
  uint16_t queue_count = 1;  // > 1: a range balanced by the kernel's flow hash
  // CARP (IP protocol 112) and pfsync (240), IPv4 and IPv6, go to this queue
  // of their own, ahead of the data range, so that data traffic filling the
  // data queues cannot starve them (pf still judges them: the queue's reader is
  // the same filter). kNoControlQueue: they share the data queues.
  int32_t control_queue = kNoControlQueue;
  // pfsync's syncdev: only pfsync arriving on it (or leaving by it) takes the
  // control queue; pfsync elsewhere waits in the data queues like any other
  // packet, so a flood of forged pfsync from another network cannot crowd out
  // CARP (pf and the pfsync node drop it there anyway). Empty: any interface.
  std::string sync_device;
  // Interfaces never queued (pf `set skip on`); "name*" matches a prefix.
  std::vector<std::string> skip = {"lo"};
  // Locally generated packets carrying this mark bit (hapf's own RST/ICMP
  // replies) are not queued again. 0 disables the exemption.
  uint32_t generated_mark = 0x48000000;
};

// The netlink batch (begin, messages, end) that atomically (re)creates the
// table: "new table; delete table; new table" so that a table left behind by a
// crashed process is replaced without an unfiltered gap. Pure; exposed for tests.
std::vector<uint8_t> BuildInstallBatch(const RulesetSpec& spec, QueueBackend backend, uint32_t seq);
// The batch that deletes the table.
std::vector<uint8_t> BuildRemoveBatch(const std::string& table, uint32_t seq);

// Names of the expressions of every rule in a batch, in order, e.g.
// {"notrack", "meta", "cmp", "immediate", ...}, for tests and diagnostics.
std::vector<std::string> BatchExpressionNames(std::span<const uint8_t> batch);

class Ruleset {
 public:
  explicit Ruleset(RulesetSpec spec) : spec_(std::move(spec)) {}
  Ruleset(const Ruleset&) = delete;
  Ruleset& operator=(const Ruleset&) = delete;
  // Does not remove the table: a process that ends without Remove() leaves its
  // queue rules in place and, with no reader, the kernel drops (fail closed).
  ~Ruleset() = default;

  // Installs (or atomically replaces) the table. Empty string on success, else
  // one line that explains what the kernel refused.
  std::string Install();
  // Deletes the table (no-op if absent). Empty string on success.
  std::string Remove();

  bool installed() const { return installed_; }
  QueueBackend backend() const { return backend_; }
  const RulesetSpec& spec() const { return spec_; }

 private:
  RulesetSpec spec_;
  QueueBackend backend_ = QueueBackend::kNative;
  bool installed_ = false;
};

// Sends one nf_tables batch and waits for every acknowledgement. Returns 0 or
// the first negative errno the kernel reported; `failed_index` is the index of
// the failing message in the batch (begin = 0) when known, else -1.
int SendNftBatch(std::span<const uint8_t> batch, int* failed_index);

}  // namespace hapf::linux
