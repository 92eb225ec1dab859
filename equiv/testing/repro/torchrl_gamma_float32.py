"""Minimal reproduction: TorchRL's functional value estimators round γ to float32 for float64 inputs.

torchrl==0.14.1, ``torchrl/objectives/value/functional.py``: ``td0_return_estimate`` computes
``reward + gamma * (~terminated).int() * next_state_value`` and ``generalized_advantage_estimate``
``gamma * not_terminated`` with ``not_terminated = (~terminated).int()``: a Python float times an int
tensor gives a tensor of torch's *default* dtype (float32 unless changed), so γ = 0.9 becomes
0.89999998 before it meets the float64 values.  The result differs from the float64 computation by
~2.6e-8 relative; with ``torch.set_default_dtype(torch.float64)`` it is exact.  A precision effect, not
a semantic bug (float64 users see ~1e-8 where they expect ~1e-16).  Run: ``python <this file>``.
"""

import torch
from torchrl.objectives.value.functional import td0_return_estimate

reward = torch.zeros(1, 1, 1, dtype=torch.float64)
next_value = torch.ones(1, 1, 1, dtype=torch.float64)
terminated = torch.zeros(1, 1, 1, dtype=torch.bool)
for dtype in (torch.float32, torch.float64):
    torch.set_default_dtype(dtype)
    y = td0_return_estimate(0.9, next_value, reward, terminated).item()
    print(f"default dtype {dtype}: td0 = {y!r} (exact 0.9), relative error {abs(y - 0.9) / 0.9:.1e}")
