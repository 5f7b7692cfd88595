// Moved: see emitters/conv.hpp (one emitter for every ISA level).
#pragma once
#include "emitters/conv.hpp"
