"""Mean return of the uniformly random policy on every MinAtar id (the lower anchor of a score range).

One env, episodes played to their end one after the other (taking the first N episodes of several
parallel envs would favour short episodes), the harness's settings (sticky actions 0.1, difficulty
ramping), fixed seeds.  A measurement, not an expectation: the standard error is reported with it.

Run: python atari_check/scripts/minatar_random_scores.py [EPISODES] > atari_check/results/minatar/random_scores.json
"""

import json
import math
import sys

import numpy as np

from atari_check.minatar_env import GAMES, IDS, MinAtarVecEnv, minatar_version, resolve_minatar


def random_returns(env_id: str, episodes: int, seed: int = 0) -> list[float]:
    _, game, version = resolve_minatar(env_id)
    env = MinAtarVecEnv(game, 1, minimal_action_set=version == "v1", sticky_action_prob=0.1,
                        difficulty_ramping=True)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    returns, ret = [], 0.0
    while len(returns) < episodes:
        _, r, term, trunc, _ = env.step(rng.integers(0, len(env.action_set), size=1))
        ret += float(r[0])
        if term[0] or trunc[0]:
            returns.append(ret)
            ret = 0.0
            env.step(np.zeros(1, dtype=np.int64))  # the autoreset step (not a transition)
    return returns


def main() -> None:
    episodes = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    out = {"schema": "atari_check.minatar_random_scores/1", "minatar_version": minatar_version(),
           "episodes": episodes, "seed": 0, "sticky_action_prob": 0.1, "difficulty_ramping": True,
           "games": sorted(GAMES), "scores": {}}
    for env_id in IDS:
        r = np.asarray(random_returns(env_id, episodes))
        out["scores"][env_id] = {"mean": float(r.mean()), "se": float(r.std(ddof=1) / math.sqrt(len(r))),
                                 "min": float(r.min()), "max": float(r.max())}
        print(f"{env_id:<26} {r.mean():8.3f} ± {r.std(ddof=1) / math.sqrt(len(r)):.3f}", file=sys.stderr)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
