"""Deployments: ``prefect.yaml`` checked against Prefect's own deployment models, the
deployments ``collab serve`` serves, and one deployment of ``prefect.yaml`` run end to end on
a real local server by a process worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from processes import healthy as _healthy
from processes import stop as _stop

from collab_stats.errors import CollabStatsError

ROOT = Path(__file__).resolve().parents[1]
LONDON = ZoneInfo("Europe/London")

# The deployments prefect.yaml must define: entrypoint, and the schedule ("cron", "interval"
# or None for on demand). `collab serve` serves the same three under the same names. (The demo
# simulation is deployed only on purpose: see tests/test_operations.py.)
EXPECTED = {
    "wave-run": ("pipelines/flows.py:run_wave", "cron"),
    "inbox-watcher": ("pipelines/flows.py:watch_inbox", "interval"),
    "rebuild-reports": ("pipelines/flows.py:rebuild_reports", None),
}
SERVED = ["wave-run", "inbox-watcher", "rebuild-reports"]


def load_prefect_yaml() -> dict:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())


def run_build_steps(config: dict) -> dict:
    """The outputs of prefect.yaml's build steps, as `prefect deploy` computes them (the
    step functions called with the same templating, minus Prefect block and variable
    look-ups, which need a server and which prefect.yaml does not use)."""
    from prefect.utilities.importtools import import_object
    from prefect.utilities.templating import apply_values

    outputs: dict = {}
    for step in config["build"]:
        ((name, inputs),) = step.items()
        inputs = dict(inputs)
        step_id = inputs.pop("id")
        inputs = apply_values(apply_values(inputs, outputs), os.environ)
        result = import_object(name)(**inputs)
        outputs[step_id] = asyncio.run(result) if asyncio.iscoroutine(result) else result
    return outputs


def resolved_deployments(config: dict) -> dict[str, dict]:
    from prefect.utilities.templating import apply_values

    outputs = run_build_steps(config)
    return {d["name"]: apply_values(d, outputs) for d in config["deployments"]}


def load_flow(entrypoint: str):
    from prefect.flows import load_flow_from_entrypoint

    path, name = entrypoint.split(":")
    return load_flow_from_entrypoint(f"{ROOT / path}:{name}")


def next_runs(schedule, start: dt.datetime, n: int = 1) -> list[dt.datetime]:
    from pipelines.serve import next_run_times

    return next_run_times(schedule, n, start=start)


# --- prefect.yaml --------------------------------------------------------------------------

def test_prefect_yaml_parses_with_prefects_deploy_model():
    from prefect.cli.deploy._models import PrefectYamlModel, RawScheduleConfig

    config = load_prefect_yaml()
    model = PrefectYamlModel.model_validate(config)  # what `prefect deploy` reads
    assert {d.name for d in model.deployments} == set(EXPECTED)
    for deployment in model.deployments:
        entrypoint, schedule_kind = EXPECTED[deployment.name]
        assert deployment.entrypoint == entrypoint
        assert deployment.work_pool.name == "collab-process"
        assert deployment.enforce_parameter_schema is True
        # `schedules: []` (not absent): deploying never prompts and clears old schedules.
        assert deployment.schedules is not None
        assert len(deployment.schedules) == (1 if schedule_kind else 0)
        for schedule in deployment.schedules:
            assert isinstance(schedule, RawScheduleConfig)  # extra="forbid": no typo'd keys
            assert schedule.timezone == "Europe/London"
            assert getattr(schedule, schedule_kind) is not None
    assert model.pull == [{"prefect.deployments.steps.set_working_directory":
                           {"directory": "{{ repo.stdout }}"}}]


def test_build_steps_record_the_repository_and_the_workspace(monkeypatch, tmp_path):
    config = load_prefect_yaml()
    monkeypatch.chdir(ROOT)  # `prefect deploy` runs from the repository
    monkeypatch.delenv("COLLAB_STATS_WORKSPACE", raising=False)
    outputs = run_build_steps(config)
    assert outputs["repo"]["stdout"] == str(ROOT)
    assert outputs["workspace"]["stdout"] == str(ROOT / "demo-output")

    monkeypatch.setenv("COLLAB_STATS_WORKSPACE", str(tmp_path / "my programme"))
    deployments = resolved_deployments(config)
    for name in SERVED:
        assert deployments[name]["parameters"]["workspace"] == str(tmp_path / "my programme")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_prefect_yaml_deployment_is_valid_for_its_flow(name, monkeypatch):
    from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.deployments.runner import RunnerDeployment
    from prefect.utilities.callables import parameter_schema

    monkeypatch.chdir(ROOT)
    deployment = resolved_deployments(load_prefect_yaml())[name]
    flow = load_flow(deployment["entrypoint"])
    parameters = deployment["parameters"]
    # The typed signature accepts the parameters (raises on an unknown name, a wrong type,
    # or a missing required parameter).
    validated = flow.validate_parameters(parameters)
    required = parameter_schema(flow).model_dump()["required"] or []
    assert set(required) <= set(parameters)
    assert set(validated) >= set(parameters)
    # The schedules become the objects the CLI sends to the server.
    schedules = [DeploymentScheduleCreate(**_schedule_config_to_deployment_schedule(s))
                 for s in deployment["schedules"]]
    # The deployment object `prefect deploy` builds from these fields.
    runner = RunnerDeployment(
        name=deployment["name"], flow_name=flow.name, entrypoint=deployment["entrypoint"],
        work_pool_name=deployment["work_pool"]["name"],
        work_queue_name=deployment["work_pool"]["work_queue_name"],
        parameters=parameters, description=deployment["description"],
        tags=deployment["tags"], schedules=schedules,
        enforce_parameter_schema=deployment["enforce_parameter_schema"],
    )
    assert runner.parameters == parameters and runner.enforce_parameter_schema
    assert runner.work_pool_name == "collab-process"


def test_prefect_yaml_rejects_a_mistyped_parameter():
    """The check above can fail: a wrong type or an unknown name is refused."""
    from prefect.exceptions import ParameterTypeError, SignatureMismatchError

    flow = load_flow(EXPECTED["rebuild-reports"][0])
    with pytest.raises(ParameterTypeError, match="wave"):
        flow.validate_parameters({"workspace": "w", "wave": 2025})
    with pytest.raises(SignatureMismatchError, match="programme"):
        flow.validate_parameters({"workspace": "w", "programme": "p"})


def test_wave_run_is_quarterly_at_six_in_the_morning_london_time():
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    deployments = {d["name"]: d for d in load_prefect_yaml()["deployments"]}
    (wave,) = deployments["wave-run"]["schedules"]
    cron = CronSchedule(cron=wave["cron"], timezone=wave["timezone"])
    winter = next_runs(cron, dt.datetime(2026, 12, 1, tzinfo=dt.UTC), 2)
    assert winter == [dt.datetime(2027, 1, 1, 6, tzinfo=LONDON),
                      dt.datetime(2027, 4, 1, 6, tzinfo=LONDON)]
    assert winter[0].utcoffset() == dt.timedelta(0)  # GMT
    assert winter[1].utcoffset() == dt.timedelta(hours=1)  # BST: 05:00 UTC
    assert winter[1].astimezone(dt.UTC).hour == 5

    (inbox,) = deployments["inbox-watcher"]["schedules"]
    interval = IntervalSchedule(interval=dt.timedelta(seconds=inbox["interval"]),
                                timezone=inbox["timezone"])
    assert interval.interval == dt.timedelta(minutes=5)


# --- collab serve ----------------------------------------------------------------------------

@pytest.fixture
def workspace(tmp_path):
    from pipelines.workspace import init_workspace

    return init_workspace(tmp_path / "programme").root


def test_deployment_specs_serve_the_workspace_on_london_schedules(workspace):
    from prefect.flows import load_flow_from_entrypoint

    from pipelines import flows
    from pipelines.serve import deployment_specs

    specs = {d.name: d for d in deployment_specs(workspace)}
    assert list(specs) == SERVED
    assert {n: d.flow_name for n, d in specs.items()} == {
        "wave-run": "run-wave", "inbox-watcher": "watch-inbox",
        "rebuild-reports": "rebuild-reports"}
    for name, spec in specs.items():
        assert spec.parameters == {"workspace": str(workspace)}
        assert spec.enforce_parameter_schema
        assert spec.work_pool_name is None  # served here, no worker needed
        # Module entrypoints: the runs work whatever the working directory.
        flow = load_flow_from_entrypoint(spec.entrypoint)
        assert flow.fn is getattr(flows, EXPECTED[name][0].split(":")[1]).fn
        flow.validate_parameters({"workspace": str(workspace)} if name != "wave-run"
                                 else {"workspace": str(workspace), "wave": "2025-03"})
    (cron,) = specs["wave-run"].schedules
    assert (cron.schedule.cron, cron.schedule.timezone) == ("0 6 1 1,4,7,10 *", "Europe/London")
    assert next_runs(cron.schedule, dt.datetime(2026, 12, 1, tzinfo=dt.UTC)) == [
        dt.datetime(2027, 1, 1, 6, tzinfo=LONDON)]
    (interval,) = specs["inbox-watcher"].schedules
    assert interval.schedule.interval == dt.timedelta(seconds=300)
    assert interval.schedule.timezone == "Europe/London"
    assert specs["rebuild-reports"].schedules == []


def test_deployment_specs_match_prefect_yaml(workspace, monkeypatch):
    from pipelines.serve import deployment_specs

    monkeypatch.chdir(ROOT)
    yaml_deployments = resolved_deployments(load_prefect_yaml())
    for spec in deployment_specs(workspace):
        entry = yaml_deployments[spec.name]
        assert load_flow(entry["entrypoint"]).name == spec.flow_name
        expected = [(s.get("cron"), s.get("interval"), s["timezone"]) for s in entry["schedules"]]
        served = [(getattr(s.schedule, "cron", None),
                   s.schedule.interval.total_seconds() if hasattr(s.schedule, "interval")
                   else None, s.schedule.timezone) for s in spec.schedules]
        assert served == expected
        assert set(spec.parameters) == set(entry["parameters"]) - {"wave"}


def test_deployment_specs_options(workspace):
    from pipelines.serve import deployment_specs

    specs = {d.name: d for d in deployment_specs(workspace, wave_cron=None, inbox_interval=60,
                                                 timezone="Europe/Dublin")}
    assert specs["wave-run"].schedules == []
    (interval,) = specs["inbox-watcher"].schedules
    assert (interval.schedule.interval, interval.schedule.timezone) == (
        dt.timedelta(seconds=60), "Europe/Dublin")
    specs = {d.name: d for d in deployment_specs(workspace, inbox_interval=None)}
    assert specs["inbox-watcher"].schedules == []


@pytest.mark.parametrize(("options", "message"), [
    ({"wave_cron": "0 6 1 13 *"}, r"wave_cron: '0 6 1 13 \*' is not a valid cron"),
    ({"inbox_interval": 0}, "inbox_interval: expected a whole number of seconds, at least 10"),
    ({"inbox_interval": 2.5}, "inbox_interval: .* got 2.5"),
    ({"timezone": "London"}, "timezone: 'London' is not an IANA time zone name"),
])
def test_deployment_specs_reject_bad_options(workspace, options, message):
    from pipelines.serve import deployment_specs

    with pytest.raises(CollabStatsError, match=message):
        deployment_specs(workspace, **options)


def test_deployment_specs_need_a_workspace(tmp_path):
    from pipelines.serve import deployment_specs

    with pytest.raises(CollabStatsError, match="not a collab-stats workspace"):
        deployment_specs(tmp_path)


def test_serve_describes_what_runs_when(workspace):
    from pipelines.serve import deployment_specs, describe
    from pipelines.workspace import Workspace

    text = describe(deployment_specs(workspace), Workspace.at(workspace),
                    "http://127.0.0.1:4200")
    assert "Prefect UI: http://127.0.0.1:4200" in text
    assert "run-wave/wave-run" in text and "cron '0 6 1 1,4,7,10 *' (Europe/London)" in text
    assert "watch-inbox/inbox-watcher" in text and "every 300 s" in text
    assert "rebuild-reports/rebuild-reports    on demand" in text
    assert f"{workspace}/inbox/<wave>/" in text


# --- end to end: prefect.yaml on a real server, run by a process worker -----------------------

PREPARE = """\
import sys, time, urllib.request
from pipelines.flows import run_programme  # imported while the server starts
url, deadline = sys.argv[2], time.monotonic() + 120
while True:
    try:
        urllib.request.urlopen(url + "/api/health", timeout=2).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("no server")
        time.sleep(0.25)
print(run_programme(sys.argv[1], reports=False)["wave"])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.prefect
def test_prefect_yaml_deploys_and_a_process_worker_runs_rebuild_reports(tmp_path):
    from pipelines.simulate_flow import export_waves, simulate, write_programme

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    home = tmp_path / "prefect-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_ENABLED="false", PREFECT_LOGGING_LEVEL="INFO")
    client_env = {**env, "PREFECT_API_URL": f"{url}/api"}
    prefect = [sys.executable, "-m", "prefect"]
    started = time.monotonic()
    processes: list[subprocess.Popen] = []
    server_log = tmp_path / "server.log"
    try:
        with open(server_log, "wb") as log:
            processes.append(subprocess.Popen(
                [*prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        # While the server starts: a workspace of 4 collaborations x 2 waves in the inbox,
        # and a process that will ingest and analyse it on that server (no reports yet).
        ws = tmp_path / "programme"
        sim = simulate.fn(seed=5, n_collaborations=4, n_waves=2)
        write_programme.fn(sim, ws)
        export_waves.fn(sim, ws)
        prepare = subprocess.Popen([sys.executable, "-c", PREPARE, str(ws), url],
                                   env=client_env, cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        processes.append(prepare)
        while not _healthy(url):
            if processes[0].poll() is not None or time.monotonic() - started > 90:
                pytest.skip("the local Prefect server did not start: "
                            + server_log.read_text(errors="replace")[-800:])
            time.sleep(0.25)
        # Meanwhile, the work pool and the deployment, as a researcher makes them.
        for command, extra in [(["work-pool", "create", "collab-process", "--type", "process"],
                                {}),
                               (["deploy", "--name", "rebuild-reports", "--no-prompt"],
                                {"COLLAB_STATS_WORKSPACE": str(ws)})]:
            done = subprocess.run([*prefect, *command], env={**client_env, **extra}, cwd=ROOT,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
        out, err = prepare.communicate(timeout=180)
        assert prepare.returncode == 0, err
        assert out.strip() == "2025-09"
        assert not (ws / "reports" / "index.html").exists()

        deployment, run_id = asyncio.run(_create_runs(url))
        # What `prefect deploy` registered from prefect.yaml.
        assert deployment.parameters == {"workspace": str(ws)}
        assert deployment.work_pool_name == "collab-process"
        assert deployment.enforce_parameter_schema
        assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory":
                                          {"directory": str(ROOT)}}]
        assert deployment.schedules == []

        worker = subprocess.run(
            [*prefect, "worker", "start", "--pool", "collab-process", "--run-once"],
            env=client_env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
            start_new_session=True)
        state = asyncio.run(_state(url, run_id))
        assert state.is_completed(), worker.stdout[-3000:] + worker.stderr[-3000:]
        assert (ws / "reports" / "index.html").is_file()
        assert any((ws / "reports" / "collaborations").glob("*.html"))
        assert not any((ws / "reports").rglob("*.pdf"))  # the run's pdf=False was applied
    finally:
        for process in reversed(processes):
            _stop(process)


async def _create_runs(url: str):
    """The registered deployment, and a flow run of it (pdf off, to keep the test short);
    a mistyped parameter is refused by the server (enforce_parameter_schema)."""
    from prefect.client.orchestration import PrefectClient
    from prefect.exceptions import PrefectHTTPStatusError

    async with PrefectClient(api=f"{url}/api") as client:
        deployment = await client.read_deployment_by_name("rebuild-reports/rebuild-reports")
        with pytest.raises(PrefectHTTPStatusError, match="Validation failed for field 'wave'"):
            await client.create_flow_run_from_deployment(deployment.id,
                                                         parameters={"wave": 2025})
        run = await client.create_flow_run_from_deployment(deployment.id,
                                                           parameters={"pdf": False})
        return deployment, run.id


async def _state(url: str, run_id):
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api=f"{url}/api") as client:
        return (await client.read_flow_run(run_id)).state
