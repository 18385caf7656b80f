#include "sync/wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

namespace hapf::sync {
namespace {

constexpr uint8_t kMagic[4] = {'H', 'S', 'Y', '1'};
constexpr size_t kMaxFiles = 4096;
constexpr size_t kMaxMessages = 4096;

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v) { Be(v, 2); }
  void U32(uint32_t v) { Be(v, 4); }
  void U64(uint64_t v) { Be(v, 8); }
  void Bytes(const uint8_t* p, size_t n) {
    if (n == 0) return;
    const size_t old = out_.size();
    out_.resize(old + n);
    std::memcpy(out_.data() + old, p, n);
  }
  void Str16(std::string_view s) {
    size_t n = std::min<size_t>(s.size(), 0xffff);
    U16(static_cast<uint16_t>(n));
    Bytes(reinterpret_cast<const uint8_t*>(s.data()), n);
  }
  void Str32(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    Bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }

 private:
  void Be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t>& out_;
};

// Reads fields; any read past the end sets failed() and yields zeros.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint8_t U8() { return static_cast<uint8_t>(Be(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Be(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Be(4)); }
  uint64_t U64() { return Be(8); }
  bool Bytes(uint8_t* dst, size_t n) {
    if (!Have(n)) return false;
    std::memcpy(dst, p_ + off_, n);
    off_ += n;
    return true;
  }
  bool Str(size_t n, std::string& out) {
    if (!Have(n)) return false;
    out.assign(reinterpret_cast<const char*>(p_ + off_), n);
    off_ += n;
    return true;
  }
  bool failed() const { return failed_; }
  bool at_end() const { return off_ == n_; }

 private:
  bool Have(size_t n) {
    if (failed_ || n > n_ - off_) {
      failed_ = true;
      return false;
    }
    return true;
  }
  uint64_t Be(size_t n) {
    if (!Have(n)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | p_[off_ + i];
    off_ += n;
    return v;
  }
  const uint8_t* p_;
  size_t n_;
  size_t off_ = 0;
  bool failed_ = false;
};

void Mac(const Key& key, const uint8_t* data, size_t n, uint8_t out[kMacSize]) {
  unsigned int len = kMacSize;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data, n, out, &len);
}

MsgType TypeOf(const Message& m) {
  switch (m.index()) {
    case 0: return MsgType::kHello;
    case 1: return MsgType::kOffer;
    case 2: return MsgType::kPull;
    case 3: return MsgType::kPush;
    case 4: return MsgType::kResult;
    default: return MsgType::kStatus;
  }
}

void EncodeBody(const Message& m, Writer& w) {
  if (const auto* h = std::get_if<Hello>(&m)) {
    w.Bytes(h->nonce.data(), h->nonce.size());
  } else if (const auto* o = std::get_if<Offer>(&m)) {
    w.U64(o->generation);
    w.Bytes(o->hash.data(), o->hash.size());
  } else if (const auto* p = std::get_if<Push>(&m)) {
    w.U64(p->bundle.generation);
    Hash digest = p->bundle.hash();
    w.Bytes(digest.data(), digest.size());
    w.U16(static_cast<uint16_t>(p->bundle.files.size()));
    for (const auto& [name, text] : p->bundle.files) {
      w.Str16(name);
      w.Str32(text);
    }
  } else if (const auto* r = std::get_if<Result>(&m)) {
    w.U8(static_cast<uint8_t>(r->status));
    w.U64(r->generation);
    w.Bytes(r->hash.data(), r->hash.size());
    w.U16(static_cast<uint16_t>(std::min<size_t>(r->messages.size(), kMaxMessages)));
    for (size_t i = 0; i < r->messages.size() && i < kMaxMessages; ++i) w.Str16(r->messages[i]);
  } else if (const auto* st = std::get_if<Status>(&m)) {
    w.Str32(std::string_view(st->text).substr(0, kMaxStatus));
  }
}

std::optional<Message> DecodeBody(MsgType type, Reader& r) {
  switch (type) {
    case MsgType::kHello: {
      Hello h;
      if (!r.Bytes(h.nonce.data(), h.nonce.size())) return std::nullopt;
      return h;
    }
    case MsgType::kOffer: {
      Offer o;
      o.generation = r.U64();
      if (!r.Bytes(o.hash.data(), o.hash.size())) return std::nullopt;
      return o;
    }
    case MsgType::kPull:
      return Pull{};
    case MsgType::kPush: {
      Push p;
      p.bundle.generation = r.U64();
      Hash claimed;
      if (!r.Bytes(claimed.data(), claimed.size())) return std::nullopt;
      uint16_t n = r.U16();
      if (r.failed() || n > kMaxFiles) return std::nullopt;
      std::string prev;
      for (uint16_t i = 0; i < n; ++i) {
        std::string name, text;
        if (!r.Str(r.U16(), name) || !r.Str(r.U32(), text)) return std::nullopt;
        // Canonical: names strictly ascending (no duplicates), each a file the
        // cluster may write.
        if (!IsSyncedFile(name) || (i > 0 && name <= prev)) return std::nullopt;
        prev = name;
        p.bundle.files.emplace(std::move(name), std::move(text));
      }
      if (p.bundle.hash() != claimed) return std::nullopt;
      return p;
    }
    case MsgType::kResult: {
      Result res;
      uint8_t s = r.U8();
      if (s > static_cast<uint8_t>(ResultStatus::kCurrent)) return std::nullopt;
      res.status = static_cast<ResultStatus>(s);
      res.generation = r.U64();
      if (!r.Bytes(res.hash.data(), res.hash.size())) return std::nullopt;
      uint16_t n = r.U16();
      for (uint16_t i = 0; i < n && !r.failed(); ++i) {
        std::string m;
        if (!r.Str(r.U16(), m)) return std::nullopt;
        res.messages.push_back(std::move(m));
      }
      if (r.failed()) return std::nullopt;
      return res;
    }
    case MsgType::kStatus: {
      Status st;
      const uint32_t n = r.U32();
      if (r.failed() || n > kMaxStatus || !r.Str(n, st.text)) return std::nullopt;
      return st;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view ResultName(ResultStatus s) {
  switch (s) {
    case ResultStatus::kApplied: return "applied";
    case ResultStatus::kRefused: return "refused";
    case ResultStatus::kConflict: return "conflict";
    case ResultStatus::kOlder: return "older";
    case ResultStatus::kCurrent: return "current";
  }
  return "?";
}

std::string_view DecodeErrorName(DecodeError e) {
  switch (e) {
    case DecodeError::kTruncated: return "truncated";
    case DecodeError::kBadMagic: return "bad header";
    case DecodeError::kBadMac: return "bad authenticator";
    case DecodeError::kMalformed: return "malformed";
  }
  return "?";
}

std::vector<uint8_t> EncodeFrame(const Frame& f, const Key& key) {
  std::vector<uint8_t> out;
  Writer w(out);
  w.Bytes(kMagic, sizeof kMagic);
  w.U8(static_cast<uint8_t>(TypeOf(f.message)));
  w.U8(0);
  w.U16(0);
  w.U32(f.sender);
  w.U64(f.counter);
  w.U32(0);  // body length, patched below
  EncodeBody(f.message, w);
  const size_t body = out.size() - kHeaderSize;
  for (int i = 0; i < 4; ++i) out[20 + i] = static_cast<uint8_t>(body >> (24 - 8 * i));
  uint8_t mac[kMacSize];
  Mac(key, out.data(), out.size(), mac);
  w.Bytes(mac, kMacSize);
  return out;
}

std::optional<size_t> FrameLength(const uint8_t* p, size_t available) {
  if (available < kHeaderSize) return std::nullopt;
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0 || p[4] < 1 || p[4] > 6 || p[5] != 0 || p[6] != 0 || p[7] != 0)
    return 0;
  uint32_t body = (uint32_t{p[20]} << 24) | (uint32_t{p[21]} << 16) | (uint32_t{p[22]} << 8) | p[23];
  if (body > kMaxBody) return 0;
  return kHeaderSize + body + kMacSize;
}

std::optional<MsgType> PeekType(const uint8_t* data, size_t size) {
  std::optional<size_t> len = FrameLength(data, size);
  if (!len || *len == 0) return std::nullopt;
  return static_cast<MsgType>(data[4]);
}

std::variant<Frame, DecodeError> DecodeFrame(const uint8_t* data, size_t size, const Key& key) {
  std::optional<size_t> len = FrameLength(data, size);
  if (!len) return DecodeError::kTruncated;
  if (*len == 0) return DecodeError::kBadMagic;
  if (size < *len) return DecodeError::kTruncated;
  if (size > *len) return DecodeError::kMalformed;
  uint8_t mac[kMacSize];
  Mac(key, data, size - kMacSize, mac);
  if (CRYPTO_memcmp(mac, data + size - kMacSize, kMacSize) != 0) return DecodeError::kBadMac;
  Reader r(data, size - kMacSize);
  uint8_t skip[8];
  r.Bytes(skip, 4);
  const auto type = static_cast<MsgType>(r.U8());
  r.Bytes(skip, 3);
  Frame f;
  f.sender = r.U32();
  f.counter = r.U64();
  r.U32();
  std::optional<Message> m = DecodeBody(type, r);
  if (!m || r.failed() || !r.at_end()) return DecodeError::kMalformed;
  f.message = std::move(*m);
  return f;
}

Key SessionKey(const Key& cluster_key, const Nonce& initiator, const Nonce& responder) {
  std::vector<uint8_t> input;
  constexpr std::string_view kLabel = "hapf-sync session";
  input.insert(input.end(), kLabel.begin(), kLabel.end());
  input.insert(input.end(), initiator.begin(), initiator.end());
  input.insert(input.end(), responder.begin(), responder.end());
  Key out(kMacSize);
  Mac(cluster_key, input.data(), input.size(), out.data());
  return out;
}

}  // namespace hapf::sync
