#include "mathx.h"
uint64_t gcd(uint64_t a, uint64_t b) { return 0; }
uint64_t lcm(uint64_t a, uint64_t b) { return 0; }
