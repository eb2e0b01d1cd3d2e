#pragma once
// ImageNet as users unpack it: <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG.
//
// The class index is the line number (0-based) of the wnid in <root>/synsets.txt ("<wnid> <names>"
// per line, the Caffe synset_words.txt / Kaggle LOC_synset_mapping.txt format) when that file exists,
// otherwise the position of the wnid among the sorted sub-folders of <root>/train. With synsets.txt a
// partial copy (some class folders absent) keeps the official indices.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/image_decode.h"
#include "data/raw_dataset.h"

namespace collapse {

struct ImageFolderIndex {
  std::vector<std::filesystem::path> files;
  std::vector<int64_t> labels;
  int64_t num_classes = 0;
  std::vector<std::string> wnids;        // class k's folder name
  std::vector<std::string> class_names;  // from synsets.txt: the first name on the line; else the wnid
};

// Lists <root>/<train|val>/<wnid>/ files ending .jpeg, .jpg or .png (any case), classes in index order and
// files sorted by name within a class. Errors: the split folder is missing, a folder is not a known wnid,
// or images lie directly in the split folder (the official val tar is flat: sort it into wnid folders).
ImageFolderIndex index_image_folder(const std::filesystem::path& root, Split split);

// The entries at `which`, in that order.
ImageFolderIndex select_entries(const ImageFolderIndex& index, const std::vector<int64_t>& which);

// The classes that have at least one entry in `index`, in index order (a partial copy such as Imagenette's
// 10 classes of ImageNet's 1000).
std::vector<int64_t> classes_present(const ImageFolderIndex& index);

// `index` as a problem over `classes` only (ascending class indices): class classes[k] becomes k, entries of
// other classes are left out, wnids and names follow. Returns how many entries were left out.
int64_t restrict_to_classes(ImageFolderIndex& index, const std::vector<int64_t>& classes);

struct ImageFolderReadOptions {
  ResizeCrop prep;
  bool skip_undecodable = false;  // warn and leave the file out instead of failing
};

// Decodes every listed image into memory (crop x crop x 3 bytes each: 150 KB at 224, so ImageNet's
// 600 x 1000 training subset would take 90 GB; eager reading is for subsets, ImageFolderDataset decodes
// on demand). Files are decoded in parallel (OpenMP); a failure names the file.
RawDataset read_image_folder(const ImageFolderIndex& index, const ImageFolderReadOptions& options);

}  // namespace collapse
