"""Held-out joints for evaluation: whole boards, never a joint on both sides."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from ..errors import MawisError

MIN_BOARDS = 4


def split_joints(joints: pd.DataFrame, test_share: float, seed: int) -> tuple[np.ndarray, str]:
    """Boolean test mask over joints, and what was split: "board", or "joint" with fewer than 4 boards.

    Boards are held out whole so that joints of one board (shared reflow, shared cycling
    chamber position, shared board scatter) never sit in training and test at once.
    """
    boards = joints["board_id"].astype(str)
    groups, by = (boards, "board") if boards.nunique() >= MIN_BOARDS else (joints["joint_id"].astype(str), "joint")
    if groups.nunique() < 2:
        raise MawisError("the data set has a single joint; evaluation needs joints to hold out")
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_share, random_state=seed)
    _, test_idx = next(splitter.split(joints, groups=groups.to_numpy()))
    test = np.zeros(len(joints), dtype=bool)
    test[test_idx] = True
    return test, by
