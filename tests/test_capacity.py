"""Where each part breaks: the email worker's backlog growth, read from its samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loadtests.analysis.capacity import backlog_growth


def test_backlog_growth_is_its_change_over_the_window_whenever_the_arrivals_came():
    """Sixty emails more at the end of a sixty-second window than at its start, all of them
    arrived in its first twenty seconds: one email per second, as the formula counts arrivals
    minus sends. (A straight line fitted through the samples would say otherwise.)"""
    t = np.arange(0.0, 60.0 + 1e-9, 0.25)
    backlog = np.minimum(t * 3, 60.0) + 10
    samples = pd.DataFrame({"time": 1000 + t, "queued": backlog - 4, "unacked": 4})

    assert backlog_growth(samples, (1000.0, 1060.0)) == pytest.approx(1.0)
    assert abs(np.polyfit(t, backlog, 1)[0] - 1.0) > 0.1  # why not a least-squares slope
