"""`bentoml build` works from the committed bentofile and packs everything the service imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("serving")]
ROOT = Path(__file__).resolve().parents[2]


def test_bentoml_build_packs_the_service(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("bentoml")), "build", str(ROOT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (bento,) = [p for p in (tmp_path / "bentos" / "les").iterdir() if (p / "bento.yaml").exists()]
    manifest = yaml.safe_load((bento / "bento.yaml").read_text())
    assert manifest["service"] == "serving.service:LesService"
    source = bento / "src"
    packaged = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()}
    expected = {
        p.relative_to(ROOT).as_posix()
        for folder in ("features", "training", "serving")
        for p in (ROOT / folder).rglob("*")
        if p.is_file()
        and p.suffix in (".py", ".yaml", ".j2", ".js", ".css", ".html")
        and "__pycache__" not in p.parts
    }
    assert expected <= packaged, sorted(expected - packaged)
    api = yaml.safe_load((bento / "apis" / "openapi.yaml").read_text())
    assert {"/predict", "/predict_orders", "/explain"} <= set(api["paths"])
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "lightgbm==" in requirements and "bentoml==" in requirements
