#!/usr/bin/env bash
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "amount") col = i; next }
         { sum += $col } END { printf "%.2f\n", sum }' "$1"
