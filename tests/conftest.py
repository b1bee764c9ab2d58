"""Shared fixtures: no test ever touches the real user data directory."""

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Point MHAQUIZ_HOME at a fresh temporary directory for every test."""
    home = tmp_path / "mhaquiz-home"
    monkeypatch.setenv("MHAQUIZ_HOME", str(home))
    return home
