#include <assert.h>
#include <stdio.h>
#include "mathx.h"
int main(void) {
    assert(gcd(12, 18) == 6);
    assert(gcd(0, 5) == 5);
    assert(lcm(4, 6) == 12);
    assert(lcm(0, 7) == 0);
    assert(lcm(4000000000ULL, 6000000000ULL) == 12000000000ULL);
    puts("ok");
    return 0;
}
