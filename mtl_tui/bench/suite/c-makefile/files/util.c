#include "util.h"
int add3(int a, int b, int c) { return a + b + c; }
