#!/usr/bin/env python3
"""Tests experiments/tpt_events.py: the spike rule and the power law, on hand-made lines.

    python3 tests/python/test_tpt_events.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "experiments"))
import tpt_events  # noqa: E402

THRESHOLD = 0.001  # 99.9 % train accuracy


def lines(errors):
    """One measured line per (epoch, train error)."""
    return [{"epoch": e, "train_error": err} for e, err in errors]


class SpikesTest(unittest.TestCase):
    def test_settled_twenty_epochs_is_a_spike_nineteen_is_not(self):
        run = lines([(10, 0.0), (29, 0.0), (30, 0.3), (31, 0.0), (50, 0.0), (51, 0.2)])
        # 30: the threshold held from 10 to 29 (20 epochs); 51: only from 31 to 50 (20 epochs) as well
        self.assertEqual(tpt_events.spikes(run, [30, 51], THRESHOLD), [30, 51])
        run = lines([(10, 0.0), (28, 0.0), (29, 0.3)])
        self.assertEqual(tpt_events.spikes(run, [29], THRESHOLD), [])  # 19 epochs: a flicker

    def test_flickers_reset_the_clock(self):
        run = lines([(10, 0.0), (12, 0.002), (13, 0.0), (25, 0.0), (26, 0.004), (40, 0.0), (60, 0.0), (61, 0.5)])
        self.assertEqual(tpt_events.spikes(run, [12, 26, 61], THRESHOLD), [61])

    def test_error_at_the_threshold_is_within_and_missing_error_is_not(self):
        run = lines([(0, 0.001), (25, 0.001), (26, 0.3)])
        self.assertEqual(tpt_events.spikes(run, [26], THRESHOLD), [26])
        run = [{"epoch": 0, "train_error": 0.0}, {"epoch": 20}, {"epoch": 40, "train_error": 0.3}]
        self.assertEqual(tpt_events.spikes(run, [40], THRESHOLD), [])

    def test_only_listed_interruptions_count(self):
        run = lines([(0, 0.0), (30, 0.0), (31, 0.3)])
        self.assertEqual(tpt_events.spikes(run, [], THRESHOLD), [])


class ReversalsTest(unittest.TestCase):
    def test_nc1_jumping_threefold_after_onset_is_a_reversal(self):
        run = [{"epoch": e, "nc1": v} for e, v in
               [(0, 5.0), (5, 0.5), (10, 0.2), (20, 0.1), (40, 0.05), (80, 1.0), (100, 0.4), (120, 0.3)]]
        self.assertEqual(tpt_events.reversals(run, 10), [80])   # 0.05 -> 1.0; before onset 10 nothing counts
        self.assertEqual(tpt_events.reversals(run, None), [])  # no terminal phase, nothing to undo

    def test_fluctuations_below_the_factor_and_missing_values_are_not(self):
        run = [{"epoch": 10, "nc1": 0.1}, {"epoch": 20, "nc1": 0.29}, {"epoch": 30}, {"epoch": 40, "nc1": 0.3},
               {"epoch": 50, "nc1": 0.0}, {"epoch": 60, "nc1": 0.2}]
        self.assertEqual(tpt_events.reversals(run, 10), [])


class PowerLawTest(unittest.TestCase):
    def test_exact_power_law(self):
        pts = [(e, 3.0 * e ** -0.75) for e in (10, 20, 50, 100, 300)]
        self.assertAlmostEqual(tpt_events.power_law_exponent(pts), 0.75, places=12)

    def test_too_few_or_degenerate_points(self):
        self.assertIsNone(tpt_events.power_law_exponent([(10, 1.0), (20, 0.5)]))
        self.assertIsNone(tpt_events.power_law_exponent([(10, 1.0), (10, 0.5), (10, 0.2)]))
        self.assertIsNone(tpt_events.power_law_exponent([(10, 1.0), (20, 0.0), (0, 0.5)]))  # non-positive: dropped

    def test_epochs_for_reduction(self):
        self.assertAlmostEqual(tpt_events.epochs_for_reduction(20, 1.0, 10.0), 200.0)
        self.assertAlmostEqual(tpt_events.epochs_for_reduction(20, 0.5, 10.0), 2000.0)
        self.assertIsNone(tpt_events.epochs_for_reduction(20, -0.1, 10.0))  # NC1 rising: never
        self.assertIsNone(tpt_events.epochs_for_reduction(None, 1.0, 10.0))


if __name__ == "__main__":
    unittest.main()
