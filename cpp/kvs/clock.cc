#include "kvs/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace camwire {
namespace kvs {

uint64_t SteadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string AmzDate(uint64_t wall_ms) {
  const std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

bool ParseHttpDate(const std::string& value, uint64_t* wall_ms) {
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char wday[4] = {0}, mon[4] = {0}, zone[4] = {0};
  int day = 0, year = 0, h = 0, m = 0, s = 0;
  if (value.size() > 64) return false;
  if (std::sscanf(value.c_str(), "%3s, %d %3s %d %d:%d:%d %3s", wday, &day, mon, &year, &h, &m, &s, zone) != 8) return false;
  if (std::string(zone) != "GMT") return false;
  int month = -1;
  for (int i = 0; i < 12; ++i) {
    if (std::string(mon) == kMonths[i]) month = i;
  }
  if (month < 0 || day < 1 || day > 31 || year < 1970 || year > 9999 || h > 23 || m > 59 || s > 60 || h < 0 || m < 0 || s < 0) return false;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  const std::time_t t = timegm(&tm);
  if (t < 0) return false;
  *wall_ms = static_cast<uint64_t>(t) * 1000;
  return true;
}

}  // namespace kvs
}  // namespace camwire
