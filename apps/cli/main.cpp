// flashstream command-line entry point.
#include <cstdio>

int main(int argc, char** argv) {
  std::fprintf(stderr, "usage: flashstream <run|chat|inspect|synth> ...\n");
  return 2;
}
