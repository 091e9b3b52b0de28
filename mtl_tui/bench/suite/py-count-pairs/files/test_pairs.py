import random
import time

from pairs import count_pairs

assert count_pairs([], 3) == 0
assert count_pairs([1, 2, 3, 4], 5) == 2
assert count_pairs([2, 2, 2], 4) == 3
assert count_pairs([-1, 1, 0, 0], 0) == 2
nums = [random.randint(-50, 50) for _ in range(100_000)]
start = time.time()
count_pairs(nums, 7)
assert time.time() - start < 2, "too slow"
print("ok")
