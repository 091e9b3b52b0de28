def count_pairs(nums, target):
    raise NotImplementedError
