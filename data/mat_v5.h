#pragma once
// MATLAB 5 MAT-files, the format of SVHN's train_32x32.mat / test_32x32.mat (MATLAB's save -v6/-v7 and
// scipy.io.savemat write it). Layout: a 128-byte header (116 bytes of text starting "MATLAB 5.0 MAT-file",
// 8 bytes subsystem offset, u16 version 0x0100, the endian mark "IM" for little-endian files or "MI" for
// big-endian ones), then one data element per variable. Each element is an 8-byte tag (u32 type,
// u32 byte count) and its data padded to 8 bytes; a "small" element packs count, type and up to 4 data
// bytes into 8. A variable is an miMATRIX element (array flags, dimensions, name, real part), or an
// miCOMPRESSED element whose zlib stream inflates to one.
//
// Only what datasets need is read: real numeric arrays of any class. Cells, structs, objects, sparse and
// char arrays are listed with their name and class but carry no data; complex arrays are an error.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace collapse {

// Element data types (mi*) and array classes (mx*), numbered as in the MAT-file format reference.
enum MatDataType : uint32_t {
  kMiInt8 = 1, kMiUint8 = 2, kMiInt16 = 3, kMiUint16 = 4, kMiInt32 = 5, kMiUint32 = 6, kMiSingle = 7,
  kMiDouble = 9, kMiInt64 = 12, kMiUint64 = 13, kMiMatrix = 14, kMiCompressed = 15, kMiUtf8 = 16,
};
enum MatArrayClass : uint32_t {
  kMxCell = 1, kMxStruct = 2, kMxObject = 3, kMxChar = 4, kMxSparse = 5, kMxDouble = 6, kMxSingle = 7,
  kMxInt8 = 8, kMxUint8 = 9, kMxInt16 = 10, kMxUint16 = 11, kMxInt32 = 12, kMxUint32 = 13, kMxInt64 = 14,
  kMxUint64 = 15,
};

struct MatVariable {
  std::string name;
  uint32_t array_class = 0;    // MatArrayClass
  std::vector<int64_t> dims;   // column-major: element (i, j, k) is at i + d0*j + d0*d1*k
  // How the real part is stored. MATLAB stores a double array holding small integers as uint8 to save
  // space, so this may differ from the class; read values through mat_values_as_double.
  uint32_t stored_type = 0;    // MatDataType; 0 for arrays without numeric data
  std::shared_ptr<const std::vector<uint8_t>> buffer;  // keeps the (inflated) bytes alive
  size_t offset = 0, nbytes = 0;                       // the real part within buffer, in host byte order

  int64_t numel() const;
  bool has_numeric_data() const { return stored_type != 0; }
  const uint8_t* data() const { return buffer->data() + offset; }
};

std::vector<MatVariable> read_mat_v5(const std::filesystem::path& path);

// The variable called `name`; error naming `what` (the file) and the variables it does hold otherwise.
const MatVariable& find_mat_variable(const std::vector<MatVariable>& vars, const std::string& name,
                                     const std::string& what);

// The real part converted to double, whatever its stored type.
std::vector<double> mat_values_as_double(const MatVariable& var, const std::string& what);

}  // namespace collapse
