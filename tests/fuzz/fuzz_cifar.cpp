// CIFAR-10/100 binary records, and the class-name files the archives ship (one name per line; KMNIST's
// classmap CSV): the readers a CIFAR, STL-10 or KMNIST folder goes through besides its image files.
#include "data/cifar_reader.h"
#include "data/class_names.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return collapse::fuzz::read_as_file(data, size, ".bin", [](const std::string& path) {
    const auto quietly = [](auto read) {
      try {
        read();
      } catch (const collapse::Error&) {
      }
    };
    quietly([&] {
      collapse::RawDataset cifar10;
      collapse::append_cifar_file(path, {{10}, 0}, cifar10);
    });
    quietly([&] {
      collapse::RawDataset cifar100;
      collapse::append_cifar_file(path, {{20, 100}, 1}, cifar100);
    });
    quietly([&] { collapse::read_class_names_or(path, 10, {}); });
    collapse::read_kmnist_class_names(path);
  });
}
