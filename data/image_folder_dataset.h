#pragma once
// ImageFolderDataset: ImageNet-style folders decoded, resized, cropped and normalised when the loader asks
// for an example, so the dataset costs memory for its file list only. Decoding is the expensive part
// (a few ms per full-size JPEG); the DataLoader's prefetch thread overlaps it with the training step.
#include <filesystem>

#include "data/channel_stats.h"
#include "data/dataset.h"
#include "data/image_folder.h"
#include "data/pixel_normalizer.h"

namespace collapse {

class ImageFolderDataset : public Dataset {
 public:
  ImageFolderDataset(ImageFolderIndex index, const ChannelStats& stats, ResizeCrop prep = {});

  int64_t size() const override { return static_cast<int64_t>(index_.files.size()); }
  ImageShape image_shape() const override { return {3, prep_.crop, prep_.crop}; }
  int64_t num_classes() const override { return index_.num_classes; }
  int64_t label(int64_t i) const override { return index_.labels[i]; }
  // Decodes the file; an undecodable one is a collapse::Error naming it.
  void write_example(int64_t i, float* hwc) const override;

  const ImageFolderIndex& index() const { return index_; }

 private:
  ImageFolderIndex index_;
  PixelNormalizer normalizer_;
  ResizeCrop prep_;
};

// The per-channel statistics of the listed images after resize and crop (what the network sees),
// decoding each file once, in parallel. A file that fails to decode is an error, or with
// skip_undecodable is removed from `index` with a warning, so later passes never meet it.
ChannelStats image_folder_channel_stats(ImageFolderIndex& index, const ResizeCrop& prep, bool skip_undecodable);

// Removes, with a warning, the files whose header is not a readable JPEG or PNG header (cheap: nothing is decoded).
void drop_unreadable_images(ImageFolderIndex& index);

}  // namespace collapse
