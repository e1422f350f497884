// File to file packaging (`camwire kvs stream --input F --out F.mkv`): the
// input (and an audio file) mapped read-only, the MKV written in pieces of a
// few MiB as it is made into a temporary file beside the output, renamed over
// it once whole. Memory stays at the pieces whatever the file's size, and a
// failed run leaves the output as it was.
#ifndef CAMWIRE_KVS_PACKAGE_FILE_H_
#define CAMWIRE_KVS_PACKAGE_FILE_H_

#include <string>

#include "common/status.h"
#include "kvs/mkv.h"

namespace camwire {
namespace mkv {

// options.audio_data/audio_size are set from audio_path when options.audio is
// not kNone; options.sink is replaced. Errors: CLI_FILE_NOT_FOUND (an input
// that cannot be opened or read, "cannot read PATH: ENOENT"), KVS_FILE_IO
// (the output: create, write, sync, rename), and PackageAnnexB's own.
Result<PackageResult> PackageFile(const std::string& input_path, const std::string& output_path, const std::string& audio_path, PackageOptions options);

}  // namespace mkv
}  // namespace camwire

#endif  // CAMWIRE_KVS_PACKAGE_FILE_H_
