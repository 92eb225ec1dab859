"""Own MinAtar loop vs gymnasium SyncVectorEnv on minatar's registration: 3 interleaved rounds, 16 envs.

Run: python atari_check/scripts/minatar_vec_speed.py (needs the minatar extra)."""
import time, numpy as np, gymnasium
import minatar.gym
from atari_check.minatar_env import MinAtarVecEnv
minatar.gym.register_envs()
B, N = 16, 400
def timeit(step, reset):
    reset(); rng = np.random.default_rng(0); t = time.perf_counter()
    for _ in range(N): step(rng.integers(0, 3, size=B))
    return B * N / (time.perf_counter() - t)
for r in range(3):
    own = MinAtarVecEnv("breakout", B, minimal_action_set=True, sticky_action_prob=0.1, difficulty_ramping=True)
    a = timeit(own.step, lambda: own.reset(0))
    sv = gymnasium.make_vec("MinAtar/Breakout-v1", num_envs=B, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP})
    b = timeit(sv.step, lambda: sv.reset(seed=0))
    print(f"round {r}: own loop {a:,.0f} steps/s, gymnasium SyncVectorEnv {b:,.0f} steps/s, ratio {a/b:.2f}")
