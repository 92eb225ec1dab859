"""atari_check bad input: unknown env/algo, invalid hyperparameters, an --out that holds other results.

Every error must be a ValueError (exit code 2 from the CLI) naming the bad
argument, and must leave existing files byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from atari_check import cli
from atari_check.config import Config
from atari_check.envs import ATARI, GYM, VecEnv, resolve_env
from atari_check.run import RunDirError, run


@pytest.mark.parametrize("name", ["pong", "PongNoFrameskip-v4", "PONG"])
def test_atari_ids_resolve_to_the_rom(name):
    spec = resolve_env(name)
    assert (spec.kind, spec.key, spec.title) == (ATARI, "pong", "Pong")


def test_multiword_atari_and_gym_ids():
    assert resolve_env("SpaceInvadersNoFrameskip-v4").key == "space_invaders"
    assert resolve_env("space_invaders").title == "SpaceInvaders"
    assert resolve_env("CartPole-v1") == resolve_env("CartPole-v1")
    assert resolve_env("CartPole-v1").kind == GYM
    # The toy-text Blackjack-v1 is a gymnasium env, not the Atari ROM 'blackjack'.
    assert resolve_env("Blackjack-v1").kind == GYM
    assert resolve_env("blackjack").kind == ATARI


@pytest.mark.parametrize("name,suggestion", [("CartPol-v1", "CartPole-v1"), ("Pongg", "pong"),
                                             ("Breakot-v4", "breakout")])
def test_unknown_env_suggests_close_matches(name, suggestion):
    with pytest.raises(ValueError, match="unknown environment id") as err:
        resolve_env(name)
    assert suggestion in str(err.value)


def test_continuous_action_env_is_rejected():
    with pytest.raises(ValueError, match="only discrete-action"):
        VecEnv(resolve_env("Pendulum-v1"), 1)


def test_unknown_algo_suggests():
    with pytest.raises(ValueError, match="algo must be one of") as err:
        Config(algo="a2c-propper")
    assert "a2c-proper" in str(err.value)


@pytest.mark.parametrize("field,value", [
    ("lr", -1e-3), ("lr", 0.0), ("gamma", 1.5), ("tau", 0.0), ("tau", float("nan")), ("num_envs", 0),
    ("n_steps", 2.5), ("frames", 0), ("device", "tpu"), ("value_coef", -0.5), ("rms_alpha", 1.0),
    ("repeat_action_probability", 1.0), ("lr_schedule", "cosine"), ("reward_transform", "clip"),
    ("soft_backup_form", "typo"), ("life_loss_terminal", "yes"), ("eps_end", 2.0), ("max_grad_norm", 0.0),
])
def test_invalid_hyperparameters_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Config(**{field: value})


def test_inconsistent_dqn_settings():
    with pytest.raises(ValueError, match="dqn_nstep"):
        Config(algo="dqn-soft-ent", dqn_nstep=5)
    with pytest.raises(ValueError, match="dqn_nstep"):
        Config(algo="dqn-soft-kl", dqn_nstep=5, soft_backup_form="printed")
    with pytest.raises(ValueError, match="batch_size"):
        Config(algo="dqn", batch_size=64, replay_size=32)
    Config(algo="dqn-soft-kl", dqn_nstep=5)  # the n-step soft target (46) is defined


def _digest(path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir()) if p.is_file()}


def _tiny(**kw):
    base = dict(algo="a2c-proper", env="CartPole-v1", frames=160, num_envs=2, n_steps=5, lockstep_interval=0,
                log_interval=1)
    base.update(kw)
    return Config(**base)


def test_out_dir_with_another_run_is_refused_and_untouched(tmp_path):
    out = tmp_path / "run"
    assert run(_tiny(), out, progress=False).status == "finished"
    before = _digest(out)
    with pytest.raises(RunDirError, match="already holds a run"):
        run(_tiny(seed=1), out, progress=False)
    with pytest.raises(RunDirError, match="config differs"):
        run(_tiny(algo="sql"), out, resume=True, progress=False)
    assert _digest(out) == before


def test_out_dir_with_foreign_files_is_refused(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "compare.json").write_text("{}")
    for resume in (False, True):
        with pytest.raises(RunDirError, match="not empty"):
            run(_tiny(), out, resume=resume, progress=False)
    assert [p.name for p in out.iterdir()] == ["compare.json"]


def test_cli_errors_exit_2_with_message(tmp_path, capsys):
    assert cli.main(["run", "--env", "CartPol-v1", "--out", str(tmp_path / "a"), "--no-progress"]) == 2
    assert "unknown environment id 'CartPol-v1'" in capsys.readouterr().err
    assert cli.main(["run", "--env", "CartPole-v1", "--tau", "-1", "--out", str(tmp_path / "b")]) == 2
    assert "tau must be" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:  # argparse: unknown algorithm
        cli.main(["run", "--algo", "ppo", "--out", str(tmp_path / "c")])
    assert err.value.code == 2
    assert "invalid choice: 'ppo'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_cli_overrides_reach_the_config(tmp_path):
    out = tmp_path / "r"
    code = cli.main(["run", "--algo", "sql", "--env", "CartPole-v1", "--frames", "1.6e2", "--num-envs", "2",
                     "--lockstep-interval", "0", "--lr-schedule", "constant", "--out", str(out), "--no-progress"])
    assert code == 0
    cfg = json.loads((out / "run.json").read_text())["config"]
    assert (cfg["algo"], cfg["frames"], cfg["num_envs"], cfg["lr_schedule"]) == ("sql", 160, 2, "constant")


def test_resume_without_checkpoint_but_with_progress_is_refused(tmp_path):
    out = tmp_path / "run"
    run(_tiny(), out, progress=False)
    (out / "checkpoint.pt").unlink()
    before = _digest(out)
    with pytest.raises(RunDirError, match="no checkpoint"):
        run(_tiny(frames=320), out, resume=True, progress=False)
    assert _digest(out) == before


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_request_without_cuda_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="torch.cuda.is_available"):
        run(_tiny(device="cuda"), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
