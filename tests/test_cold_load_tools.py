"""The cold-load statistics, the fleet view and the suite settings behind them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cli.main import main
from conformance.limits import LIMITS
from conformance.stats import detection_power, distinct_values, ecdf, ks_uniform, trials_for_power
from rig.config import REPO_ROOT, load_rig_file
from core.errors import ConfigError
from sim.fleet import compare


def test_ks_p_value_is_exact_for_small_samples() -> None:
    # one sample at F = 0.8: D = 0.8, and exactly P(D >= d) = 2 (1 - d) = 0.4 for n = 1 (the
    # asymptotic Kolmogorov series would say 0.47)
    result = ks_uniform([1 + 119 * 0.8], 1, 120)
    assert result.method == "exact" and result.d == pytest.approx(0.8)
    assert result.p_value == pytest.approx(0.4, abs=1e-9)


def test_power_of_the_range_check_and_the_trials_it_needs() -> None:
    # a lower bound 1 s early in 1-120 s: a draw falls below it with p = 1/120, i.e. (1/119)/(1 + 1/119)
    # of a 1-120 s range; 50 trials catch that about one run in three, 360 about 19 in 20
    share = 1 / 119
    assert detection_power(50, share) == pytest.approx(1 - (119 / 120) ** 50)
    assert detection_power(50, share) < 0.35
    n = trials_for_power(share, 0.95)
    assert detection_power(n, share) >= 0.95 > detection_power(n - 1, share)
    assert 355 <= n <= 362
    with pytest.raises(ValueError):
        trials_for_power(share, 1.0)


def test_ks_accepts_uniform_draws_and_rejects_a_cluster() -> None:
    rng = random.Random(7)
    uniform = [rng.uniform(1, 120) for _ in range(200)]
    assert ks_uniform(uniform, 1, 120).p_value > 0.05
    clustered = [rng.uniform(50, 60) for _ in range(50)]
    result = ks_uniform(clustered, 1, 120)
    assert result.p_value < 1e-6 and result.d > 0.4


def test_ks_distance_of_an_even_grid_is_one_over_n() -> None:
    grid = [1 + 119 * (k + 0.5) / 100 for k in range(100)]
    assert ks_uniform(grid, 1, 120).d == pytest.approx(0.005, abs=1e-9)


def test_distinct_values_at_a_resolution_and_the_ecdf() -> None:
    assert distinct_values([1.0, 1.004, 1.02, 60.0], 0.01) == 3
    assert ecdf([3.0, 1.0, 2.0]) == [(1.0, 1 / 3), (2.0, 2 / 3), (3.0, 1.0)]
    with pytest.raises(ValueError):
        ks_uniform([], 1, 120)


def test_fleet_with_delay_spreads_the_restart_that_a_fleet_without_steps() -> None:
    random_delay, no_delay = compare(20, {"seed": 3}, vehicle_a=16.0)
    assert random_delay.points[-1][1] == no_delay.points[-1][1] == 20 * 16.0
    assert no_delay.steepest_rise_a() == 20 * 16.0          # everyone at once, after the boot
    assert random_delay.steepest_rise_a() <= 4 * 16.0       # a few vehicles per second at most
    assert random_delay.time_to_fraction_s(1.0) > 60.0 > no_delay.time_to_fraction_s(1.0)


def test_fleet_command_writes_plot_and_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "fleet", "--count", "5", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fleet.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "fleet.csv").read_text().splitlines()[0].startswith("t_s,")
    assert "steepest rise" in capsys.readouterr().out
    assert main(["sim", "fleet", "--count", "0", "--out", str(tmp_path)]) == 2
    assert "--count" in capsys.readouterr().err


SIM_TRIALS = "cold_load_trials = 361"


def _sim_rig() -> str:
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    assert SIM_TRIALS in text
    return text


def test_the_virtual_labs_trial_count_buys_the_target_power() -> None:
    """rigs/sim.toml runs the fewest trials that catch a bound off by one part in
    `cold_load_power_parts` of the range with `cold_load_power_target` (issue: about 360)."""
    parts, target = LIMITS.rig.cold_load_power_parts.value, LIMITS.rig.cold_load_power_target.value
    assert load_rig_file(REPO_ROOT / "rigs" / "sim.toml").suite.cold_load_trials == trials_for_power(1 / parts, target)


@pytest.mark.parametrize("value, fragment", [("5", "[20, 10000]"), ('"many"', "cold_load_trials")])
def test_bad_trial_count_names_file_and_key(tmp_path: Path, value: str, fragment: str) -> None:
    rig = tmp_path / "rig.toml"
    rig.write_text(_sim_rig().replace(SIM_TRIALS, f"cold_load_trials = {value}"))
    with pytest.raises(ConfigError) as err:
        load_rig_file(rig)
    assert str(rig) in str(err.value) and fragment in str(err.value)


def test_trial_count_is_read_from_the_rig_file(tmp_path: Path) -> None:
    rig = tmp_path / "rig.toml"
    rig.write_text(_sim_rig().replace(SIM_TRIALS, "cold_load_trials = 500"))
    assert load_rig_file(rig).suite.cold_load_trials == 500
    assert load_rig_file(REPO_ROOT / "rigs" / "sim.toml").suite.cold_load_trials == 361
