#pragma once
// Writing a file so that readers never see half of it: the bytes go to a temporary file beside the
// target, which is then renamed over it (rename is atomic within one file system). A crash or a full
// disk leaves either the old file or the new one, never a truncated mix.
#include <functional>
#include <ostream>
#include <string>

namespace collapse {

// Calls write(stream) on a temporary file in the target's directory, then renames it to `path`.
// Any failure (open, write, flush, rename) throws collapse::Error naming `path` and removes the temp file.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

void write_text_file_atomically(const std::string& path, const std::string& text);

}  // namespace collapse
