"""Support for the fetch tests: a workspace whose programme fetches a wave from an API.

The survey platforms' APIs are served by real HTTP servers on 127.0.0.1
(pytest-httpserver's ``httpserver`` fixture; ``conftest.httpserver_listen_address``), never
by patched functions. Tests copy the real exports of ``../shared/exports/`` into their own
folders; nothing is written beside them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from collab_stats import simulate_programme
from collab_stats.programme import Programme, parse_programme, programme_to_dict
from pipelines.fetch.http import RetryPolicy
from pipelines.workspace import Workspace, init_workspace

SHARED_EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "exports"

#: A retry policy for tests: the same rules, short waits (a server's Retry-After is still
#: honoured as it asks).
FAST = RetryPolicy(attempts=4, backoff=0.05, max_wait=0.2, timeout=5.0)
#: Seconds any one fetch test may take (each test checks its own time against it).
TEST_SECONDS = 20.0


def shared_export(tmp_path: Path, relative: str) -> Path:
    """A copy of ``../shared/exports/<relative>`` in ``tmp_path`` (never the original)."""
    source = SHARED_EXPORTS / relative
    target = tmp_path / "shared-copy" / Path(relative).name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def fetch_workspace(root: Path, sources: list[dict], *, seed: int = 1, n_collaborations: int = 3,
                    wave_index: int = -1) -> tuple[Workspace, Programme, str]:
    """A workspace (``collab init``) for a small simulated programme whose wave
    ``wave_index`` lists ``sources`` (dicts as in the programme file). Returns the workspace,
    the programme and the wave's id."""
    sim = simulate_programme(seed=seed, n_collaborations=n_collaborations, n_waves=2)
    doc = programme_to_dict(sim.programme)
    doc["waves"][wave_index]["sources"] = sources
    programme = parse_programme(doc)
    ws = init_workspace(root, programme=programme)
    return ws, programme, programme.waves[wave_index].id


def inbox_files(ws: Workspace) -> list[str]:
    """Every file under the workspace's inbox (relative paths), sorted."""
    return sorted(str(p.relative_to(ws.inbox)) for p in ws.inbox.rglob("*") if p.is_file())


def every_text_under(root: Path) -> str:
    """All bytes of every file under ``root``, decoded leniently (to search for a leaked
    credential)."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*")
                     if p.is_file())
