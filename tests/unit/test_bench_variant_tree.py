"""A bench variant's PYTHONPATH tree is the code its pipeline process runs.

`python -m consumer` puts the working directory first on sys.path, so from the repository
root the checkout's own `consumer/` shadowed a variant's exported tree: a before/after run
compared the same code twice. The child process runs with `-P`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from push_tools.bench.pipeline_run import PipelineProcess

REPO = Path(__file__).resolve().parents[2]


def test_the_variant_tree_runs_even_from_the_repository_root(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "consumer").mkdir(parents=True)
    marker = tmp_path / "ran"
    (tree / "consumer" / "__init__.py").write_text("")
    (tree / "consumer" / "__main__.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text(__file__)\n"
    )
    config = tmp_path / "pipeline.toml"
    config.write_text("")
    before = Path.cwd()
    os.chdir(REPO)  # where the bench runs: the checkout's consumer/ is right there
    try:
        with PipelineProcess(config, tmp_path / "log", env={"PYTHONPATH": str(tree)}) as run:
            deadline = time.monotonic() + 30
            while run.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        os.chdir(before)
    assert marker.read_text() == str(tree / "consumer" / "__main__.py")
