#include "kvs/h265.h"

#include <gtest/gtest.h>

#include "bit_writer.h"

#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace camwire {
namespace h265 {
namespace {

// Parameter sets from real libx265 output (x265 3.5, ffmpeg 5.1), and the
// hvcC CodecPrivate ffmpeg's Matroska muxer wrote for the same stream:
//   ffmpeg -f lavfi -i testsrc=size=WxH:rate=30 -frames:v 30 -pix_fmt yuv420p \
//     -c:v libx265 -x265-params keyint=10:log-level=error -f hevc out.h265
//   ffmpeg -fflags +genpts -r 30 -i out.h265 -c copy out.mkv   (CodecPrivate, ID 0x63A2)
// k320*: 320x240; k720*: 1280x720; k1080*: 1920x1080; k444p10*: 320x240 with
// -pix_fmt yuv444p10le (Main 4:4:4 10, RExt profile); kTl*: 320x240 with
// -x265-params keyint=10:log-level=error:temporal-layers=1 (two sub-layers).
// kW1080*: 1920x1080 with -x265-params keyint=10:log-level=error:min-cu-size=16
// (coded 1088 high, an 8-line conformance window); kW422*: 322x242 with
// -pix_fmt yuv422p (coded 328x248: a window in 4:2:2 units).
// x265's default 8x8 minimum CU divides 1080, so plain 1080p needs no window.
// (Without -pix_fmt, testsrc's RGB makes x265 pick 4:4:4 8-bit, RExt.)

const uint8_t k320Vps[] = {
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09,
};
const uint8_t k320Sps[] = {
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08,
    0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x10,
};
const uint8_t k320Pps[] = {
    0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};
const uint8_t k320FfmpegHvcC[] = {
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03,
    0x20, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x3c, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00,
    0x02, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x10, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};

const uint8_t k720Vps[] = {
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x5d, 0x95, 0x98, 0x09,
};
const uint8_t k720Sps[] = {
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x5d, 0xa0, 0x02, 0x80, 0x80,
    0x2d, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x10,
};
const uint8_t k720Pps[] = {
    0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};
const uint8_t k720FfmpegHvcC[] = {
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03,
    0x20, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x5d, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2b, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x5d, 0xa0, 0x02, 0x80, 0x80, 0x2d, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03,
    0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x10, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};

const uint8_t k1080Vps[] = {
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0x95, 0x98, 0x09,
};
const uint8_t k1080Sps[] = {
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0,
    0x80, 0x10, 0xe5, 0x96, 0x56, 0x69, 0x24, 0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x04,
};
const uint8_t k1080Pps[] = {
    0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};
const uint8_t k1080FfmpegHvcC[] = {
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x78, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03,
    0x20, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x78, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x10, 0xe5, 0x96, 0x56, 0x69, 0x24, 0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00,
    0x03, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x04, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};

const uint8_t k444p10Vps[] = {
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9c, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3c, 0x95, 0x98, 0x09,
};
const uint8_t k444p10Sps[] = {
    0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9c, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3c, 0x90, 0x01, 0x41, 0x01,
    0xe2, 0x6c, 0xb2, 0xb3, 0x49, 0x26, 0x57, 0x80, 0xb4, 0x04, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x78, 0x20,
};
const uint8_t k444p10Pps[] = {
    0x44, 0x01, 0xc1, 0x72, 0x86, 0x0c, 0x46, 0x24,
};
const uint8_t k444p10FfmpegHvcC[] = {
    0x01, 0x04, 0x08, 0x00, 0x00, 0x00, 0x9c, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00, 0xfc, 0xff, 0xfa, 0xfa, 0x00, 0x00, 0x0f, 0x03,
    0x20, 0x00, 0x01, 0x00, 0x17, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9c, 0x08, 0x00, 0x00, 0x03, 0x00,
    0x00, 0x3c, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9c, 0x08, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x3c, 0x90, 0x01, 0x41, 0x01, 0xe2, 0x6c, 0xb2, 0xb3, 0x49, 0x26, 0x57, 0x80, 0xb4, 0x04, 0x00, 0x00, 0x03, 0x00, 0x04,
    0x00, 0x00, 0x03, 0x00, 0x78, 0x20, 0x22, 0x00, 0x01, 0x00, 0x08, 0x44, 0x01, 0xc1, 0x72, 0x86, 0x0c, 0x46, 0x24,
};

const uint8_t kTlVps[] = {
    0x40, 0x01, 0x0c, 0x02, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x00, 0x00, 0x95, 0x98, 0xac, 0xc0, 0x48,
};
const uint8_t kTlSps[] = {
    0x42, 0x01, 0x02, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x00, 0x00, 0xa0, 0x0a, 0x08,
    0x0f, 0x16, 0x59, 0x59, 0x8a, 0xcd, 0x24, 0x99, 0x5e, 0x02, 0xd0, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01, 0xe0, 0x80,
};
const uint8_t kTlPps[] = {
    0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};
const uint8_t kTlFfmpegHvcC[] = {
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x13, 0x03, 0x20,
    0x00, 0x01, 0x00, 0x1c, 0x40, 0x01, 0x0c, 0x02, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
    0x3c, 0x00, 0x00, 0x95, 0x98, 0xac, 0xc0, 0x48, 0x21, 0x00, 0x01, 0x00, 0x2e, 0x42, 0x01, 0x02, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x00, 0x00, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0x8a, 0xcd, 0x24, 0x99, 0x5e, 0x02, 0xd0, 0x10,
    0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01, 0xe0, 0x80, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};

const uint8_t kW1080Vps[] = {
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0x95, 0x98, 0x09,
};
const uint8_t kW1080Sps[] = {
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80,
    0x11, 0x07, 0xcb, 0x96, 0x56, 0x64, 0xe4, 0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x04,
};
const uint8_t kW1080Pps[] = {
    0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};
const uint8_t kW1080FfmpegHvcC[] = {
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x78, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03,
    0x20, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x78, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2b, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x11, 0x07, 0xcb, 0x96, 0x56, 0x64, 0xe4, 0xca, 0xf0, 0x16, 0x80, 0x80, 0x00,
    0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0f, 0x04, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};

const uint8_t kW422Vps[] = {
    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9d, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3c, 0x95, 0x98, 0x09,
};
const uint8_t kW422Sps[] = {
    0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9d, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3c, 0xb0, 0x0a, 0x48, 0x0f,
    0x9c, 0x93, 0xe5, 0x95, 0x9a, 0x49, 0x32, 0xbc, 0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0xc1,
};
const uint8_t kW422Pps[] = {
    0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};
const uint8_t kW422FfmpegHvcC[] = {
    0x01, 0x04, 0x08, 0x00, 0x00, 0x00, 0x9d, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00, 0xfc, 0xfe, 0xf8, 0xf8, 0x00, 0x00, 0x0f,
    0x03, 0x20, 0x00, 0x01, 0x00, 0x17, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9d, 0x08, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x3c, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9d,
    0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3c, 0xb0, 0x0a, 0x48, 0x0f, 0x9c, 0x93, 0xe5, 0x95, 0x9a, 0x49, 0x32, 0xbc, 0x05, 0xa0, 0x20,
    0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0xc1, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};

struct Vectors {
  const uint8_t* vps;
  size_t vps_size;
  const uint8_t* sps;
  size_t sps_size;
  const uint8_t* pps;
  size_t pps_size;
  const uint8_t* hvcc;
  size_t hvcc_size;
};
#define CAMWIRE_VECTORS(p) \
  Vectors { p##Vps, sizeof p##Vps, p##Sps, sizeof p##Sps, p##Pps, sizeof p##Pps, p##FfmpegHvcC, sizeof p##FfmpegHvcC }
const Vectors kAll[] = {CAMWIRE_VECTORS(k320), CAMWIRE_VECTORS(k720),   CAMWIRE_VECTORS(k1080), CAMWIRE_VECTORS(k444p10),
                        CAMWIRE_VECTORS(kTl),  CAMWIRE_VECTORS(kW1080), CAMWIRE_VECTORS(kW422)};
#undef CAMWIRE_VECTORS

SpsInfo MustParse(const uint8_t* sps, size_t size) {
  Result<SpsInfo> r = ParseSps(sps, size);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : SpsInfo();
}

TEST(H265Sps, Main320x240) {
  SpsInfo s = MustParse(k320Sps, sizeof k320Sps);
  EXPECT_EQ(s.width, 320u);
  EXPECT_EQ(s.height, 240u);
  EXPECT_EQ(s.coded_width, 320u);
  EXPECT_EQ(s.coded_height, 240u);
  EXPECT_EQ(s.sps_id, 0);
  EXPECT_EQ(s.max_sub_layers, 1);
  EXPECT_TRUE(s.temporal_id_nesting);
  EXPECT_EQ(s.profile_space, 0);
  EXPECT_FALSE(s.tier);
  EXPECT_EQ(s.profile_idc, 1);                       // Main
  EXPECT_EQ(s.profile_compatibility, 0x60000000u);   // Main and Main 10 decoders
  EXPECT_EQ(s.constraint_flags, 0x900000000000ull);  // progressive_source, frame_only
  EXPECT_EQ(s.level_idc, 60);                        // level 2
  EXPECT_EQ(s.chroma_format_idc, 1);
  EXPECT_EQ(s.bit_depth_luma, 8);
  EXPECT_EQ(s.bit_depth_chroma, 8);
}

TEST(H265Sps, Main1280x720) {
  SpsInfo s = MustParse(k720Sps, sizeof k720Sps);
  EXPECT_EQ(s.width, 1280u);
  EXPECT_EQ(s.height, 720u);
  EXPECT_EQ(s.level_idc, 93);  // level 3.1
  EXPECT_EQ(s.profile_idc, 1);
}

TEST(H265Sps, Main1080p) {
  SpsInfo s = MustParse(k1080Sps, sizeof k1080Sps);
  EXPECT_EQ(s.coded_width, 1920u);
  EXPECT_EQ(s.coded_height, 1080u);  // a multiple of x265's 8x8 minimum CU: no window
  EXPECT_EQ(s.width, 1920u);
  EXPECT_EQ(s.height, 1080u);
  EXPECT_EQ(s.level_idc, 120);  // level 4
}

TEST(H265Sps, Main1080pWith16x16CusHasAConformanceWindow) {
  SpsInfo s = MustParse(kW1080Sps, sizeof kW1080Sps);
  EXPECT_EQ(s.coded_width, 1920u);
  EXPECT_EQ(s.coded_height, 1088u);
  EXPECT_EQ(s.width, 1920u);
  EXPECT_EQ(s.height, 1080u);  // conf_win_bottom_offset 4, in 2-line 4:2:0 units
}

TEST(H265Sps, ConformanceWindowIn422Units) {
  SpsInfo s = MustParse(kW422Sps, sizeof kW422Sps);
  EXPECT_EQ(s.chroma_format_idc, 2);
  EXPECT_EQ(s.coded_width, 328u);
  EXPECT_EQ(s.coded_height, 248u);
  EXPECT_EQ(s.width, 322u);   // right offset 3, SubWidthC 2
  EXPECT_EQ(s.height, 242u);  // bottom offset 6, SubHeightC 1
  EXPECT_EQ(s.profile_idc, 4);
}

TEST(H265Sps, RangeExtensions444TenBit) {
  SpsInfo s = MustParse(k444p10Sps, sizeof k444p10Sps);
  EXPECT_EQ(s.width, 320u);
  EXPECT_EQ(s.height, 240u);
  EXPECT_EQ(s.profile_idc, 4);  // format range extensions
  EXPECT_EQ(s.profile_compatibility, 0x08000000u);
  // progressive, frame_only, max_12bit, max_10bit, lower_bit_rate (A.3.5).
  EXPECT_EQ(s.constraint_flags, 0x9c0800000000ull);
  EXPECT_EQ(s.chroma_format_idc, 3);
  EXPECT_EQ(s.bit_depth_luma, 10);
  EXPECT_EQ(s.bit_depth_chroma, 10);
}

TEST(H265Sps, TwoTemporalSubLayers) {
  SpsInfo s = MustParse(kTlSps, sizeof kTlSps);
  EXPECT_EQ(s.max_sub_layers, 2);
  EXPECT_FALSE(s.temporal_id_nesting);
  EXPECT_EQ(s.width, 320u);
  EXPECT_EQ(s.height, 240u);
  EXPECT_EQ(s.level_idc, 60);
}

using testing::BitWriter;

struct SpsSpec {
  uint32_t max_sub_layers_minus1 = 0;
  bool sub_profile = true;  // every sub-layer carries its profile and level
  bool sub_level = true;
  uint32_t profile_space = 0;
  uint32_t tier = 0;
  uint32_t profile_idc = 1;
  uint32_t compat = 0x60000000;
  uint64_t constraint = 0x900000000000ull;
  uint32_t level = 93;
  uint32_t sps_id = 0;
  uint32_t chroma = 1;
  bool separate_planes = false;
  uint32_t width = 1280, height = 720;
  uint32_t win[4] = {0, 0, 0, 0};
  uint32_t depth_luma_minus8 = 0, depth_chroma_minus8 = 0;
  uint8_t type = kSps;
  uint8_t layer = 0;
};

std::vector<uint8_t> MakeSps(const SpsSpec& s) {
  BitWriter w;
  w.Bits(0, 4);  // sps_video_parameter_set_id
  w.Bits(s.max_sub_layers_minus1, 3);
  w.Bit(1);  // sps_temporal_id_nesting_flag
  w.Bits(s.profile_space, 2);
  w.Bit(s.tier);
  w.Bits(s.profile_idc, 5);
  w.Bits(s.compat, 32);
  w.Bits(s.constraint, 48);
  w.Bits(s.level, 8);
  const uint32_t n = s.max_sub_layers_minus1 > 7 ? 7 : s.max_sub_layers_minus1;
  for (uint32_t i = 0; i < n; ++i) {
    w.Bit(s.sub_profile);
    w.Bit(s.sub_level);
  }
  if (n > 0) w.Bits(0, 2 * (8 - n));
  for (uint32_t i = 0; i < n; ++i) {
    // Sub-layer values unlike the general ones, so a misaligned read shows.
    if (s.sub_profile) w.Bits(0xa5a5a5a5a5a5a5ull, 56), w.Bits(0x5a5a5a5a, 32);
    if (s.sub_level) w.Bits(0x33, 8);
  }
  w.Ue(s.sps_id);
  w.Ue(s.chroma);
  if (s.chroma == 3) w.Bit(s.separate_planes);
  w.Ue(s.width);
  w.Ue(s.height);
  const bool window = s.win[0] || s.win[1] || s.win[2] || s.win[3];
  w.Bit(window);
  if (window) {
    for (uint32_t v : s.win) w.Ue(v);
  }
  w.Ue(s.depth_luma_minus8);
  w.Ue(s.depth_chroma_minus8);
  w.Ue(4);  // log2_max_pic_order_cnt_lsb_minus4: past what ParseSps reads
  return w.Nal({static_cast<uint8_t>((s.type << 1) | (s.layer >> 5)), static_cast<uint8_t>(((s.layer & 31) << 3) | 1)});
}

TEST(H265Sps, SixSubLayersWithProfileAndLevelEach) {
  SpsSpec spec;
  spec.max_sub_layers_minus1 = 6;
  spec.profile_space = 1;
  spec.tier = 1;
  spec.profile_idc = 2;
  spec.compat = 0x20000001;
  spec.constraint = 0x800000000001ull;
  spec.level = 153;
  spec.sps_id = 15;
  auto sps = MakeSps(spec);
  SpsInfo s = MustParse(sps.data(), sps.size());
  EXPECT_EQ(s.max_sub_layers, 7);
  EXPECT_EQ(s.profile_space, 1);
  EXPECT_TRUE(s.tier);
  EXPECT_EQ(s.profile_idc, 2);
  EXPECT_EQ(s.profile_compatibility, 0x20000001u);
  EXPECT_EQ(s.constraint_flags, 0x800000000001ull);
  EXPECT_EQ(s.level_idc, 153);
  EXPECT_EQ(s.sps_id, 15);
  EXPECT_EQ(s.width, 1280u);
  EXPECT_EQ(s.height, 720u);
  // Some sub-layers with only a level, or nothing: each i skips what it has.
  for (int mode = 0; mode < 3; ++mode) {
    for (uint32_t m = 1; m <= 6; ++m) {
      SpsSpec v;
      v.max_sub_layers_minus1 = m;
      v.sub_profile = mode == 1;
      v.sub_level = mode != 2;
      auto b = MakeSps(v);
      SpsInfo r = MustParse(b.data(), b.size());
      EXPECT_EQ(r.max_sub_layers, m + 1);
      EXPECT_EQ(r.width, 1280u) << "mode " << mode << " sub-layers " << m;
      EXPECT_EQ(r.height, 720u);
    }
  }
}

TEST(H265Sps, ConformanceWindowUnitsFollowTable6_1) {
  struct Case {
    uint32_t chroma;
    bool separate;
    uint32_t w, h;
  } cases[] = {{0, false, 1280 - 3, 720 - 7},
               {1, false, 1280 - 6, 720 - 14},
               {2, false, 1280 - 6, 720 - 7},
               {3, false, 1280 - 3, 720 - 7},
               {3, true, 1280 - 3, 720 - 7}};
  for (const Case& c : cases) {
    SpsSpec spec;
    spec.chroma = c.chroma;
    spec.separate_planes = c.separate;
    spec.win[0] = 1;
    spec.win[1] = 2;
    spec.win[2] = 3;
    spec.win[3] = 4;
    spec.depth_luma_minus8 = 4;
    spec.depth_chroma_minus8 = 8;
    auto b = MakeSps(spec);
    SpsInfo s = MustParse(b.data(), b.size());
    EXPECT_EQ(s.chroma_format_idc, c.chroma);
    EXPECT_EQ(s.width, c.w) << "chroma " << c.chroma;
    EXPECT_EQ(s.height, c.h) << "chroma " << c.chroma;
    EXPECT_EQ(s.bit_depth_luma, 12);
    EXPECT_EQ(s.bit_depth_chroma, 16);
  }
}

void ExpectMalformed(const SpsSpec& spec, const std::string& fragment) {
  auto b = MakeSps(spec);
  Result<SpsInfo> r = ParseSps(b.data(), b.size());
  ASSERT_FALSE(r.ok()) << fragment;
  EXPECT_EQ(r.status().code(), "H265_MALFORMED_SPS");
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

TEST(H265Sps, OutOfRangeFieldsAreRefusedWithAReason) {
  SpsSpec s;
  s.max_sub_layers_minus1 = 7;
  ExpectMalformed(s, "sps_max_sub_layers_minus1");
  s = SpsSpec();
  s.sps_id = 16;
  ExpectMalformed(s, "sps_seq_parameter_set_id");
  s = SpsSpec();
  s.chroma = 4;
  ExpectMalformed(s, "chroma_format_idc");
  s = SpsSpec();
  s.width = 0;
  ExpectMalformed(s, "is 0");
  s = SpsSpec();
  s.height = 16889;
  ExpectMalformed(s, "16888");
  s = SpsSpec();
  s.width = 0xfffffffe;
  ExpectMalformed(s, "16888");
  s = SpsSpec();
  s.win[0] = 320;  // 640 luma columns in 4:2:0 ...
  s.win[1] = 320;  // ... and 640 more: nothing left
  ExpectMalformed(s, "conformance window");
  s = SpsSpec();
  s.win[3] = 0x7fffffff;  // offsets large enough to overflow 32-bit arithmetic
  s.win[2] = 0x7fffffff;
  ExpectMalformed(s, "conformance window");
  s = SpsSpec();
  s.depth_luma_minus8 = 9;
  ExpectMalformed(s, "bit_depth_luma");
  s = SpsSpec();
  s.depth_chroma_minus8 = 9;
  ExpectMalformed(s, "bit_depth_chroma");
  s = SpsSpec();
  s.type = kPps;
  ExpectMalformed(s, "SPS expected, got NAL unit type 34");
  s = SpsSpec();
  s.layer = 1;
  ExpectMalformed(s, "layer 1");
  std::vector<uint8_t> forbidden(k320Sps, k320Sps + sizeof k320Sps);
  forbidden[0] |= 0x80;
  EXPECT_FALSE(ParseSps(forbidden.data(), forbidden.size()).ok());
  std::vector<uint8_t> tid0(k320Sps, k320Sps + sizeof k320Sps);
  tid0[1] &= 0xf8;
  EXPECT_FALSE(ParseSps(tid0.data(), tid0.size()).ok());
  EXPECT_FALSE(ParseSps(nullptr, 0).ok());
  EXPECT_FALSE(ParseSps(k320Vps, sizeof k320Vps).ok());
}

// Every prefix of a real SPS: an error until the bit depths are in, then the
// same answer as the whole unit (what follows them is never read).
TEST(H265Sps, EveryTruncationIsAnErrorUntilTheBitDepths) {
  for (const Vectors& v : kAll) {
    SpsInfo full = MustParse(v.sps, v.sps_size);
    size_t first_ok = v.sps_size + 1;
    for (size_t n = 0; n <= v.sps_size; ++n) {
      std::vector<uint8_t> copy(v.sps, v.sps + n);  // exactly n bytes, so ASan sees any overread
      Result<SpsInfo> r = ParseSps(copy.data(), copy.size());
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), "H265_MALFORMED_SPS");
        EXPECT_EQ(first_ok, v.sps_size + 1) << "error at " << n << " after success at " << first_ok;
        continue;
      }
      if (first_ok > n) first_ok = n;
      EXPECT_EQ(r.value().width, full.width);
      EXPECT_EQ(r.value().height, full.height);
      EXPECT_EQ(r.value().bit_depth_chroma, full.bit_depth_chroma);
    }
    // The parsed fields end some 20-30 bytes in; the SPS goes on to ~42.
    EXPECT_GT(first_ok, 18u);
    EXPECT_LT(first_ok, v.sps_size);
  }
}

TEST(H265Sps, GarbageNeverCrashes) {
  std::mt19937 rng(265);
  int ok = 0;
  for (int i = 0; i < 50000; ++i) {
    std::vector<uint8_t> b(rng() % 64);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (b.size() >= 2 && (i & 1)) {
      b[0] = 0x42;  // a well-formed SPS header half the time
      b[1] = 0x01;
    }
    Result<SpsInfo> r = ParseSps(b.data(), b.size());
    if (r.ok()) {
      ++ok;
      EXPECT_GT(r.value().width, 0u);
      EXPECT_GT(r.value().height, 0u);
      EXPECT_LE(r.value().width, 16888u);
      EXPECT_LE(r.value().height, 16888u);
      EXPECT_LE(r.value().bit_depth_luma, 16);
    }
  }
  EXPECT_GT(ok, 0);  // the random search reaches the end sometimes
  // A huge SPS costs only its prefix: fields come from the first bytes.
  std::vector<uint8_t> big(k320Sps, k320Sps + sizeof k320Sps);
  big.resize(65535, 0xff);
  EXPECT_TRUE(ParseSps(big.data(), big.size()).ok());
  big.resize(65536, 0xff);
  EXPECT_FALSE(ParseSps(big.data(), big.size()).ok());
}

// The hvcC array headers: array_completeness is 1 here, 0 in ffmpeg's
// (libavformat/matroskaenc.c passes ps_array_completeness 0 to
// ff_isom_write_hvcc). camwire's brief asks for 1; decoders read either.
// Every other byte must match what ffmpeg wrote: its min_spatial_segmentation
// (0: x265's VUI has no restrictions), parallelismType 0, avgFrameRate 0,
// constantFrameRate 0 and the 3 arrays without SEI agree with ours for these
// streams.
TEST(H265HvcC, MatchesFfmpegByteForByteButArrayCompleteness) {
  for (const Vectors& v : kAll) {
    Result<std::vector<uint8_t>> r = BuildHvcC(v.vps, v.vps_size, v.sps, v.sps_size, v.pps, v.pps_size);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::vector<uint8_t> want(v.hvcc, v.hvcc + v.hvcc_size);
    const size_t arrays[3] = {23, 23 + 5 + v.vps_size, 23 + 10 + v.vps_size + v.sps_size};
    const uint8_t types[3] = {kVps, kSps, kPps};
    for (int i = 0; i < 3; ++i) {
      ASSERT_LT(arrays[i], want.size());
      ASSERT_EQ(want[arrays[i]], types[i]);  // ffmpeg: completeness 0, reserved 0, type
      want[arrays[i]] |= 0x80;
    }
    EXPECT_EQ(r.value(), want);
  }
}

TEST(H265HvcC, FieldsFromTheSps) {
  Result<std::vector<uint8_t>> r = BuildHvcC(k444p10Vps, sizeof k444p10Vps, k444p10Sps, sizeof k444p10Sps, k444p10Pps, sizeof k444p10Pps);
  ASSERT_TRUE(r.ok());
  const std::vector<uint8_t>& h = r.value();
  EXPECT_EQ(h[0], 1);      // configurationVersion
  EXPECT_EQ(h[1], 0x04);   // space 0, tier 0, profile 4
  EXPECT_EQ(h[12], 60);    // level_idc
  EXPECT_EQ(h[16], 0xff);  // chromaFormat 3
  EXPECT_EQ(h[17], 0xfa);  // bitDepthLumaMinus8 2
  EXPECT_EQ(h[18], 0xfa);
  EXPECT_EQ(h[21], 0x0f);  // 1 temporal layer, nested, 4-byte lengths
  EXPECT_EQ(h[22], 3);
  Result<std::vector<uint8_t>> tl = BuildHvcC(kTlVps, sizeof kTlVps, kTlSps, sizeof kTlSps, kTlPps, sizeof kTlPps);
  ASSERT_TRUE(tl.ok());
  EXPECT_EQ(tl.value()[21], 0x13);  // 2 temporal layers, not nested
}

TEST(H265HvcC, RefusesWrongOrOversizedParameterSets) {
  auto code = [](const Result<std::vector<uint8_t>>& r) { return r.ok() ? std::string("OK") : r.status().code(); };
  EXPECT_EQ(code(BuildHvcC(k320Sps, sizeof k320Sps, k320Sps, sizeof k320Sps, k320Pps, sizeof k320Pps)), "H265_MALFORMED_VPS");
  EXPECT_EQ(code(BuildHvcC(k320Vps, sizeof k320Vps, k320Vps, sizeof k320Vps, k320Pps, sizeof k320Pps)), "H265_MALFORMED_SPS");
  EXPECT_EQ(code(BuildHvcC(k320Vps, sizeof k320Vps, k320Sps, sizeof k320Sps, k320Sps, sizeof k320Sps)), "H265_MALFORMED_PPS");
  EXPECT_EQ(code(BuildHvcC(k320Vps, 2, k320Sps, sizeof k320Sps, k320Pps, sizeof k320Pps)), "H265_MALFORMED_VPS");
  EXPECT_EQ(code(BuildHvcC(k320Vps, sizeof k320Vps, k320Sps, sizeof k320Sps, k320Pps, 1)), "H265_MALFORMED_PPS");
  EXPECT_EQ(code(BuildHvcC(nullptr, 0, k320Sps, sizeof k320Sps, k320Pps, sizeof k320Pps)), "H265_MALFORMED_VPS");
  EXPECT_EQ(code(BuildHvcC(k320Vps, sizeof k320Vps, k320Sps, sizeof k320Sps, nullptr, 0)), "H265_MALFORMED_PPS");
  std::vector<uint8_t> big_pps(k320Pps, k320Pps + sizeof k320Pps);
  big_pps.resize(65536, 0x80);
  EXPECT_EQ(code(BuildHvcC(k320Vps, sizeof k320Vps, k320Sps, sizeof k320Sps, big_pps.data(), big_pps.size())), "H265_MALFORMED_PPS");
  big_pps.resize(65535);
  Result<std::vector<uint8_t>> r = BuildHvcC(k320Vps, sizeof k320Vps, k320Sps, sizeof k320Sps, big_pps.data(), big_pps.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().size(), 23 + 15 + sizeof k320Vps + sizeof k320Sps + 65535);
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// A real stream: the fuzz seed test/fuzz/seeds/h265/testsrc64_420.h265, made by
//   ffmpeg -f lavfi -i testsrc=size=64x64:rate=30 -frames:v 30 -pix_fmt yuv420p \
//     -c:v libx265 -x265-params keyint=10:log-level=error:info=0 -f hevc
// (info=0 drops x265's settings SEI, which would be most of the bytes). It has
// an IDR at display frame 0 and CRAs at 10 and 20, each with VPS/SPS/PPS and
// RASL leading pictures after the CRA; in decode order the IRAPs are access
// units 0, 7 and 16 (ffprobe -show_packets marks the same three K).
TEST(H265AccessUnits, RealStreamGivesThirtyPicturesWithKeyframesAtIraps) {
  for (const char* name : {"testsrc64_420.h265", "testsrc64_444p10.h265"}) {
    std::vector<uint8_t> data = ReadFile(std::string(CAMWIRE_SOURCE_DIR) + "/test/fuzz/seeds/h265/" + name);
    ASSERT_GT(data.size(), 1000u) << name;
    std::vector<h264::NalUnit> nals = h264::SplitAnnexB(data.data(), data.size(), h264::Codec::kH265);
    std::vector<h264::AccessUnit> aus = h265::GroupAccessUnits(data.data(), nals);
    ASSERT_EQ(aus.size(), 30u) << name;
    size_t total = 0;
    std::vector<size_t> keys;
    for (size_t i = 0; i < aus.size(); ++i) {
      const h264::AccessUnit& au = aus[i];
      total += au.nals.size();
      EXPECT_EQ(au.codec, h264::Codec::kH265);
      int slices = 0;
      bool irap = false;
      for (const h264::NalUnit& n : au.nals) {
        if (IsVcl(n.type)) ++slices;
        irap |= IsIrap(n.type);
      }
      EXPECT_EQ(slices, 1) << "access unit " << i;  // x265: one slice per picture
      EXPECT_EQ(au.keyframe, irap) << "access unit " << i;
      if (au.keyframe) {
        keys.push_back(i);
        // Each IRAP carries its parameter sets, which make a valid hvcC.
        ASSERT_GE(au.nals.size(), 4u);
        EXPECT_EQ(au.nals[0].type, kVps);
        EXPECT_EQ(au.nals[1].type, kSps);
        EXPECT_EQ(au.nals[2].type, kPps);
        const uint8_t* d = data.data();
        SpsInfo s = MustParse(d + au.nals[1].offset, au.nals[1].size);
        EXPECT_EQ(s.width, 64u);
        EXPECT_EQ(s.height, 64u);
        EXPECT_TRUE(BuildHvcC(d + au.nals[0].offset, au.nals[0].size, d + au.nals[1].offset, au.nals[1].size, d + au.nals[2].offset, au.nals[2].size).ok());
      }
    }
    EXPECT_EQ(total, nals.size());
    EXPECT_EQ(keys, (std::vector<size_t>{0, 7, 16})) << name;
    EXPECT_EQ(aus[0].nals[3].type, kIdrNLp);  // closed: nothing leads the first picture
    EXPECT_EQ(aus[7].nals[3].type, kCraNut);
    EXPECT_EQ(aus[8].nals[0].type, 9);  // RASL_R: a leading picture of the CRA, not a keyframe
  }
}

}  // namespace
}  // namespace h265
}  // namespace camwire
