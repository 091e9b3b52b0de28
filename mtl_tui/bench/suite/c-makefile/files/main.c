#include <stdio.h>
#include "util.h"
int main(void) { printf("sum=%d\n", add3(1, 2, 3)); return 0; }
