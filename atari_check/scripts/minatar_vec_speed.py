"""Own MinAtar loop vs gymnasium SyncVectorEnv on minatar's registration: 3 interleaved rounds, 16 envs.

Run: python atari_check/scripts/minatar_vec_speed.py (needs the minatar extra).
"""

import time

import gymnasium
import minatar.gym
import numpy as np

from atari_check.minatar_env import MinAtarVecEnv

B, N = 16, 400


def steps_per_s(env, reset) -> float:
    reset()
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(N):
        env.step(rng.integers(0, 3, size=B))
    return B * N / (time.perf_counter() - t)


minatar.gym.register_envs()
for r in range(3):
    own = MinAtarVecEnv("breakout", B, minimal_action_set=True, sticky_action_prob=0.1, difficulty_ramping=True)
    a = steps_per_s(own, lambda own=own: own.reset(0))
    sv = gymnasium.make_vec("MinAtar/Breakout-v1", num_envs=B, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP})
    b = steps_per_s(sv, lambda sv=sv: sv.reset(seed=0))
    print(f"round {r}: own loop {a:,.0f} steps/s, gymnasium SyncVectorEnv {b:,.0f} steps/s, ratio {a / b:.2f}")
