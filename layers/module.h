#pragma once
// Module: the unit users compose networks from. It owns named parameters (Variables that want gradients)
// and buffers (plain Tensors such as batch-norm running statistics), has named children, a train/eval
// flag, and forward hooks. Names are dotted paths ("layer1.0.bn1.running_mean"), as in PyTorch, so
// checkpoints map one to one onto torchvision's.
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "core/safetensors.h"

namespace collapse {

class Module;
using StateDict = NamedTensors;  // in registration order: what a checkpoint file holds
// Called after forward with (module, input, output).
using ForwardHook = std::function<void(Module&, const Variable&, const Variable&)>;

class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<std::map<int, ForwardHook>> hooks, int id) : hooks_(std::move(hooks)), id_(id) {}
  void remove();

 private:
  std::weak_ptr<std::map<int, ForwardHook>> hooks_;
  int id_ = -1;
};

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Runs forward, then the hooks.
  Variable operator()(const Variable& x) {
    return call(x, [&] { return forward(x); });
  }
  virtual Variable forward(const Variable& x) = 0;

  const std::string& type_name() const { return type_name_; }
  // The name this module was registered under in its parent ("bn1"); "" for a root.
  const std::string& local_name() const { return local_name_; }

  // Parameters, buffers and children, each with its dotted name.
  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  std::vector<Variable> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, Module*>> named_modules() const;  // this one first, as ""
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  Module* find_module(const std::string& dotted_name) const;
  int64_t parameter_count() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

  HookHandle register_forward_hook(ForwardHook hook);
  bool has_forward_hooks() const { return !hooks_->empty(); }

  StateDict state_dict() const;  // parameters and buffers, by dotted name
  // Copies values in. Strict: a missing, unexpected or wrongly shaped entry is an error naming the key.
  void load_state_dict(const StateDict& state, bool strict = true);

  // Moves every parameter and buffer to `device` (optimizers must be built after the move).
  void to(Device device);

 protected:
  // One call of this module on input x whose output `compute` returns: under the module's profiler scope,
  // followed by the forward hooks (which see x and that output). operator() is call(x, forward); a module's
  // other entry points (BatchNormReLU::forward_add) use it so that hooks see them as calls too.
  Variable call(const Variable& x, const std::function<Variable()>& compute);
  Variable& register_parameter(const std::string& name, Tensor value);
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  template <class F> void visit(const std::string& prefix, F&& f) const;

  std::string type_name_;
  std::string local_name_;
  bool training_ = true;
  // deques: layers keep references to their entries, which must survive later registrations
  std::deque<std::pair<std::string, Variable>> parameters_;
  std::deque<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::shared_ptr<std::map<int, ForwardHook>> hooks_ = std::make_shared<std::map<int, ForwardHook>>();
  int next_hook_id_ = 0;
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace collapse
