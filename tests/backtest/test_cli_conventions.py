"""CLI conventions: --version, -h, a light `hft --help`, choices, $HFT_STORE, config-relative
stores, and missing days said out loud (or refused with --strict)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

import hft
from hft.backtest import load_config
from hft.cli import app

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_version_and_short_help_flags():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"hft {hft.__version__}"
    for args in (["-h"], ["run", "-h"], ["report", "-h"], ["ingest", "-h"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0 and "Usage" in res.output, args
    res = CliRunner().invoke(
        app, ["ingest", "XAUUSD", "--start", "2024-03-04", "--end", "2024-03-04", "--source", "ftp"]
    )
    assert res.exit_code == 2 and "bi5" in res.output and "json" in res.output


def test_top_level_help_imports_no_engine_ray_polars_or_optuna():
    code = (
        "import sys\nfrom hft.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('numba', 'ray', 'polars', 'optuna', 'hft.engine')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "LOADED []" in res.stdout, res.stdout + res.stderr
    assert "run" in res.stdout and "sweep" in res.stdout and "report" in res.stdout  # lazy ones listed


def test_relative_store_is_read_against_the_config_folder(tmp_path):
    doc = yaml.safe_load((CONFIGS / "ema_cross.yaml").read_text())
    doc["data"]["store"] = "../st"
    (tmp_path / "sub").mkdir()
    cfg = tmp_path / "sub" / "c.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    assert Path(load_config(cfg).data.store) == (tmp_path / "st").resolve()
    assert Path(load_config(CONFIGS / "ema_cross.yaml").data.store) == CONFIGS.parent / "data"


def test_run_honours_hft_store_and_names_missing_days(store_copy, tmp_path):
    doc = yaml.safe_load((CONFIGS / "ema_cross.yaml").read_text())
    doc["data"].pop("store")
    doc["data"]["end"] = "2019-02-07"  # the fixture holds 02-04 and 02-05 only
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    env = {"HFT_STORE": store_copy}
    strict = CliRunner().invoke(app, ["run", str(cfg), "--strict"], env=env)
    assert (
        strict.exit_code == 2
        and "2019-02-06, 2019-02-07" in strict.output
        and "nothing was run" in strict.output
    )
    assert not Path(store_copy, "runs").exists()
    res = CliRunner().invoke(app, ["run", str(cfg)], env=env)
    assert res.exit_code == 0, res.output
    assert "warning: 2 requested day(s) of EURUSD" in res.output and "2019-02-06, 2019-02-07" in res.output
    assert Path(store_copy, "runs").is_dir()


def _commands(group, prefix=()):
    """(path, click command) of every `hft` command, lazy ones built."""
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        cmd = cmd.real() if hasattr(cmd, "real") else cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_every_command_that_reads_a_store_honours_hft_store_and_its_help_fits_80_columns():
    import typer

    group = typer.main.get_command(app)
    seen = []
    for path, cmd in _commands(group):
        store = [p for p in cmd.params if p.name in ("store", "runs_url")]
        if store:
            seen.append(" ".join(path))
            assert store[0].envvar == "HFT_STORE", path
        res = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert res.exit_code == 0 and max(len(line) for line in res.output.splitlines()) <= 80, path
        assert "--install-completion" not in res.output, path  # completion is the top command's
    assert {"ingest", "store", "run", "rerun", "sweep", "report", "dashboard"} <= set(seen), seen
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).output


def test_a_reader_that_leaves_early_is_not_an_error():
    """`hft schema -h | head`: no `error: … a bug` line when the pipe closes under the output."""
    for args in (["schema", "sweep"], ["schema", "-h"], ["symbols"]):  # click echo, rich help, rich table
        proc = subprocess.Popen(
            [sys.executable, "-m", "hft.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "COLUMNS": "80", "PYTHONPATH": str(CONFIGS.parent)},
        )
        proc.stdout.close()  # the reader is gone before the first line (`| head -0`): every write fails
        err = proc.stderr.read().decode()
        assert proc.wait(60) in (0, 1) and "error" not in err, (args, err)
