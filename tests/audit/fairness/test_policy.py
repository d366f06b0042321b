"""Policy files: defaults, overrides, and errors that name the bad key."""
from __future__ import annotations

import pytest

from deepaudit.audit.fairness.policy import DEFAULT_POLICY_PATH, load_policy


def test_default_policy_ships_and_loads():
    assert DEFAULT_POLICY_PATH.is_file()
    p = load_policy()
    assert p.impact_ratio_min == 0.8 and p.min_group_share == 0.02 and p.n_boot == 1000
    assert p.source == "default"


def test_override_keeps_other_defaults(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("[fairness]\nimpact_ratio_min = 0.9\nn_boot = 2000\nexclude_small_groups = false\n")
    p = load_policy(f)
    assert (p.impact_ratio_min == 0.9 and p.n_boot == 2000 and p.exclude_small_groups is False
            and p.ece_max == 0.1 and p.source == str(f))


@pytest.mark.parametrize("text,fragment", [
    ("[fairness]\nimpact_ratio_minimum = 0.8\n", "unknown key 'impact_ratio_minimum'"),
    ("[fairnes]\nimpact_ratio_min = 0.8\n", "unknown section [fairnes]"),
    ("[explanations]\nimpact_ratio_min = 0.8\n", "unknown key 'impact_ratio_min' in [explanations]"),
    ("[explanations]\nshortcut_ratio_max = 0.5\n", "a number >= 1"),
    ("[fairness]\nimpact_ratio_min = 1.5\n", "must be a number in [0, 1]"),
    ("[fairness]\ncorrection = 'bonferroni'\n", "'holm' or 'bh'"),
    ("[fairness]\nn_boot = 200\n", "between 1000 and 100000"),
    ("[fairness]\nexclude_small_groups = 1\n", "true or false"),
    ("[fairness]\nece_max = true\n", "a number in [0, 1]"),
    ("[fairness]\nimpact_ratio_min = \n", "not valid TOML"),
])
def test_bad_policy_files(tmp_path, text, fragment):
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        load_policy(f)


def test_missing_policy_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")
