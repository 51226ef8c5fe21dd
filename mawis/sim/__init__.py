"""The virtual test lab: simulated thermal-cycling campaigns written as inspection batches.

>>> from mawis.sim import CampaignConfig, simulate_batch
>>> simulate_batch(CampaignConfig(joints=50, seed=1), "batch")  # doctest: +SKIP
"""

from .config import CampaignConfig, FatigueModel, VoidModel, load_components, load_machines
from .simulate import SimulationResult, default_truth_dir, simulate_batch, simulate_joints

__all__ = [
    "CampaignConfig", "FatigueModel", "VoidModel", "SimulationResult",
    "default_truth_dir", "load_components", "load_machines", "simulate_batch", "simulate_joints",
]
