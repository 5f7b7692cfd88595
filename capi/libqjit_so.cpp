// The shared library libqjit.so has no code of its own: it is the whole static qjit archive linked
// into one shared object (CMakeLists.txt, qjit_shared). This file only gives the target a source.
namespace qjit {
const char* shared_library_tag() { return "libqjit.so"; }
} // namespace qjit
