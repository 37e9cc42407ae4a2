// The AVX-512 intrinsics for the *_avx512.cpp kernel files (compiled with AVX-512 flags; they
// run only after the CPU check), with GCC's false uninitialized-variable warnings silenced.
#pragma once

#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 implements _mm512_undefined_*() by self-initialization, which -Wuninitialized
// reports wherever an intrinsic using it is inlined; these are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
