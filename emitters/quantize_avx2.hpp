// Moved: see emitters/quantize.hpp (one emitter for every ISA level).
#pragma once
#include "emitters/quantize.hpp"
