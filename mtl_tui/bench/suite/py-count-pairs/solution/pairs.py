from collections import Counter


def count_pairs(nums, target):
    seen = Counter()
    total = 0
    for n in nums:
        total += seen[target - n]
        seen[n] += 1
    return total
