"""Networks: the Nature CNN / MLP trunk shared by the policy and value heads (§6.3).

Initialisation follows baselines: orthogonal weights with gain √2 in the
trunk, 0.01 for the policy head (a near-uniform initial policy), 1 for the
value head, zero biases.  Atari observations arrive as uint8 and are scaled
to [0, 1] inside ``forward``.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from .minatar_env import is_minatar_id


@contextlib.contextmanager
def float32_construction():
    """Build (and initialise) parameters in float32 whatever torch's default dtype is, so that the
    same seed gives the same initial network from the CLI and from a float64 test session."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _init(layer: nn.Module, gain: float) -> nn.Module:
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


class NatureTrunk(nn.Module):
    """Mnih et al. (2015) conv stack + 512-unit layer: ``[B, C, H, W]`` uint8 → ``[B, 512]``."""

    def __init__(self, in_channels: int, img_size: int):
        super().__init__()
        g = math.sqrt(2.0)
        self.conv = nn.Sequential(
            _init(nn.Conv2d(in_channels, 32, 8, stride=4), g), nn.ReLU(),
            _init(nn.Conv2d(32, 64, 4, stride=2), g), nn.ReLU(),
            _init(nn.Conv2d(64, 64, 3, stride=1), g), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.conv(torch.zeros(1, in_channels, img_size, img_size)).shape[-1]
        self.fc = nn.Sequential(_init(nn.Linear(n_flat, 512), g), nn.ReLU())
        self.out_features = 512
        self.conv.to(memory_format=torch.channels_last)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # channels_last (NHWC) for the conv stack: faster convolutions on CPU (issue 12 §1); the
        # weights are converted once in __init__, the input here
        x = (obs.to(self.fc[0].weight.dtype) / 255.0).contiguous(memory_format=torch.channels_last)
        return self.fc(self.conv(x))


class MLPTrunk(nn.Module):
    """tanh MLP for vector observations: ``[B, D]`` → ``[B, hidden]``."""

    def __init__(self, in_features: int, hidden: int, layers: int):
        super().__init__()
        g = math.sqrt(2.0)
        mods: list[nn.Module] = []
        width = in_features
        for _ in range(layers):
            mods += [_init(nn.Linear(width, hidden), g), nn.Tanh()]
            width = hidden
        self.net = nn.Sequential(*mods)
        self.out_features = hidden

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs.to(self.net[0].weight.dtype))


class MinAtarTrunk(nn.Module):
    """MinAtar's network (Young & Tian 2019, its DQN / AC(λ) examples): one 3×3 conv with 16 channels,
    stride 1, then a 128-unit layer: ``[B, C, 10, 10]`` uint8 in {0, 1} → ``[B, 128]``.

    The inputs are already 0/1 (no ÷255); initialisation is the harness's (orthogonal, √2), not
    PyTorch's default that MinAtar's examples use.
    """

    def __init__(self, in_channels: int, img_size: int = 10):
        super().__init__()
        g = math.sqrt(2.0)
        self.conv = nn.Sequential(_init(nn.Conv2d(in_channels, 16, 3, stride=1), g), nn.ReLU(), nn.Flatten())
        n_flat = 16 * (img_size - 2) ** 2
        self.fc = nn.Sequential(_init(nn.Linear(n_flat, 128), g), nn.ReLU())
        self.out_features = 128

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(obs.to(self.fc[0].weight.dtype)))


def make_trunk(obs_shape: tuple[int, ...], cfg) -> nn.Module:
    if is_minatar_id(cfg.env):
        if len(obs_shape) != 3 or obs_shape[1:] != (10, 10):
            raise ValueError(f"MinAtar observations must be [C, 10, 10], got {obs_shape}")
        return MinAtarTrunk(obs_shape[0], obs_shape[1])
    if len(obs_shape) == 3:
        return NatureTrunk(obs_shape[0], obs_shape[1])
    if len(obs_shape) == 1:
        return MLPTrunk(obs_shape[0], cfg.mlp_hidden, cfg.mlp_layers)
    raise ValueError(f"observation shape {obs_shape} is neither an image stack [C, H, W] nor a vector [D]")


class ActorCritic(nn.Module):
    """Shared trunk with a policy head (logits of π_θ) and a value head (V_θ).

    This one network serves A2C and soft Q-learning alike: soft Q-learning
    reads it as Q_θ(s, a) = V_θ(s) + τ log(π_θ(a|s)/π̄(a|s)), Eq. (57).
    """

    def __init__(self, obs_shape: tuple[int, ...], num_actions: int, cfg):
        super().__init__()
        self.trunk = make_trunk(obs_shape, cfg)
        self.policy = _init(nn.Linear(self.trunk.out_features, num_actions), 0.01)
        self.value = _init(nn.Linear(self.trunk.out_features, 1), 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``log π_θ(·|s)`` ``[B, A]`` (normalised) and ``V_θ(s)`` ``[B]``."""
        h = self.trunk(obs)
        return torch.log_softmax(self.policy(h), dim=-1), self.value(h).squeeze(-1)


class QNetwork(nn.Module):
    """Trunk + linear head: Q(s, ·) ``[B, A]`` (DQN)."""

    def __init__(self, obs_shape: tuple[int, ...], num_actions: int, cfg):
        super().__init__()
        self.trunk = make_trunk(obs_shape, cfg)
        self.head = _init(nn.Linear(self.trunk.out_features, num_actions), 1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(obs))
