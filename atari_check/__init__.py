"""Section 6 harness: A2C, soft Q-learning as PG, DQN backups on Atari and gymnasium.

Modules:
  config    the one Config dataclass (defaults: baselines A2C), validated up front
  envs      Atari (ale-py AtariVectorEnv) and gymnasium vector envs, next-step autoreset, episode scores
  minatar_env  MinAtar ids, its vector env (channel-first uint8, Freeway's time limit as truncation)
  networks  Nature CNN / MLP trunk with policy and value heads; Q network
  losses    the §6 update rules assembled from equiv (nothing re-derived)
  learners  actor-critic learner (a2c-naive, a2c-proper, sql, sql-unscaled) and DQN learner
  lockstep  lockstep gradient diagnostics (Eqs. (64)-(65), §6.3)
  run       a training run: metrics, checkpoints, resume, provenance
  stats     Welch t, TOST, IQM, bootstrap (numpy only)
  compare   per-run scores, group statistics, equivalence verdicts (compare.json)
  plot      learning curves and lockstep plots
  bench     env-only vs training throughput: interleaved rotated rounds, paired ratios, serial limit
  sweep     the env x algo x seed grid as Ray tasks, each resuming from its own checkpoint
  cli       python -m atari_check {run,compare,plot,bench,sweep}
"""
