"""Section 6 harness: A2C, soft Q-learning as PG, DQN backups on Atari and gymnasium."""
