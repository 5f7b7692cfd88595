// A vector whose copies share one buffer until one of them is written (copy-on-write), like
// qjit::Tensor's bytes. The weight arrays of QuantWeights are CowVectors, so the passes can copy a
// QConvDesc (to add a fused post-op, say) without copying millions of weights each time.
//
// Reads (const operator[], data(), size(), iteration, conversion to const std::vector&) never copy.
// Every non-const access first makes the buffer private to this object, so only write through a
// non-const object when you mean to write. Concurrent reads of copies are safe; writing one object
// from two threads is not (as with std::vector).
#pragma once
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <vector>

namespace qjit {

template <class T> class CowVector {
public:
    using value_type = T;

    CowVector() = default;
    CowVector(std::vector<T> v) : p_(std::make_shared<std::vector<T>>(std::move(v))) {} // NOLINT: implicit on purpose
    CowVector(std::initializer_list<T> v) : p_(std::make_shared<std::vector<T>>(v)) {}
    CowVector(size_t n, const T& value) : p_(std::make_shared<std::vector<T>>(n, value)) {}

    // ---- reads ----
    const std::vector<T>& vec() const { return p_ ? *p_ : no_elements(); }
    operator const std::vector<T>&() const { return vec(); } // NOLINT: implicit on purpose
    size_t size() const { return vec().size(); }
    bool empty() const { return vec().empty(); }
    const T* data() const { return vec().data(); }
    const T& operator[](size_t i) const { return (*p_)[i]; }
    typename std::vector<T>::const_iterator begin() const { return vec().begin(); }
    typename std::vector<T>::const_iterator end() const { return vec().end(); }
    // True when both share one buffer (a copy not written since).
    bool shares_with(const CowVector& o) const { return p_ && p_ == o.p_; }
    friend bool operator==(const CowVector& a, const CowVector& b) { return a.p_ == b.p_ || a.vec() == b.vec(); }

    // ---- writes: the buffer becomes private to this object first ----
    std::vector<T>& mut() {
        if (!p_) p_ = std::make_shared<std::vector<T>>();
        else if (p_.use_count() > 1) p_ = std::make_shared<std::vector<T>>(*p_);
        return *p_;
    }
    T& operator[](size_t i) { return mut()[i]; }
    T* data() { return mut().data(); }
    typename std::vector<T>::iterator begin() { return mut().begin(); }
    typename std::vector<T>::iterator end() { return mut().end(); }
    void resize(size_t n) { mut().resize(n); }
    void assign(size_t n, const T& v) { fresh().assign(n, v); }
    void push_back(const T& v) { mut().push_back(v); }
    void clear() { p_.reset(); }

private:
    static const std::vector<T>& no_elements() {
        static const std::vector<T> e;
        return e;
    }
    // A new private buffer without copying the old contents (they are about to be replaced).
    std::vector<T>& fresh() {
        if (!p_ || p_.use_count() > 1) p_ = std::make_shared<std::vector<T>>();
        return *p_;
    }

    std::shared_ptr<std::vector<T>> p_;
};

} // namespace qjit
