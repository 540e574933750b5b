"""ray-cluster.yaml passes Ray's own cluster-config schema (after Ray fills in its defaults)."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.commands import prepare_config
from ray.autoscaler._private.util import validate_config

CONFIG = Path(__file__).resolve().parents[2] / "ray-cluster.yaml"


def test_launcher_config_is_valid_for_ray():
    config = yaml.safe_load(CONFIG.read_text())
    validate_config(prepare_config(config))
    assert config["provider"]["type"] == "aws"
    assert set(config["available_node_types"]) == {"head", "cpu_worker"}
    worker = config["available_node_types"]["cpu_worker"]
    assert 0 <= worker["min_workers"] <= worker["max_workers"] <= config["max_workers"]
    for node in config["available_node_types"].values():
        assert "IamInstanceProfile" in node["node_config"]  # S3 access without keys on the nodes
    setup = "\n".join(config["setup_commands"])
    assert "pip install" in setup and "hft @ git+" in setup and "HFT_STORE=s3://" in setup


def test_nodes_run_with_token_auth_and_the_token_is_not_in_the_repository():
    config = yaml.safe_load(CONFIG.read_text())
    remote = "~/.config/hft/ray-cluster-token"
    local = Path(config["file_mounts"][remote]).expanduser()
    root = CONFIG.parent.resolve()
    assert not local.resolve().is_relative_to(root)  # copied from the laptop, never committed
    token_env = "RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$HOME/.config/hft/ray-cluster-token"
    cmds = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    starts = [c for c in cmds if "ray start" in c]
    assert len(starts) == 2 and all(token_env in c for c in starts), starts  # the head and the workers
    assert any(token_env in c and ".bashrc" in c for c in config["setup_commands"])  # drivers and jobs
    assert not re.search(r"[0-9a-f]{32}", CONFIG.read_text())  # no token written into the file


def test_placeholders_are_marked_for_the_user():
    text = CONFIG.read_text()
    assert text.count("CHANGE-ME") >= 6


def test_schema_rejects_a_typo():
    config = yaml.safe_load(CONFIG.read_text())
    config["available_node_types"]["cpu_worker"]["min_worker"] = 1  # typo of min_workers
    with pytest.raises(jsonschema.ValidationError, match="min_worker"):
        validate_config(prepare_config(config))
