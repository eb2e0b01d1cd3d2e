// collapse-analyze and the library function behind it (analyze_npy_files), on small .npy files written
// here. The binary is looked for beside this test executable (the CMake build puts both in the build
// folder); without it, its tests are skipped and the library function is still tested.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "nc/npy.h"
#include "nc/npy_analysis.h"
#include "test_nc_support.h"

namespace collapse::nc {
namespace {

namespace fs = std::filesystem;
using testing::Classifier;
using testing::FeatureSet;

class NcCli : public ::testing::Test {
 protected:
  static constexpr int64_t C = 4, p = 8;

  // A nearly collapsed data set with a noisy self-dual classifier, saved in mixed dtypes: train features
  // float32, labels int32, weights float64, bias float32, test features float64, test labels int64.
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("collapse_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    Generator gen(42);
    const Eigen::MatrixXd means =
        testing::simplex_etf_means(C, p, 3.0, testing::random_vector_of_norm(p, 5.0, gen), gen);
    train_ = testing::features_around(means, {40, 50, 60, 45}, 0.8, 1);
    test_ = testing::features_around(means, testing::uniform_counts(C, 30), 0.8, 2);
    classifier_ = testing::self_dual_classifier(means, 0.5);
    classifier_.weights += 0.1 * testing::gaussian_matrix(C, p, gen);
    classifier_.bias += 0.1 * testing::gaussian_matrix(C, 1, gen);

    // Round what is stored as float32, so the in-memory reference sees the same values.
    const std::vector<float> train_f32 = train_.features_f32();
    train_.features.assign(train_f32.begin(), train_f32.end());
    const std::vector<float> bias_f32(classifier_.bias.data(), classifier_.bias.data() + C);
    classifier_.bias = Eigen::Map<const Eigen::VectorXf>(bias_f32.data(), C).cast<double>();

    files_.features = file("features.npy");
    files_.labels = file("labels.npy");
    files_.weights = file("weights.npy");
    files_.bias = file("bias.npy");
    files_.test_features = file("test_features.npy");
    files_.test_labels = file("test_labels.npy");
    write_npy(files_.features, train_f32, {train_.size(), p});
    write_npy(files_.labels, std::vector<int32_t>(train_.labels.begin(), train_.labels.end()), {train_.size()});
    const testing::RowMajorMatrix w = classifier_.weights;
    write_npy(files_.weights, w.data(), {C, p});
    write_npy(files_.bias, bias_f32, {C});
    write_npy(files_.test_features, test_.features, {test_.size(), p});
    write_npy(files_.test_labels, test_.labels, {test_.size()});
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  CollapseMetrics expected() const { return testing::analyze(train_, classifier_, &test_, {}, {}, false, 0.125); }

  static std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // The collapse-analyze beside this executable, or "" when there is none.
  static std::string binary() {
    const fs::path candidate = fs::canonical("/proc/self/exe").parent_path() / "collapse-analyze";
    return fs::exists(candidate) ? candidate.string() : std::string();
  }

  // Runs the binary with `arguments`; returns its exit code, stdout and stderr land in out.txt/err.txt.
  int run(const std::string& arguments) const {
    const std::string command =
        binary() + " " + arguments + " > '" + file("out.txt") + "' 2> '" + file("err.txt") + "'";
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string required_arguments() const {
    return "--features '" + files_.features + "' --labels '" + files_.labels + "' --weights '" + files_.weights +
           "' --bias '" + files_.bias + "'";
  }

  fs::path dir_;
  FeatureSet train_, test_;
  Classifier classifier_;
  NpyAnalysisFiles files_;
};

void expect_json_close(const nlohmann::json& a, const nlohmann::json& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, value] : b.items()) {
    ASSERT_TRUE(a.contains(key)) << key;
    if (value.is_number_float()) {
      EXPECT_NEAR(a[key].get<double>(), value.get<double>(), 1e-12 * std::max(1.0, std::abs(value.get<double>())))
          << key;
    } else {
      EXPECT_EQ(a[key], value) << key;
    }
  }
}

TEST_F(NcCli, LibraryMatchesInMemoryAnalysis) {
  const CollapseMetrics m = analyze_npy_files(files_, 0.125);
  expect_json_close(to_json(m), to_json(expected()));
  EXPECT_EQ(m.num_train, train_.size());
  EXPECT_EQ(m.num_test, test_.size());
  EXPECT_GT(m.nc1, 0.0);
}

TEST_F(NcCli, LibraryReportsBadInputsByFile) {
  auto expect_error = [&](const NpyAnalysisFiles& files, const std::string& phrase) {
    try {
      analyze_npy_files(files);
      ADD_FAILURE() << "no error, expected " << phrase;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
  };
  NpyAnalysisFiles files = files_;
  files.labels = file("short_labels.npy");
  write_npy(files.labels, std::vector<int64_t>{0, 1, 2}, {3});
  expect_error(files, "short_labels.npy': shape (3,) does not match train labels");

  files = files_;
  files.labels = file("big_labels.npy");
  write_npy(files.labels, std::vector<int64_t>(static_cast<size_t>(train_.size()), C), {train_.size()});
  expect_error(files, "big_labels.npy': label 4 at index 0 is outside [0, 4)");

  files = files_;
  files.features = file("wrong_p.npy");
  write_npy(files.features, std::vector<float>(30, 0.0f), {10, 3});
  expect_error(files, "wrong_p.npy': shape (10, 3) does not match train features");

  files = files_;
  files.features = files_.labels;  // integer "features"
  expect_error(files, "does not match train features");

  files = files_;
  files.test_labels.clear();
  expect_error(files, "given together");

  // One NaN or infinity anywhere is refused with its place, never turned into metrics (argmax over NaN
  // logits picks class 0, so NC4 would read 0).
  files = files_;
  files.features = file("nan_features.npy");
  std::vector<float> with_nan = train_.features_f32();
  with_nan[2 * p + 5] = std::numeric_limits<float>::quiet_NaN();
  write_npy(files.features, with_nan, {train_.size(), p});
  expect_error(files, "nan_features.npy': train features: nan at index " + std::to_string(2 * p + 5) +
                          " (row 2, column 5)");
  files = files_;
  files.bias = file("inf_bias.npy");
  write_npy(files.bias, std::vector<double>{0, 1, std::numeric_limits<double>::infinity(), 0}, {C});
  expect_error(files, "inf_bias.npy': classifier bias: inf at index 2");

  // W saved transposed, (p, C): the error gives both shapes and what to save instead.
  files = files_;
  files.weights = file("transposed.npy");
  const testing::RowMajorMatrix wt = classifier_.weights.transpose();
  write_npy(files.weights, wt.data(), {p, C});
  expect_error(files, "transposed.npy': classifier weights of shape (8, 4) look transposed");
}

TEST_F(NcCli, NoBiasIsAZeroBias) {
  const std::string zeros = file("zero_bias.npy");
  write_npy(zeros, std::vector<double>(C, 0.0), {C});
  NpyAnalysisFiles with_zeros = files_, without = files_;
  with_zeros.bias = zeros;
  without.bias.clear();
  EXPECT_EQ(to_json(analyze_npy_files(without)), to_json(analyze_npy_files(with_zeros)));
}

TEST_F(NcCli, BinaryWritesTheSameJson) {
  if (binary().empty()) GTEST_SKIP() << "collapse-analyze is not built beside the tests";
  const std::string json_path = file("metrics.json");
  ASSERT_EQ(run(required_arguments() + " --test-features '" + files_.test_features + "' --test-labels '" +
                files_.test_labels + "' --weight-decay-term 0.125 --json '" + json_path + "'"),
            0)
      << read_text(file("err.txt"));
  expect_json_close(nlohmann::json::parse(read_text(json_path)), to_json(expected()));
  const std::string printed = read_text(file("out.txt"));
  EXPECT_NE(printed.find("NC1"), std::string::npos) << printed;
  EXPECT_NE(printed.find("wrote " + json_path), std::string::npos) << printed;
}

TEST_F(NcCli, BinaryFailsClearly) {
  if (binary().empty()) GTEST_SKIP() << "collapse-analyze is not built beside the tests";
  EXPECT_NE(run(required_arguments() + " --no-such-flag"), 0);
  EXPECT_NE(read_text(file("err.txt")).find("no-such-flag"), std::string::npos) << read_text(file("err.txt"));

  EXPECT_NE(run("--features '" + file("missing.npy") + "' --labels '" + files_.labels + "' --weights '" +
                files_.weights + "' --bias '" + files_.bias + "'"),
            0);
  EXPECT_NE(read_text(file("err.txt")).find("missing.npy"), std::string::npos) << read_text(file("err.txt"));

  EXPECT_NE(run(required_arguments() + " --test-features '" + files_.test_features + "'"), 0);  // labels missing

  const std::string bad = file("bad.npy");
  std::ofstream(bad) << "not an npy file";
  EXPECT_NE(run("--features '" + bad + "' --labels '" + files_.labels + "' --weights '" + files_.weights +
                "' --bias '" + files_.bias + "'"),
            0);
  const std::string error = read_text(file("err.txt"));
  EXPECT_NE(error.find("bad.npy': not a .npy file"), std::string::npos) << error;
}

}  // namespace
}  // namespace collapse::nc
