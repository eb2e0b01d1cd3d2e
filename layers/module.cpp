#include "layers/module.h"

#include <optional>
#include <set>

#include "core/profiler.h"

namespace collapse {

void HookHandle::remove() {
  if (auto hooks = hooks_.lock()) hooks->erase(id_);
  id_ = -1;
}

Variable Module::call(const Variable& x, const std::function<Variable()>& compute) {
  std::optional<profile::LayerScope> layer;
  if (profile::enabled()) layer.emplace(local_name_);
  Variable y = compute();
  if (!hooks_->empty()) {
    auto hooks = *hooks_;  // a hook may remove itself
    for (auto& [id, hook] : hooks) hook(*this, x, y);
  }
  return y;
}

HookHandle Module::register_forward_hook(ForwardHook hook) {
  const int id = next_hook_id_++;
  (*hooks_)[id] = std::move(hook);
  return HookHandle(hooks_, id);
}

Variable& Module::register_parameter(const std::string& name, Tensor value) {
  parameters_.emplace_back(name, Variable(std::move(value), true));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, std::move(value));
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  COLLAPSE_CHECK(module, type_name_, ": child '", name, "' is null");
  for (auto& [n, m] : children_) COLLAPSE_CHECK(n != name, type_name_, ": a child named '", name, "' already exists");
  // A module registered under two parents (ResNet's stem: on the ResNet for torchvision's names, and in
  // the Sequential that runs it) keeps its first name, the one its state_dict keys use.
  if (module->local_name_.empty()) module->local_name_ = name;
  children_.emplace_back(name, std::move(module));
}

template <class F>
void Module::visit(const std::string& prefix, F&& f) const {
  // Depth-first with an explicit stack keeps registration order and never recurses deeply.
  std::vector<std::pair<std::string, const Module*>> stack{{prefix, this}};
  while (!stack.empty()) {
    auto [name, m] = stack.back();
    stack.pop_back();
    f(name, *m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(name.empty() ? it->first : name + "." + it->first, it->second.get());
  }
}

namespace {
std::string join(const std::string& prefix, const std::string& name) { return prefix.empty() ? name : prefix + "." + name; }
}  // namespace

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (auto& [n, p] : m.parameters_) out.emplace_back(join(prefix, n), p);
  });
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [n, p] : named_parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (auto& [n, b] : m.buffers_) out.emplace_back(join(prefix, n), b);
  });
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out;
  visit("", [&](const std::string& prefix, const Module& m) { out.emplace_back(prefix, const_cast<Module*>(&m)); });
  return out;
}

Module* Module::find_module(const std::string& dotted_name) const {
  for (auto& [n, m] : named_modules())
    if (n == dotted_name) return m;
  return nullptr;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (auto& p : parameters()) n += p.data().numel();
  return n;
}

void Module::train(bool on) {
  visit("", [&](const std::string&, const Module& m) { const_cast<Module&>(m).training_ = on; });
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

StateDict Module::state_dict() const {
  StateDict out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (auto& [n, p] : m.parameters_) out.emplace_back(join(prefix, n), p.data());
    for (auto& [n, b] : m.buffers_) out.emplace_back(join(prefix, n), b);
  });
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  std::map<std::string, const Tensor*> given;
  for (auto& [k, v] : state) given[k] = &v;
  std::set<std::string> used;
  for (auto& [key, target] : state_dict()) {
    auto it = given.find(key);
    if (it == given.end()) {
      COLLAPSE_CHECK(!strict, "load_state_dict: missing key '", key, "' (expected ", target.str(), ")");
      continue;
    }
    COLLAPSE_CHECK(it->second->shape() == target.shape(), "load_state_dict: key '", key, "' has shape ",
                   shape_str(it->second->shape()), ", the model expects ", shape_str(target.shape()));
    Tensor t = target;  // shares storage with the parameter or buffer
    t.copy_(*it->second);
    used.insert(key);
  }
  if (strict)
    for (auto& [k, v] : state)
      COLLAPSE_CHECK(used.count(k), "load_state_dict: unexpected key '", k, "' (", v.str(), ")");
}

void Module::to(Device device) {
  visit("", [&](const std::string&, const Module& cm) {
    Module& m = const_cast<Module&>(cm);
    for (auto& [n, p] : m.parameters_) p.data() = p.data().to(device);  // in place: layers share the Variable
    for (auto& [n, b] : m.buffers_) b = b.to(device);
  });
}

}  // namespace collapse
