#include "qjit/tensor.hpp"

#include <cstring>
#include <new>

#include "qjit/error.hpp"

namespace qjit {

size_t elem_size(ElemType t) {
    switch (t) {
    case ElemType::f32: case ElemType::s32: return 4;
    case ElemType::u8: case ElemType::s8: return 1;
    }
    return 1;
}

const char* to_string(ElemType t) {
    switch (t) {
    case ElemType::f32: return "f32";
    case ElemType::u8: return "u8";
    case ElemType::s8: return "s8";
    case ElemType::s32: return "s32";
    }
    return "?";
}

int64_t num_elements(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s)
        if (__builtin_mul_overflow(n, d, &n))
            throw Error(ErrorCode::InvalidArgument, "<shape>", "the element count of " + to_string(s) + " overflows int64");
    return n;
}

std::string to_string(const Shape& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
}

Tensor::Tensor(ElemType type, Shape shape) : type_(type), shape_(std::move(shape)) {
    for (int64_t d : shape_)
        if (d < 0) throw Error(ErrorCode::InvalidArgument, "<tensor>", "negative dimension in " + to_string(shape_));
    // A host tensor beyond 2^40 bytes (1 TiB) is refused before any allocation is tried.
    constexpr int64_t kMaxTensorBytes = int64_t{1} << 40;
    int64_t bytes = 0;
    if (__builtin_mul_overflow(num_elements(shape_), static_cast<int64_t>(elem_size(type_)), &bytes) ||
        bytes > kMaxTensorBytes)
        throw Error(ErrorCode::ResourceLimit, "<tensor>", "a tensor of shape " + to_string(shape_) + " is too large");
    try {
        bytes_ = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(bytes), 0);
    } catch (const std::bad_alloc&) {
        throw Error(ErrorCode::ResourceLimit, "<tensor>",
                    "cannot allocate " + std::to_string(bytes) + " bytes for shape " + to_string(shape_));
    }
}

uint8_t* Tensor::mutable_bytes() {
    if (!bytes_) return nullptr;
    if (bytes_.use_count() > 1) bytes_ = std::make_shared<std::vector<uint8_t>>(*bytes_);
    return bytes_->data();
}

template <class T>
static Tensor make(ElemType t, Shape s, const std::vector<T>& v) {
    Tensor r(t, std::move(s));
    if (static_cast<int64_t>(v.size()) != r.numel())
        throw Error(ErrorCode::InvalidArgument, "<tensor>",
                    std::to_string(v.size()) + " values for shape " + to_string(r.shape()));
    if (!v.empty()) std::memcpy(r.raw(), v.data(), v.size() * sizeof(T));
    return r;
}

Tensor Tensor::f32(Shape s, const std::vector<float>& v) { return make(ElemType::f32, std::move(s), v); }
Tensor Tensor::s32(Shape s, const std::vector<int32_t>& v) { return make(ElemType::s32, std::move(s), v); }
Tensor Tensor::u8(Shape s, const std::vector<uint8_t>& v) { return make(ElemType::u8, std::move(s), v); }
Tensor Tensor::s8(Shape s, const std::vector<int8_t>& v) { return make(ElemType::s8, std::move(s), v); }

float Tensor::at_f32(int64_t i) const {
    switch (type_) {
    case ElemType::f32: return data<float>()[i];
    case ElemType::s32: return static_cast<float>(data<int32_t>()[i]);
    case ElemType::u8: return data<uint8_t>()[i];
    case ElemType::s8: return data<int8_t>()[i];
    }
    return 0;
}

} // namespace qjit
