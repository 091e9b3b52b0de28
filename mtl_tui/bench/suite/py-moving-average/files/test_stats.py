import unittest

from stats import moving_average


class MovingAverage(unittest.TestCase):
    def test_windows(self):
        self.assertEqual(moving_average([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])

    def test_whole(self):
        self.assertEqual(moving_average([2, 4], 2), [3.0])

    def test_short(self):
        self.assertEqual(moving_average([1], 2), [])
