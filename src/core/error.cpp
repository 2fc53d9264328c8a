// The error classes are header-only; this unit keeps their vtables in one object file.
#include "tomograd/core/error.hpp"
