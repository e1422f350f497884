#ifndef CAMWIRE_COMMON_FILES_H_
#define CAMWIRE_COMMON_FILES_H_

#include <string>

namespace camwire {

// Puts a completed temporary file (written but not synced) in place of path:
// the old file at path is removed first, then the temporary takes its name.
// A rename over an existing file makes ext4 (auto_da_alloc) write back the
// whole new file inside rename() (65–100 ms for 150 MB, measured): that is a
// safeguard for editors that rewrite a file without syncing it, and costs
// every download or packaging run that replaces its previous output. The old
// file stays until the new one is complete; only a crash between the two
// calls leaves neither name (the new bytes were not synced either way).
// Returns 0, or the errno of the step that failed.
int ReplaceFile(const std::string& temp, const std::string& path);

}  // namespace camwire

#endif  // CAMWIRE_COMMON_FILES_H_
