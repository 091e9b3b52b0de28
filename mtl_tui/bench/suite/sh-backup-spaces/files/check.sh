#!/usr/bin/env bash
set -e
tmp=$(mktemp -d)
mkdir -p "$tmp/my notes"
echo one > "$tmp/my notes/a file.txt"
echo two > "$tmp/my notes/b.txt"
bash ./backup.sh "$tmp/my notes" "$tmp/the backup"
test "$(cat "$tmp/the backup/a file.txt")" = one
test "$(cat "$tmp/the backup/b.txt")" = two
echo ok
