// tools/pfsync.lua (the Wireshark dissector hapf ships) must agree with hapf's
// decoder on every vector and on IPv6, syncauth and multi-region packets.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <sstream>

#include "run_command.h"
#include "pfsync/auth.h"
#include "pfsync/pcap.h"
#include "pfsync/test_support.h"

namespace hapf::pfsync {
namespace {

// "len<TAB>id,id,...<TAB>creatorid,..." per frame, as tshark -T fields prints it.
std::string Expected(const std::vector<PcapFrame>& frames) {
  std::string out;
  for (const PcapFrame& f : frames) {
    std::span<const uint8_t> body(f.bytes.data() + 20, f.bytes.size() - 20);
    size_t len = (size_t{body[2]} << 8) | body[3];
    DecodedPacket d;
    EXPECT_EQ(DecodePacket(body.first(len), d), DecodeError::kNone);
    std::vector<std::string> ids, creators;
    for (const Region& r : d.regions) {
      for (size_t i = 0; i < r.count; ++i) {
        switch (static_cast<Action>(r.action)) {
          case Action::kIns:
          case Action::kUpd:
          case Action::kDel:
            ids.push_back(fmt::format("0x{:016x}", d.states[r.first + i].id));
            creators.push_back(fmt::format("0x{:08x}", d.states[r.first + i].creatorid));
            break;
          case Action::kUpdC:
            ids.push_back(fmt::format("0x{:016x}", d.upd_c[r.first + i].id));
            creators.push_back(fmt::format("0x{:08x}", d.upd_c[r.first + i].creatorid));
            break;
          case Action::kClr: creators.push_back(fmt::format("0x{:08x}", d.clr[r.first + i].creatorid)); break;
          case Action::kBus: creators.push_back(fmt::format("0x{:08x}", d.bus[r.first + i].creatorid)); break;
          default:
            ids.push_back(fmt::format("0x{:016x}", d.ids[r.first + i].id));
            creators.push_back(fmt::format("0x{:08x}", d.ids[r.first + i].creatorid));
        }
      }
    }
    if (body.size() - len == kAuthTrailerSize)
      creators.push_back(fmt::format("0x{:08x}", (uint32_t{body[len + 4]} << 24) | (body[len + 5] << 16) |
                                                     (body[len + 6] << 8) | body[len + 7]));
    out += fmt::format("{}\t{}\t{}\n", len, fmt::join(ids, ","), fmt::join(creators, ","));
  }
  return out;
}

std::string Tshark(const std::string& pcap, const std::string& extra = "") {
  std::string cmd = "tshark -X lua_script:" HAPF_SOURCE_DIR "/tools/pfsync.lua -r " + pcap +
                    " -T fields -e pfsync.len -e pfsync.id -e pfsync.creatorid" + extra + " 2>/dev/null";
  int status = -1;
  std::string out = hapf::testing::RunShell(cmd, &status);
  EXPECT_EQ(status, 0) << "tshark failed: " << cmd;
  return out;
}

TEST(PfsyncDissector, AgreesWithTheDecoderOnEveryVector) {
  // One tshark run over all vectors' frames (tshark starts slowly).
  std::vector<PcapFrame> frames;
  for (const char* name : {"pfsync_bulk_request", "pfsync_bulk_transfer", "pfsync_bulk_transfer_mtu1500",
                           "pfsync_clr", "pfsync_ins_ack", "pfsync_ins_tcp", "pfsync_upd_c_del_c",
                           "pfsync_upd_req_one"})
    ASSERT_TRUE(ReadPcapIpv4(testing::VectorPath(std::string(name) + ".pcap"), frames, nullptr)) << name;
  ASSERT_EQ(frames.size(), 9u);
  std::string file = testing::TempPath("vectors.pcap");
  ASSERT_TRUE(WritePcap(file, frames, true, nullptr));
  EXPECT_EQ(Tshark(file), Expected(frames));
}

TEST(PfsyncDissector, ShowsIpv6StatesAndTheSyncauthTrailer) {
  PacketBuilder b;
  WireState s = testing::VectorState(4);
  s.af = WireAf::kInet6;
  for (auto& k : s.key) {
    k.af = WireAf::kInet6;
    k.addr = {*net::IpAddr::Parse("2001:db8::20"), *net::IpAddr::Parse("2001:db8::5")};
  }
  b.AddState(Action::kUpd, s);
  b.AddId(Action::kDelC, StateId{77, 0x01020304});
  auto body = b.Finish();
  std::vector<uint8_t> sealed(body.begin(), body.end());
  SyncAuth auth("key", 0x0a0b0c0d, 1);
  auth.Seal(sealed);
  const auto src = *net::IpAddr::Parse("192.0.2.1"), dst = *net::IpAddr::Parse("224.0.0.240");
  std::vector<PcapFrame> frames = {PcapFrame{0, Ipv4Encapsulate(body, src, dst, 1)},
                                   PcapFrame{1, Ipv4Encapsulate(sealed, src, dst, 2)}};
  std::string file = testing::TempPath("dissector.pcap");
  ASSERT_TRUE(WritePcap(file, frames, true, nullptr));
  // The expected fields plus the IPv6 addresses of the state (in both frames).
  std::istringstream lines(Expected(frames));
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(Tshark(file, " -e pfsync.addr6"),
            fmt::format("{0}\t{2}\n{1}\t{2}\n", first, second, "2001:db8::20,2001:db8::5,2001:db8::20,2001:db8::5"));
}

}  // namespace
}  // namespace hapf::pfsync
