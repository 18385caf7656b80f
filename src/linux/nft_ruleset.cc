#include "linux/nft_ruleset.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <net/if.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "linux/netlink_util.h"

namespace hapf::linux {
namespace {

constexpr int kPriorityRaw = -300;  // NF_IP_PRI_RAW: before conntrack (-200)
constexpr int kPriorityFilter = 0;
constexpr uint8_t kIpProtoCarp = 112;
constexpr uint8_t kIpProtoPfsync = 240;

// Builds one nf_tables batch in a growing buffer.
class BatchBuilder {
 public:
  explicit BatchBuilder(uint32_t seq) : seq_(seq) { buf_.resize(1 << 16); Control(NFNL_MSG_BATCH_BEGIN); }

  nlmsghdr* Begin(uint16_t type, uint16_t family, uint16_t flags) {
    Reserve();
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.data() + used_);
    nlh->nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | type);
    nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    nlh->nlmsg_seq = seq_++;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = static_cast<uint8_t>(family);
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    return nlh;
  }
  void End(nlmsghdr* nlh) { used_ += nlh->nlmsg_len; }

  std::vector<uint8_t> Finish() {
    Control(NFNL_MSG_BATCH_END);
    buf_.resize(used_);
    return std::move(buf_);
  }

 private:
  void Reserve() {
    // Every message here is far below 8 KiB; keep that much headroom.
    if (buf_.size() - used_ < 8192) buf_.resize(buf_.size() * 2);
  }
  void Control(uint16_t type) {
    Reserve();
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.data() + used_);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = seq_++;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
    used_ += nlh->nlmsg_len;
  }

  std::vector<uint8_t> buf_;
  size_t used_ = 0;
  uint32_t seq_;
};

void PutTable(BatchBuilder& b, uint16_t type, const std::string& table, uint16_t flags) {
  nlmsghdr* nlh = b.Begin(type, NFPROTO_INET, flags);
  mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table.c_str());
  if (type == NFT_MSG_NEWTABLE) mnl_attr_put_u32(nlh, NFTA_TABLE_FLAGS, htonl(0));
  b.End(nlh);
}

void PutChain(BatchBuilder& b, const std::string& table, const char* name, int hook, int priority) {
  nlmsghdr* nlh = b.Begin(NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE);
  mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, table.c_str());
  mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, name);
  nlattr* hk = mnl_attr_nest_start(nlh, NFTA_CHAIN_HOOK);
  mnl_attr_put_u32(nlh, NFTA_HOOK_HOOKNUM, htonl(static_cast<uint32_t>(hook)));
  mnl_attr_put_u32(nlh, NFTA_HOOK_PRIORITY, htonl(static_cast<uint32_t>(priority)));
  mnl_attr_nest_end(nlh, hk);
  mnl_attr_put_strz(nlh, NFTA_CHAIN_TYPE, "filter");
  mnl_attr_put_u32(nlh, NFTA_CHAIN_POLICY, htonl(NF_ACCEPT));
  b.End(nlh);
}

// One rule under construction: expressions are appended between Open/Close.
class RuleWriter {
 public:
  RuleWriter(BatchBuilder& b, const std::string& table, const char* chain) : b_(b) {
    nlh_ = b.Begin(NFT_MSG_NEWRULE, NFPROTO_INET, NLM_F_CREATE | NLM_F_APPEND);
    mnl_attr_put_strz(nlh_, NFTA_RULE_TABLE, table.c_str());
    mnl_attr_put_strz(nlh_, NFTA_RULE_CHAIN, chain);
    list_ = mnl_attr_nest_start(nlh_, NFTA_RULE_EXPRESSIONS);
  }
  ~RuleWriter() {
    mnl_attr_nest_end(nlh_, list_);
    b_.End(nlh_);
  }

  void Notrack() { Close(Open("notrack")); }

  void MetaLoad(uint32_t key) {
    nlattr* d = Open("meta");
    mnl_attr_put_u32(nlh_, NFTA_META_DREG, htonl(NFT_REG_1));
    mnl_attr_put_u32(nlh_, NFTA_META_KEY, htonl(key));
    Close(d);
  }
  void CmpEq(const void* data, size_t len) {
    nlattr* d = Open("cmp");
    mnl_attr_put_u32(nlh_, NFTA_CMP_SREG, htonl(NFT_REG_1));
    mnl_attr_put_u32(nlh_, NFTA_CMP_OP, htonl(NFT_CMP_EQ));
    nlattr* v = mnl_attr_nest_start(nlh_, NFTA_CMP_DATA);
    mnl_attr_put(nlh_, NFTA_DATA_VALUE, len, data);
    mnl_attr_nest_end(nlh_, v);
    Close(d);
  }
  void And32(uint32_t mask) {
    nlattr* d = Open("bitwise");
    mnl_attr_put_u32(nlh_, NFTA_BITWISE_SREG, htonl(NFT_REG_1));
    mnl_attr_put_u32(nlh_, NFTA_BITWISE_DREG, htonl(NFT_REG_1));
    mnl_attr_put_u32(nlh_, NFTA_BITWISE_LEN, htonl(4));
    const uint32_t zero = 0;
    nlattr* m = mnl_attr_nest_start(nlh_, NFTA_BITWISE_MASK);
    mnl_attr_put(nlh_, NFTA_DATA_VALUE, 4, &mask);
    mnl_attr_nest_end(nlh_, m);
    nlattr* x = mnl_attr_nest_start(nlh_, NFTA_BITWISE_XOR);
    mnl_attr_put(nlh_, NFTA_DATA_VALUE, 4, &zero);
    mnl_attr_nest_end(nlh_, x);
    Close(d);
  }
  void Accept() {
    nlattr* d = Open("immediate");
    mnl_attr_put_u32(nlh_, NFTA_IMMEDIATE_DREG, htonl(NFT_REG_VERDICT));
    nlattr* data = mnl_attr_nest_start(nlh_, NFTA_IMMEDIATE_DATA);
    nlattr* verdict = mnl_attr_nest_start(nlh_, NFTA_DATA_VERDICT);
    mnl_attr_put_u32(nlh_, NFTA_VERDICT_CODE, htonl(NF_ACCEPT));
    mnl_attr_nest_end(nlh_, verdict);
    mnl_attr_nest_end(nlh_, data);
    Close(d);
  }
  // No bypass flag: with no reader bound the kernel drops (fail closed).
  void Queue(QueueBackend backend, uint16_t base, uint16_t count) {
    if (backend == QueueBackend::kNative) {
      nlattr* d = Open("queue");
      mnl_attr_put_u16(nlh_, NFTA_QUEUE_NUM, htons(base));
      mnl_attr_put_u16(nlh_, NFTA_QUEUE_TOTAL, htons(count));
      mnl_attr_put_u16(nlh_, NFTA_QUEUE_FLAGS, htons(0));
      Close(d);
      return;
    }
    // x_tables' target payload is the native-endian struct, padded to 8 bytes
    // (XT_ALIGN) as the kernel checks; written field by field.
    uint8_t info[8] = {};
    const uint16_t fields[3] = {base, count, 0};
    std::memcpy(info, fields, sizeof(fields));
    nlattr* d = Open("target");
    mnl_attr_put_strz(nlh_, NFTA_TARGET_NAME, "NFQUEUE");
    mnl_attr_put_u32(nlh_, NFTA_TARGET_REV, htonl(3));
    mnl_attr_put(nlh_, NFTA_TARGET_INFO, sizeof(info), info);
    Close(d);
  }

 private:
  nlattr* Open(const char* name) {
    elem_ = mnl_attr_nest_start(nlh_, NFTA_LIST_ELEM);
    mnl_attr_put_strz(nlh_, NFTA_EXPR_NAME, name);
    return mnl_attr_nest_start(nlh_, NFTA_EXPR_DATA);
  }
  void Close(nlattr* data) {
    mnl_attr_nest_end(nlh_, data);
    mnl_attr_nest_end(nlh_, elem_);
  }

  BatchBuilder& b_;
  nlmsghdr* nlh_;
  nlattr* list_;
  nlattr* elem_ = nullptr;
};

// An interface name as nftables compares it whole: NUL-padded to IFNAMSIZ.
void PadIfName(const std::string& name, char (&padded)[IFNAMSIZ]) {
  std::memcpy(padded, name.data(), std::min(name.size(), sizeof(padded) - 1));
}

void PutSkipRules(BatchBuilder& b, const RulesetSpec& spec, const char* chain, uint32_t meta_key) {
  for (const std::string& name : spec.skip) {
    if (name.empty()) continue;
    char padded[IFNAMSIZ] = {};
    size_t len;
    if (name.back() == '*') {  // prefix match: compare only the prefix bytes
      len = std::min(name.size() - 1, sizeof(padded) - 1);
      if (len == 0) continue;
      std::memcpy(padded, name.data(), len);
    } else {
      PadIfName(name, padded);
      len = sizeof(padded);
    }
    RuleWriter r(b, spec.table, chain);
    r.MetaLoad(meta_key);
    r.CmpEq(padded, len);
    r.Accept();
  }
}

void PutGeneratedExemption(BatchBuilder& b, const RulesetSpec& spec, const char* chain) {
  if (spec.generated_mark == 0) return;
  RuleWriter r(b, spec.table, chain);
  r.MetaLoad(NFT_META_MARK);
  r.And32(spec.generated_mark);
  r.CmpEq(&spec.generated_mark, 4);
  r.Accept();
}

void PutNotrack(BatchBuilder& b, const RulesetSpec& spec, const char* chain) {
  RuleWriter r(b, spec.table, chain);
  r.Notrack();
}

// `meta l4proto {112, 240} queue num control_queue`, one rule per protocol
// (no anonymous set to create). l4proto is the transport protocol after any
// IPv6 extension headers, so it holds for both families. pfsync only on the
// syncdev when one is given (`iface_key`: the chain's interface, in or out).
void PutControlQueue(BatchBuilder& b, const RulesetSpec& spec, QueueBackend backend, const char* chain,
                     uint32_t iface_key) {
  if (spec.control_queue < 0 || spec.control_queue > 0xffff) return;
  for (const uint8_t proto : {kIpProtoCarp, kIpProtoPfsync}) {
    RuleWriter r(b, spec.table, chain);
    if (proto == kIpProtoPfsync && !spec.sync_device.empty()) {
      char padded[IFNAMSIZ] = {};
      PadIfName(spec.sync_device, padded);
      r.MetaLoad(iface_key);
      r.CmpEq(padded, sizeof padded);
    }
    r.MetaLoad(NFT_META_L4PROTO);
    r.CmpEq(&proto, 1);
    r.Queue(backend, static_cast<uint16_t>(spec.control_queue), 1);
  }
}

void PutQueue(BatchBuilder& b, const RulesetSpec& spec, QueueBackend backend, const char* chain) {
  PutControlQueue(b, spec, backend, chain,
                  std::string_view(chain) == "output" ? NFT_META_OIFNAME : NFT_META_IIFNAME);
  RuleWriter r(b, spec.table, chain);
  r.Queue(backend, spec.queue_base, spec.queue_count == 0 ? 1 : spec.queue_count);
}

}  // namespace

std::vector<uint8_t> BuildInstallBatch(const RulesetSpec& spec, QueueBackend backend, uint32_t seq) {
  BatchBuilder b(seq);
  PutTable(b, NFT_MSG_NEWTABLE, spec.table, NLM_F_CREATE);
  PutTable(b, NFT_MSG_DELTABLE, spec.table, 0);
  PutTable(b, NFT_MSG_NEWTABLE, spec.table, NLM_F_CREATE);

  // Conntrack is kept out of the way on both entry points of the stack.
  PutChain(b, spec.table, "prerouting", NF_INET_PRE_ROUTING, kPriorityRaw);
  PutChain(b, spec.table, "output", NF_INET_LOCAL_OUT, kPriorityRaw);
  PutChain(b, spec.table, "forward", NF_INET_FORWARD, kPriorityFilter);
  if (spec.layout == QueueLayout::kOnce) PutChain(b, spec.table, "input", NF_INET_LOCAL_IN, kPriorityFilter);

  PutNotrack(b, spec, "prerouting");
  PutNotrack(b, spec, "output");
  PutGeneratedExemption(b, spec, "output");
  PutSkipRules(b, spec, "output", NFT_META_OIFNAME);
  PutQueue(b, spec, backend, "output");
  if (spec.layout == QueueLayout::kSplit) {
    PutSkipRules(b, spec, "prerouting", NFT_META_IIFNAME);
    PutQueue(b, spec, backend, "prerouting");
    PutSkipRules(b, spec, "forward", NFT_META_OIFNAME);
  } else {
    PutSkipRules(b, spec, "input", NFT_META_IIFNAME);
    PutQueue(b, spec, backend, "input");
    // Forwarded packets cross once; the data plane applies the skip list to
    // each direction separately.
  }
  PutQueue(b, spec, backend, "forward");
  return b.Finish();
}

std::vector<uint8_t> BuildRemoveBatch(const std::string& table, uint32_t seq) {
  BatchBuilder b(seq);
  // Creating first makes the delete succeed when the table is already gone.
  PutTable(b, NFT_MSG_NEWTABLE, table, NLM_F_CREATE);
  PutTable(b, NFT_MSG_DELTABLE, table, 0);
  return b.Finish();
}

std::vector<std::string> BatchExpressionNames(std::span<const uint8_t> batch) {
  std::vector<std::string> names;
  const void* buf = batch.data();
  int len = static_cast<int>(batch.size());
  for (auto* nlh = static_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
    if ((nlh->nlmsg_type & 0xff) != NFT_MSG_NEWRULE || (nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) continue;
    ForEachMsgAttr(nlh, sizeof(nfgenmsg), [&](const nlattr* attr) {
      if (mnl_attr_get_type(attr) != NFTA_RULE_EXPRESSIONS) return;
      ForEachNested(attr, [&](const nlattr* elem) {
        ForEachNested(elem, [&](const nlattr* field) {
          if (mnl_attr_get_type(field) == NFTA_EXPR_NAME && mnl_attr_validate(field, MNL_TYPE_NUL_STRING) == 0) {
            names.emplace_back(mnl_attr_get_str(field));
          }
        });
      });
    });
  }
  return names;
}

int SendNftBatch(std::span<const uint8_t> batch, int* failed_index) {
  if (failed_index) *failed_index = -1;
  NetlinkSocket sock(NETLINK_NETFILTER);
  if (!sock.ok()) return -errno;
  // Every message but the batch begin/end asks for an acknowledgement.
  int expected = 0;
  uint32_t first_seq = 0;
  {
    int len = static_cast<int>(batch.size());
    bool first = true;
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (first) first_seq = nlh->nlmsg_seq;
      first = false;
      if (nlh->nlmsg_flags & NLM_F_ACK) ++expected;
    }
  }
  if (mnl_socket_sendto(sock.get(), batch.data(), batch.size()) < 0) return -errno;
  int first_error = 0;
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
  while (expected > 0) {
    pollfd pfd{mnl_socket_get_fd(sock.get()), POLLIN, 0};
    if (poll(&pfd, 1, 2000) <= 0) return first_error != 0 ? first_error : -ETIMEDOUT;
    ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
    if (n < 0) return -errno;
    int len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_type != NLMSG_ERROR) continue;
      --expected;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error != 0 && first_error == 0) {
        first_error = err->error;
        if (failed_index) *failed_index = static_cast<int>(nlh->nlmsg_seq - first_seq);
      }
    }
  }
  return first_error;
}

std::string Ruleset::Install() {
  int err = 0, failed = -1;
  for (QueueBackend backend : {QueueBackend::kNative, QueueBackend::kCompatNfqueue}) {
    std::vector<uint8_t> batch = BuildInstallBatch(spec_, backend, 1);
    err = SendNftBatch(batch, &failed);
    if (err == 0) {
      backend_ = backend;
      installed_ = true;
      return {};
    }
    // ENOENT / EOPNOTSUPP on a rule: the kernel lacks that expression; try the
    // next way of queueing. Anything else is a real failure.
    if (err != -ENOENT && err != -EOPNOTSUPP) {
      return "nftables refused table " + spec_.table + " (message " + std::to_string(failed) +
             "): " + std::strerror(-err);
    }
  }
  return "this kernel can queue packets neither with the nftables queue expression (CONFIG_NFT_QUEUE) nor with "
         "the x_tables NFQUEUE target through nft_compat (CONFIG_NETFILTER_XT_TARGET_NFQUEUE, CONFIG_NFT_COMPAT); "
         "last refusal: " + std::string(std::strerror(-err)) + " at batch message " + std::to_string(failed);
}

std::string Ruleset::Remove() {
  std::vector<uint8_t> batch = BuildRemoveBatch(spec_.table, 1);
  int err = SendNftBatch(batch, nullptr);
  if (err != 0) return "removing table " + spec_.table + ": " + std::strerror(-err);
  installed_ = false;
  return {};
}

}  // namespace hapf::linux
