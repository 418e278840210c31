// oneDNN convolutions with weights packed once, for zoo-nn's graph executor
// (src/mkldnn.rs). libtorch's eager conv2d reorders a channels-last kernel
// into oneDNN's blocked layout on every call (0.4 ms for one 512×512×3×3
// kernel on 2 cores); PyTorch's own compiler (inductor) avoids that through
// the `mkldnn::` operators called here. tch binds none of them, so they are
// called through the dispatcher by name, boxed: no C++ signature to match,
// and a libtorch without them is an error message, not a link failure.
//
// C ABI: tensors are tch's `at::Tensor*`; results are new `at::Tensor*`
// owned by the caller (tch frees them); errors are a malloc'd message.

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>
#include <ATen/core/stack.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace {

char* copy_message(const char* text) {
  size_t n = std::strlen(text);
  char* out = static_cast<char*>(std::malloc(n + 1));
  if (out != nullptr) {
    std::memcpy(out, text, n + 1);
  }
  return out;
}

// Runs `body`, turning any C++ exception into a message for Rust.
template <typename F>
int guarded(char** error, F&& body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    *error = copy_message(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *error = copy_message(e.what());
  } catch (...) {
    *error = copy_message("unknown C++ exception");
  }
  return 1;
}

c10::OperatorHandle find(const char* name, const char* overload) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
}

std::vector<int64_t> ints(const int64_t* values, int64_t n) {
  return std::vector<int64_t>(values, values + n);
}

c10::IValue optional_tensor(const at::Tensor* t) {
  return t == nullptr ? c10::IValue() : c10::IValue(*t);
}

at::Tensor* call(const c10::OperatorHandle& op, torch::jit::Stack& stack) {
  op.callBoxed(&stack);
  return new at::Tensor(stack.at(0).toTensor());
}

}  // namespace

extern "C" {

// Whether this libtorch has the operators (built with oneDNN).
int zoo_mkldnn_conv_available() {
  return c10::Dispatcher::singleton()
                 .findSchema({"mkldnn::_convolution_pointwise", ""})
                 .has_value() &&
         c10::Dispatcher::singleton()
                 .findSchema({"mkldnn::_reorder_convolution_weight", ""})
                 .has_value();
}

// mkldnn::_reorder_convolution_weight: the kernel in the layout oneDNN's
// convolution wants for inputs of `input_size` (an opaque mkldnn tensor).
int zoo_mkldnn_pack_conv_weight(const at::Tensor* weight, const int64_t* padding,
                                const int64_t* stride, const int64_t* dilation,
                                int64_t groups, const int64_t* input_size,
                                int64_t input_dims, at::Tensor** out, char** error) {
  return guarded(error, [&] {
    static const auto op = find("mkldnn::_reorder_convolution_weight", "");
    torch::jit::Stack stack{*weight,           ints(padding, 2),
                            ints(stride, 2),   ints(dilation, 2),
                            groups,            ints(input_size, input_dims)};
    *out = call(op, stack);
  });
}

// mkldnn::_convolution_pointwise with a packed kernel; `attr` is the fused
// activation ("none", "relu").
int zoo_mkldnn_conv(const at::Tensor* x, const at::Tensor* packed, const at::Tensor* bias,
                    const int64_t* padding, const int64_t* stride, const int64_t* dilation,
                    int64_t groups, const char* attr, at::Tensor** out, char** error) {
  return guarded(error, [&] {
    static const auto op = find("mkldnn::_convolution_pointwise", "");
    torch::jit::Stack stack{*x,
                            *packed,
                            optional_tensor(bias),
                            ints(padding, 2),
                            ints(stride, 2),
                            ints(dilation, 2),
                            groups,
                            std::string(attr),
                            c10::List<std::optional<at::Scalar>>(),
                            c10::IValue()};
    *out = call(op, stack);
  });
}

void zoo_mkldnn_free_error(char* error) { std::free(error); }

}  // extern "C"
