#!/usr/bin/env bash
set -e
test "$(bash ./total.sh sales.csv)" = "15.00"
printf 'amount,region\n1.10,x\n2.20,y\n' > /tmp/mtl-bench-other.csv
test "$(bash ./total.sh /tmp/mtl-bench-other.csv)" = "3.30"
echo ok
