// SPDX-License-Identifier: MIT
// FUZZ_CHECK: abort with a message when a property of a fuzz target does not hold (libFuzzer
// and the replay driver both report an abort as a failure).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
