#include "sync/bundle.h"

#include <openssl/evp.h>

#include <cctype>
#include <sstream>
#include <vector>

namespace hapf::sync {
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsCarpFile(std::string_view name) {
  constexpr std::string_view kPrefix = "hostname.carp";
  return name.substr(0, kPrefix.size()) == kPrefix && AllDigits(name.substr(kPrefix.size()));
}

// The interface a hostname.* file configures ("carp0"), or "" for others.
std::string IfaceOf(std::string_view name) {
  if (IsCarpFile(name) || name == "hostname.pfsync0") return std::string(name.substr(9));
  return {};
}

// The words of `iface`'s file that are node-local.
bool IsLocalWord(std::string_view iface, std::string_view word) {
  if (iface.substr(0, 4) == "carp") return word == "advskew" || word == "carpdev";
  if (iface == "pfsync0") return word == "syncdev" || word == "syncpeer";
  return false;
}

std::vector<std::string> Words(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

void PutLen(EVP_MD_CTX* ctx, uint64_t n) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(n >> (56 - 8 * i));
  EVP_DigestUpdate(ctx, b, sizeof b);
}

}  // namespace

Hash Bundle::hash() const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  PutLen(ctx, files.size());
  for (const auto& [name, text] : files) {
    PutLen(ctx, name.size());
    EVP_DigestUpdate(ctx, name.data(), name.size());
    PutLen(ctx, text.size());
    EVP_DigestUpdate(ctx, text.data(), text.size());
  }
  Hash h;
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, h.data(), &len);
  EVP_MD_CTX_free(ctx);
  return h;
}

std::string HashPrefix(const Hash& h, size_t bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes && i < h.size(); ++i) {
    out += kHex[h[i] >> 4];
    out += kHex[h[i] & 15];
  }
  return out;
}

bool IsSyncedFile(std::string_view name) {
  if (name.empty() || name.size() > 255 || name[0] == '.') return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  }
  if (name == "pf.conf" || name == "hostname.pfsync0" || IsCarpFile(name)) return true;
  constexpr std::string_view kTable = ".table";
  return name.size() > kTable.size() && name.substr(name.size() - kTable.size()) == kTable;
}

std::optional<LocalOverrides> ParseLocalConf(std::string_view text, std::string& error) {
  LocalOverrides out;
  std::istringstream in{std::string(text)};
  std::string line;
  int nr = 0;
  while (std::getline(in, line)) {
    ++nr;
    if (size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string> w = Words(line);
    if (w.empty()) continue;
    const std::string where = "local.conf:" + std::to_string(nr) + ": ";
    if (w.size() != 3) {
      error = where + "expected IFACE WORD VALUE (e.g. carp0 advskew 100)";
      return std::nullopt;
    }
    if (!IsLocalWord(w[0], w[1]) || (w[0] != "pfsync0" && !AllDigits(std::string_view(w[0]).substr(4)))) {
      error = where + w[0] + " " + w[1] + " is not a node-local setting (carpN advskew|carpdev, pfsync0 syncdev|syncpeer)";
      return std::nullopt;
    }
    out.words[w[0]][w[1]] = w[2];
  }
  return out;
}

std::string StripLocal(std::string_view name, std::string_view text) {
  const std::string iface = IfaceOf(name);
  if (iface.empty()) return std::string(text);
  std::string out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::string comment;
    if (size_t hash = line.find('#'); hash != std::string::npos) {
      comment = line.substr(hash);
      line.resize(hash);
    }
    std::vector<std::string> w = Words(line);
    if (w.empty()) {
      out += comment.empty() ? line : comment;
      out += '\n';
      continue;
    }
    std::string kept;
    for (size_t i = 0; i < w.size(); ++i) {
      if (IsLocalWord(iface, w[i]) && i + 1 < w.size()) {
        ++i;  // the word and its value
        continue;
      }
      kept += kept.empty() ? w[i] : " " + w[i];
    }
    if (kept.empty() && comment.empty()) continue;
    out += kept;
    if (!comment.empty()) out += (kept.empty() ? "" : " ") + comment;
    out += '\n';
  }
  return out;
}

std::string MergeLocal(std::string_view name, std::string_view cluster_text, std::string_view current,
                       const LocalOverrides& local) {
  const std::string iface = IfaceOf(name);
  std::string out(cluster_text);
  if (iface.empty()) return out;
  // The node's current local words, in order of appearance; local.conf wins.
  std::vector<std::pair<std::string, std::string>> words;
  auto set = [&](const std::string& k, const std::string& v) {
    for (auto& kv : words) {
      if (kv.first == k) {
        kv.second = v;
        return;
      }
    }
    words.emplace_back(k, v);
  };
  std::istringstream in{std::string(current)};
  std::string line;
  while (std::getline(in, line)) {
    if (size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string> w = Words(line);
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      if (IsLocalWord(iface, w[i])) set(w[i], w[i + 1]), ++i;
    }
  }
  if (auto it = local.words.find(iface); it != local.words.end()) {
    for (const auto& [k, v] : it->second) set(k, v);
  }
  if (words.empty()) return out;
  if (!out.empty() && out.back() != '\n') out += '\n';
  std::string merged;
  for (const auto& [k, v] : words) merged += (merged.empty() ? "" : " ") + k + " " + v;
  out += merged + "\n";  // no comment: StripLocal must give back cluster_text exactly
  return out;
}

}  // namespace hapf::sync
