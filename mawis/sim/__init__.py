"""The virtual test lab: simulated thermal-cycling campaigns written as inspection batches.

Package families (``components.toml``) and inspection sites (``machines.toml``)
are data; one family and one site are held out (simulated only when named).

>>> from mawis.sim import CampaignConfig, simulate_batch
>>> simulate_batch(CampaignConfig(joints=50, seed=1), "batch")  # doctest: +SKIP
>>> simulate_batch(CampaignConfig(joints=50, families=("QFN-16",), machine="xr-h"), "held-out")  # doctest: +SKIP
"""

from .config import (CampaignConfig, FatigueModel, VoidModel, development_families, development_machines,
                     held_out_families, held_out_machines, load_components, load_machines)
from .simulate import SimulationResult, default_truth_dir, simulate_batch, simulate_joints

__all__ = [
    "CampaignConfig", "FatigueModel", "VoidModel", "SimulationResult",
    "default_truth_dir", "development_families", "development_machines", "held_out_families",
    "held_out_machines", "load_components", "load_machines", "simulate_batch", "simulate_joints",
]
