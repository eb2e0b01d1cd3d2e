#include "data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>

#include "core/error.h"
#include "data/warn.h"

namespace collapse {

namespace fs = std::filesystem;

namespace {

struct ClassList {
  std::vector<std::string> wnids, names;
};

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}

bool is_image_file(const fs::path& p) {
  const std::string ext = lowercase(p.extension().string());
  return ext == ".jpeg" || ext == ".jpg" || ext == ".png";
}

std::vector<fs::path> sorted_entries(const fs::path& dir, bool directories) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (directories ? e.is_directory() : e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

ClassList read_class_list(const fs::path& root) {
  ClassList list;
  const fs::path synsets = root / "synsets.txt";
  if (fs::exists(synsets)) {
    std::ifstream in(synsets);
    COLLAPSE_CHECK(in, "cannot open ", synsets.string());
    std::string line;
    for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      const auto space = line.find(' ');
      list.wnids.push_back(line.substr(0, space));
      // "n01440764 tench, Tinca tinca" -> "tench": the first of the comma-separated synonyms.
      std::string name = space == std::string::npos ? list.wnids.back() : line.substr(space + 1);
      list.names.push_back(name.substr(0, name.find(',')));
    }
    COLLAPSE_CHECK(!list.wnids.empty(), synsets.string(), ": no classes");
    return list;
  }
  const fs::path train = root / "train";
  COLLAPSE_CHECK(fs::is_directory(train), "missing ", synsets.string(), " and ", train.string(),
                 ": cannot tell the class order");
  for (const fs::path& d : sorted_entries(train, /*directories=*/true)) list.wnids.push_back(d.filename().string());
  COLLAPSE_CHECK(!list.wnids.empty(), train.string(), ": no class folders");
  list.names = list.wnids;
  return list;
}

}  // namespace

ImageFolderIndex index_image_folder(const fs::path& root, Split split) {
  const fs::path dir = root / (split == Split::train ? "train" : "val");
  COLLAPSE_CHECK(fs::is_directory(dir), "missing folder: ", dir.string());
  ClassList classes = read_class_list(root);
  std::map<std::string, int64_t> class_of;
  for (size_t k = 0; k < classes.wnids.size(); ++k) class_of[classes.wnids[k]] = static_cast<int64_t>(k);

  for (const fs::path& f : sorted_entries(dir, /*directories=*/false))
    COLLAPSE_CHECK(!is_image_file(f), dir.string(), ": image ", f.filename().string(),
                   " lies directly in the split folder; images must be in <wnid>/ class folders "
                   "(the official validation tar is flat: sort it by the ground-truth labels first)");

  // Gather per class, then emit in class-index order so labels come out grouped and ascending.
  std::vector<std::vector<fs::path>> per_class(classes.wnids.size());
  for (const fs::path& d : sorted_entries(dir, /*directories=*/true)) {
    const auto it = class_of.find(d.filename().string());
    COLLAPSE_CHECK(it != class_of.end(), d.string(), ": folder name is not a class",
                   fs::exists(root / "synsets.txt") ? " listed in synsets.txt" : " of the train folder");
    for (const fs::path& f : sorted_entries(d, /*directories=*/false))
      if (is_image_file(f)) per_class[it->second].push_back(f);
  }
  ImageFolderIndex index;
  index.num_classes = static_cast<int64_t>(classes.wnids.size());
  index.wnids = std::move(classes.wnids);
  index.class_names = std::move(classes.names);
  for (int64_t c = 0; c < index.num_classes; ++c)
    for (fs::path& f : per_class[c]) {
      index.files.push_back(std::move(f));
      index.labels.push_back(c);
    }
  return index;
}

ImageFolderIndex select_entries(const ImageFolderIndex& index, const std::vector<int64_t>& which) {
  ImageFolderIndex out;
  out.num_classes = index.num_classes;
  out.wnids = index.wnids;
  out.class_names = index.class_names;
  for (int64_t i : which) {
    COLLAPSE_CHECK(i >= 0 && i < static_cast<int64_t>(index.files.size()), "select_entries: index ", i,
                   " out of range [0, ", index.files.size(), ")");
    out.files.push_back(index.files[i]);
    out.labels.push_back(index.labels[i]);
  }
  return out;
}

std::vector<int64_t> classes_present(const ImageFolderIndex& index) {
  std::vector<bool> seen(static_cast<size_t>(index.num_classes), false);
  for (int64_t y : index.labels) seen[static_cast<size_t>(y)] = true;
  std::vector<int64_t> out;
  for (int64_t c = 0; c < index.num_classes; ++c)
    if (seen[static_cast<size_t>(c)]) out.push_back(c);
  return out;
}

int64_t restrict_to_classes(ImageFolderIndex& index, const std::vector<int64_t>& classes) {
  std::vector<int64_t> new_label(static_cast<size_t>(index.num_classes), -1);
  ImageFolderIndex out;
  for (size_t k = 0; k < classes.size(); ++k) {
    const int64_t c = classes[k];
    COLLAPSE_CHECK(c >= 0 && c < index.num_classes && (k == 0 || c > classes[k - 1]),
                   "restrict_to_classes: class indices must be ascending and in [0, ", index.num_classes, ")");
    new_label[static_cast<size_t>(c)] = static_cast<int64_t>(k);
    out.wnids.push_back(index.wnids[static_cast<size_t>(c)]);
    out.class_names.push_back(index.class_names[static_cast<size_t>(c)]);
  }
  out.num_classes = static_cast<int64_t>(classes.size());
  for (size_t i = 0; i < index.files.size(); ++i) {
    const int64_t y = new_label[static_cast<size_t>(index.labels[i])];
    if (y < 0) continue;
    out.files.push_back(index.files[i]);
    out.labels.push_back(y);
  }
  const int64_t left_out = static_cast<int64_t>(index.files.size() - out.files.size());
  index = std::move(out);
  return left_out;
}

RawDataset read_image_folder(const ImageFolderIndex& index, const ImageFolderReadOptions& options) {
  const int64_t n = static_cast<int64_t>(index.files.size());
  const int64_t side = options.prep.crop;
  RawDataset ds;
  ds.channels = 3;
  ds.height = ds.width = side;
  ds.num_classes = index.num_classes;
  ds.class_names = index.class_names;
  ds.pixels.resize(static_cast<size_t>(n * ds.image_bytes()));

  // Exceptions cannot leave an OpenMP loop: record each file's failure and act on them afterwards, in order.
  std::vector<std::string> errors(n);
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t i = 0; i < n; ++i) {
    try {
      decode_resize_center_crop(index.files[i], options.prep, ds.pixels.data() + i * ds.image_bytes());
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!errors[i].empty()) {
      COLLAPSE_CHECK(options.skip_undecodable, errors[i]);
      data_warning("skipping ", errors[i]);
      continue;
    }
    if (kept != i)  // close the gap a skipped file left
      std::copy_n(ds.image(i), ds.image_bytes(), ds.image(kept));
    ds.labels.push_back(index.labels[i]);
    ++kept;
  }
  ds.n = kept;
  ds.pixels.resize(static_cast<size_t>(kept * ds.image_bytes()));
  // Errors name the split folder: the parent of the class folders.
  check_raw_dataset(ds, index.files.empty() ? std::string("image folder")
                                            : index.files.front().parent_path().parent_path().string());
  return ds;
}

}  // namespace collapse
