#include "data/image_folder_dataset.h"

#include <omp.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "data/warn.h"

namespace collapse {

namespace {
// Keeps the entries with no error message; warns about each of the others.
void keep_entries(ImageFolderIndex& index, const std::vector<std::string>& errors) {
  ImageFolderIndex kept = select_entries(index, {});
  for (size_t i = 0; i < index.files.size(); ++i) {
    if (!errors[i].empty()) {
      data_warning("skipping ", errors[i]);
      continue;
    }
    kept.files.push_back(index.files[i]);
    kept.labels.push_back(index.labels[i]);
  }
  index = std::move(kept);
}
}  // namespace

ImageFolderDataset::ImageFolderDataset(ImageFolderIndex index, const ChannelStats& stats, ResizeCrop prep)
    : index_(std::move(index)), normalizer_(stats), prep_(prep) {
  COLLAPSE_CHECK(normalizer_.channels() == 3, "ImageFolderDataset: needs 3-channel statistics, got ",
                 normalizer_.channels());
}

void ImageFolderDataset::write_example(int64_t i, float* hwc) const {
  thread_local std::vector<uint8_t> pixels;
  pixels.resize(static_cast<size_t>(prep_.crop * prep_.crop * 3));
  decode_resize_center_crop(index_.files[i], prep_, pixels.data());
  normalizer_.normalize(pixels.data(), prep_.crop, prep_.crop, prep_.crop, prep_.crop, hwc);
}

ChannelStats image_folder_channel_stats(ImageFolderIndex& index, const ResizeCrop& prep, bool skip_undecodable) {
  const int64_t n = static_cast<int64_t>(index.files.size());
  const int64_t pixels = prep.crop * prep.crop;
  std::vector<std::string> errors(n);
  std::vector<ChannelStatsAccumulator> partial(omp_get_max_threads(), ChannelStatsAccumulator(3));
#pragma omp parallel
  {
    std::vector<uint8_t> image(static_cast<size_t>(pixels * 3));
    ChannelStatsAccumulator& acc = partial[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 4)
    for (int64_t i = 0; i < n; ++i) {
      try {
        decode_resize_center_crop(index.files[i], prep, image.data());
        acc.add_image(image.data(), pixels);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
  }
  for (const std::string& e : errors) COLLAPSE_CHECK(e.empty() || skip_undecodable, e);
  keep_entries(index, errors);
  ChannelStatsAccumulator total(3);
  for (const auto& p : partial) total.merge(p);  // exact integer sums: the thread split does not matter
  return total.finish();
}

void drop_unreadable_images(ImageFolderIndex& index) {
  std::vector<std::string> errors(index.files.size());
  for (size_t i = 0; i < index.files.size(); ++i)
    if (!image_header_readable(index.files[i])) errors[i] = "unrecognised image file " + index.files[i].string();
  keep_entries(index, errors);
}

}  // namespace collapse
