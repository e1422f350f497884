#include "common/files.h"

#include <cerrno>
#include <cstdio>

#include <sys/stat.h>
#include <unistd.h>

namespace camwire {

int ReplaceFile(const std::string& temp, const std::string& path) {
  struct stat st;
  if (::lstat(temp.c_str(), &st) != 0) return errno;  // nothing to put in place: the old file stays
  // A directory at path is left for rename() to refuse (EISDIR); nothing there is fine.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT && errno != EISDIR) return errno;
  if (std::rename(temp.c_str(), path.c_str()) != 0) return errno;
  return 0;
}

}  // namespace camwire
