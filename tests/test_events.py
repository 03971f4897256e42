"""The one event schema (kgen.events) and the versioned run format (docs/RUN_FORMAT.md): every
kind round-trips through its JSON line, the same records reach a listener and the views, runs
written before the format had a version are read in full, and newer formats are handled."""

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from kgen import events as ev
from kgen.errors import RunError
from kgen.runs import EventLog, Run, read_events
from kgen.safe_io import read_picture
from kgen.services.follower import RunFollower, describe_run

ROOT = Path(__file__).resolve().parents[1]
V1 = Path(__file__).parent / "data" / "v1"  # runs written by kgen before this schema (format 1)
PICTURE = np.arange(12, dtype=np.uint8).reshape(3, 4)
# One record of each kind with every JSON field set (memory-only fields too, where a kind has them).
EXAMPLES = [
    ev.Start(time=1.5, format=2, device="CPU: x", epochs=3, initial_epoch=1, steps_per_epoch=4, dataset="digits",
             source="external", model="m", strategy="default", replicas=1, precision="float32", run_dir="/r", pid=7),
    ev.Step(time=2.0, step=5, epoch=2, elapsed=0.5, metrics={"loss": float("inf"), "kl": 1.0},
            steps_per_second=3.0, images_per_second=96.0),
    ev.Epoch(time=2.5, epoch=2, step=8, elapsed=1.0, metrics={"loss": 0.5, "val_loss": float("inf")}),
    ev.Samples(time=3.0, epoch=2, path="samples/epoch_0002.png", picture=PICTURE),
    ev.Hparam(time=3.5, step=6, name="lr", old=1e-3, new=5e-4),
    ev.Eval(time=4.0, split="test", n=100, metrics={"elbo": -90.0}),
    ev.End(time=4.5, status="stopped", elapsed=2.0),
    ev.Note(time=5.0, message="already trained 3 of 3 epochs"),
    ev.Error(time=5.5, message="training diverged", fault="non-finite", step=6, epoch=2),
]
PIPE_ONLY = [ev.WarningEvent(message="m"), ev.Saved(step=1, path="p"), ev.Reconstructions(epoch=1, picture=PICTURE),
             ev.Playground(step=1, epoch=1), ev.DrawSteps(step=1, epoch=1), ev.Game1D(step=1, epoch=1), ev.Finished(run_dir="r"),
             ev.Reset(reason="r")]


def test_every_kind_has_an_example():
    assert {e.kind for e in EXAMPLES + PIPE_ONLY} == set(ev.KINDS)
    assert all(e.on_disk for e in EXAMPLES) and not any(e.on_disk for e in PIPE_ONLY)


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda e: e.kind)
def test_a_record_round_trips_through_its_json_line_without_its_memory_fields(record):
    line = ev.dump_line(record)
    assert line.endswith("\n") and line.count("\n") == 1
    back, why = ev.parse_line(line)
    assert why is None and type(back) is type(record)
    assert back.to_json() == json.loads(line) and back.to_json().keys() == record.to_json().keys()
    assert back == record  # memory-only fields are not compared ...
    for name in ("picture", "run_dir", "pid", "steps_per_second", "images_per_second"):
        assert name not in json.loads(line)  # ... and never written
    assert back["type"] == record.kind and dict(back) == back.to_json()  # read as the JSON it came from


@pytest.mark.parametrize("record", PIPE_ONLY, ids=lambda e: e.kind)
def test_pipe_only_kinds_never_go_to_disk_nor_come_from_it(record):
    with pytest.raises(ValueError, match="never written"):
        ev.dump_line(record)
    back, why = ev.parse_line(json.dumps(record.to_json()))
    assert back is None and "unknown event type" in why


def test_from_json_checks_and_never_raises():
    assert ev.Step.from_json({"type": "epoch", "epoch": 1}) == (None, "not a step event (a epoch event)")
    assert ev.Event.from_json({"type": "step"}) == (None, "step event without 'step'")
    assert ev.Event.from_json({"type": "step", "step": None})[1] == "step event: 'step' must be a whole number from 0 to 9,007,199,254,740,992"
    assert ev.Event.from_json([1, 2]) == (None, "not a JSON object")
    diverged, _ = ev.parse_line('{"type": "step", "step": 1, "metrics": {"loss": NaN}}')
    assert np.isnan(diverged.metrics["loss"])  # a diverging run's loss is an event, not garbage
    record, why = ev.Event.from_json({"type": "start", "epochs": None, "from_a_newer_kgen": [1]})
    assert why is None and record == ev.Start() and "from_a_newer_kgen" not in record.to_json()  # ignored


def test_the_log_hands_its_listener_the_same_records_pictures_and_all(tmp_path):
    heard = []
    log = EventLog(tmp_path / "run" / "events.jsonl", heard.append)
    start = log.write(ev.Start(device="CPU"))
    samples = log.write(ev.Samples(epoch=1, path="samples/epoch_0001.png", picture=PICTURE))
    log.write("step", step=1, metrics={"loss": 1.0})  # a kind's name and fields: the same record
    log.close()
    assert heard[:2] == [start, samples] and heard[0] is start and heard[1].picture is PICTURE
    assert start.format == ev.FORMAT_VERSION and start.run_dir == str(tmp_path / "run") and start.time > 0
    lines = (tmp_path / "run" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [e.to_json() for e in heard]
    assert read_events(tmp_path / "run" / "events.jsonl") == heard


def test_global_step_numbers_steps_from_one_across_epochs():
    assert [ev.global_step(e, b, 3) for e in range(2) for b in range(3)] == [1, 2, 3, 4, 5, 6]
    assert ev.global_step(2, -1, 3) == 6  # before epoch 2's first batch


def test_the_global_step_formula_is_written_once():
    """Every callback counting steps calls kgen.events.global_step (issue 14: it was written four times)."""
    formula = re.compile(r"epoch\w*\s*\*\s*\(?\s*(self\.)?(steps_per_epoch|steps|params)")
    found = [f"{p.relative_to(ROOT)}:{i}" for folder in ("kgen", "gui") for p in sorted((ROOT / folder).rglob("*.py"))
             if p.name != "events.py" for i, line in enumerate(p.read_text().splitlines(), 1) if formula.search(line)]
    assert found == []


def test_step_rates_come_from_the_steps_elapsed_times():
    rates = ev.StepRates(examples_per_step=32, window=3)
    steps = [ev.Step(step=s, elapsed=s * 0.5) for s in range(1, 6)]
    for step in steps:
        rates.observe(step)
    assert steps[0].steps_per_second is None  # one step gives no rate
    assert [s.steps_per_second for s in steps[1:]] == [2.0] * 4 and steps[-1].images_per_second == 64.0
    rates.observe(ev.Start())  # a new session of the run: its clock starts over
    again = ev.Step(step=6, elapsed=0.1)
    rates.observe(again)
    assert again.steps_per_second is None


def test_run_format_of_runs_with_and_without_one():
    assert ev.run_format({}) == ev.run_format(ev.Start()) == ev.run_format({"format": "2"}) == 1
    assert ev.run_format({"format": 2}) == ev.run_format(ev.Start(format=2)) == 2


# Runs written before this change (tests/data/v1) --------------------------------------------


@pytest.fixture
def v1(tmp_path):
    """A copy of the format-1 runs (readers must not write, but a bug must not spoil the fixture)."""
    shutil.copytree(V1, tmp_path / "v1")
    return tmp_path / "v1"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_read_events_reads_a_format_1_kgen_run_in_full(v1):
    events = read_events(v1 / "vae-digits" / "events.jsonl")
    assert [e.kind for e in events] == ["start"] + (["step"] * 6 + ["epoch", "samples"]) * 2 + ["end", "eval"]
    start = events[0]
    assert ev.run_format(start) == 1 and start.format is None
    assert (start.epochs, start.steps_per_epoch, start.initial_epoch, start.dataset) == (2, 6, 0, "digits")
    assert [e.step for e in events if e.kind == "step"] == list(range(1, 13))
    assert [(e.epoch, e.path) for e in events if e.kind == "samples"] == [(1, "samples/epoch_0001.png"),
                                                                       (2, "samples/epoch_0002.png")]
    assert {"elbo", "reconstruction", "kl"} <= set(events[-1].metrics)
    lines = (v1 / "vae-digits" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [e.to_json() for e in events]  # nothing lost or added


def test_describe_run_and_run_open_read_format_1_runs(v1):
    info = describe_run(v1 / "vae-digits")
    assert info["source"] == "kgen" and (info["model"], info["dataset"], info["examples_per_step"]) == ("vae", "digits", 256)
    assert info["config"].model.hidden == (16,) and Run.open(v1 / "vae-digits").config() == info["config"]
    logger = describe_run(v1 / "logger-digits")
    assert (logger["source"], logger["model"], logger["note"], logger["format"]) == ("external", "digits_mlp", "fixture", 1)


def test_the_follower_reads_format_1_runs_in_full_and_writes_nothing(v1):
    before = snapshot(v1)
    follower = RunFollower(v1 / "vae-digits")
    events = follower.poll()
    assert [e.kind for e in events] == [e.kind for e in read_events(v1 / "vae-digits" / "events.jsonl")]
    assert follower.status == "finished" and follower.skipped == 0 and follower.newer_format is None
    assert events[0].run_dir == str(v1 / "vae-digits")
    for samples in (e for e in events if e.kind == "samples"):
        assert np.array_equal(samples.picture, read_picture(v1 / "vae-digits" / samples.path))
    steps = [e for e in events if e.kind == "step"]
    assert steps[0].images_per_second is None and steps[-1].images_per_second == pytest.approx(steps[-1].steps_per_second * 256)
    logged = RunFollower(v1 / "logger-digits").poll()
    assert [e.kind for e in logged] == ["start"] + (["step"] * 6 + ["epoch", "samples"]) * 2 + ["end"]
    assert logged[0].source == "external" and logged[8].picture.shape == (6, 9)
    assert snapshot(v1) == before


def test_the_studios_monitor_shows_a_format_1_run_in_full(v1, qtbot):
    pytest.importorskip("PySide6")
    from gui.run_monitor import RunMonitor

    monitor = RunMonitor()
    seen: dict[str, list] = {}
    for name in ("started", "step", "epoch", "samples", "hparam", "evaluated", "finished", "model_ready", "notice"):
        getattr(monitor, name).connect(lambda *args, name=name: seen.setdefault(name, []).append(args))
    monitor.follow(v1 / "vae-digits")
    qtbot.waitUntil(lambda: "model_ready" in seen, timeout=5000)
    monitor.stop()
    assert [len(seen.get(n, [])) for n in ("started", "step", "epoch", "samples", "evaluated", "finished")] == [1, 12, 2, 2, 1, 1]
    (start,), (end,) = seen["started"][0], seen["finished"][0]
    assert (start.device, start.run_dir, start.epochs, start.steps_per_epoch) == ("CPU: AMD EPYC", str(v1 / "vae-digits"), 2, 6)
    assert end.status == "finished" and seen["model_ready"] == [(str(v1 / "vae-digits"),)]
    assert [(epoch, picture.shape) for epoch, picture in seen["samples"]] == [(1, (511, 511)), (2, (511, 511))]
    assert "notice" not in seen  # nothing skipped, nothing to warn of


def test_a_local_run_and_a_followed_run_give_the_views_the_same_signals(tmp_path, qtbot):
    """The records a run trained here hands the bridge, and the same run followed from its files."""
    pytest.importorskip("PySide6")
    from gui.bridge import ControllerBridge
    from gui.run_monitor import RunMonitor
    from kgen.pictures import save_png

    heard = []
    log = EventLog(tmp_path / "run" / "events.jsonl", heard.append)
    picture = save_png(np.full((4, 4, 1), 90, np.uint8), tmp_path / "run" / "samples" / "epoch_0001.png", scale=2)
    for record in (ev.Start(device="CPU", epochs=1, steps_per_epoch=2),
                   ev.Step(step=1, epoch=1, elapsed=0.5, metrics={"loss": 2.0}),
                   ev.Step(step=2, epoch=1, elapsed=1.0, metrics={"loss": 1.0}),
                   ev.Hparam(step=2, name="lr", old=0.1, new=0.01),
                   ev.Epoch(epoch=1, step=2, elapsed=1.1, metrics={"loss": 1.5}),
                   ev.Samples(epoch=1, path="samples/epoch_0001.png", picture=picture),
                   ev.Note(message="a note"), ev.Eval(metrics={"loss": 1.4})):
        log.write(record)
    log.close()
    rates = ev.StepRates()  # as the training controller gives the records their rates
    for record in heard:
        rates.observe(record)

    class Replay:  # a controller that has just sent the records a run wrote
        is_running = False

        def poll(self):
            records, heard[:] = list(heard), []
            return records

    def signals(source) -> list:
        got = []
        for name in ("started", "step", "epoch", "samples", "hparam", "evaluated", "notice"):
            getattr(source, name).connect(lambda *args, name=name: got.append((name, args)))
        return got

    bridge = ControllerBridge(controller=Replay())
    local = signals(bridge)
    bridge.poll()
    monitor = RunMonitor()
    followed = signals(monitor)
    monitor.follow(tmp_path / "run")
    monitor.stop()

    def comparable(got):
        return [(name, *(a.tolist() if isinstance(a, np.ndarray) else a for a in args)) for name, args in got]

    assert comparable(local) == comparable(followed)
    assert [name for name, _ in local] == ["started", "step", "step", "hparam", "epoch", "samples", "notice", "evaluated"]
    assert local[2][1][0]["steps_per_second"] == 2.0


# Newer formats ------------------------------------------------------------------------------


def test_a_config_of_a_newer_format_is_refused_in_one_line(v1):
    path = v1 / "vae-digits" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": ev.FORMAT_VERSION + 1}))
    with pytest.raises(RunError, match=f"newer kgen \\(run format {ev.FORMAT_VERSION + 1}; this kgen reads formats 1 to "
                                       f"{ev.FORMAT_VERSION}\\): upgrade kgen") as caught:
        Run.open(v1 / "vae-digits")
    assert "\n" not in str(caught.value)
    assert describe_run(v1 / "vae-digits")["source"] == "unknown"


def test_events_of_a_newer_format_are_read_as_far_as_they_are_known(tmp_path, qtbot):
    newer = ev.FORMAT_VERSION + 1
    lines = [{"type": "start", "format": newer, "device": "TPU", "new_field": 1},
             {"type": "a_new_kind", "x": 1},
             {"type": "step", "step": 1, "epoch": 1, "metrics": {"loss": 1.0}, "new_field": "x"}]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert [e.kind for e in read_events(tmp_path / "events.jsonl")] == ["start", "step"]
    follower = RunFollower(tmp_path)
    assert [e.kind for e in follower.poll()] == ["start", "step"] and follower.newer_format == newer
    pytest.importorskip("PySide6")
    from gui.run_monitor import RunMonitor

    monitor = RunMonitor()
    notices = []
    monitor.notice.connect(notices.append)
    monitor.follow(tmp_path)
    monitor.stop()
    assert any(f"newer kgen (run format {newer}" in n for n in notices), notices


# The contract in docs/RUN_FORMAT.md --------------------------------------------------------


def test_run_format_md_documents_every_kind_and_field_and_the_version():
    text = (ROOT / "docs" / "RUN_FORMAT.md").read_text()
    assert f"current format is **{ev.FORMAT_VERSION}**" in text
    assert "| `type` | string |" in text and "| `time` | number, seconds |" in text  # every event has them
    for kind, cls in ev.KINDS.items():
        section = re.search(rf"^### `{kind}`.*?(?=^### |^## |\Z)", text, re.S | re.M)
        assert section, f"no section for the {kind} event"
        for name in (f.name for f in dataclasses.fields(cls) if f.name != "time"):
            assert f"`{name}`" in section.group(0), f"{kind}.{name} is not documented"
    for name in ("config.json", "external.json", "events.jsonl", "samples/", "checkpoints/", "written.txt",
                 "best.json", "model.keras", "generator.keras", "tb/"):
        assert name in text, name
