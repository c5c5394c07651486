"""Fine-tuning a pretrained backbone (issue 18): discriminative learning rates, freezing then
unfreezing at an epoch boundary, a resume across the unfreeze epoch, --frozen features cached in the
run folder, the flags in every suggested command, and the one-line errors. Real EfficientNet-Lite0
weights at a tiny input size (32 px) on ~90 real Fashion-MNIST images, 1-2 epochs."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import require_path
from deepstart.cli import main

FASHION = Path("/usr/share/datasets/fashion-mnist")
MODEL = "efficientnet-lite0"
TINY = ["--option", "input_size=32"]
OPTIONS = {"input_size": 32}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a loaded 2-core machine several wait on each other at every step."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Real Fashion-MNIST test images as PNG files in a folder per class (three classes)."""
    from deepstart.problems.idx import read_idx

    src = require_path(FASHION, "install it with `apt-get install dataset-fashion-mnist`")
    root = tmp_path_factory.mktemp("photos") / "photos"
    images = read_idx(src / "t10k-images-idx3-ubyte.gz")[:200]
    labels = read_idx(src / "t10k-labels-idx1-ubyte.gz")[:200]
    for i, (image, label) in enumerate(zip(images, labels)):
        if label < 3:
            (root / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / str(label) / f"{i:04d}.png")
    return root


def quiet_main(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def runs(photos, tmp_path_factory):
    """{"straight": the default fine-tune (1 frozen epoch, then unfrozen), 2 epochs; "resumed": the
    same run stopped by Ctrl-C after its frozen epoch and resumed; "frozen": --frozen, stopped
    after epoch 1 and resumed}."""
    import deepstart.learner as learner_module

    base = tmp_path_factory.mktemp("runs")
    args = ["run", str(photos), "--model", MODEL, *TINY, "--epochs", "2", "--batch-size", "16",
            "--seed", "3", "--quiet"]
    built = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        assert quiet_main([*args, "--out", "straight"])[0] == 0
        real_end = learner_module.Learner._end_epoch

        def end_epoch(self, *a):
            real_end(self, *a)
            raise KeyboardInterrupt  # Ctrl-C as the frozen epoch ends

        mp.setattr(learner_module.Learner, "_end_epoch", end_epoch)
        assert quiet_main([*args, "--out", "cut"])[0] == 130
        frozen = ["run", str(photos), "--model", MODEL, *TINY, "--frozen", "--epochs", "2"]
        code, printed = quiet_main([*frozen, "--out", "frozen"])
        assert code == 130, printed
        mp.setattr(learner_module.Learner, "_end_epoch", real_end)
        built = {name: next((base / name).iterdir()) for name in ("cut", "frozen")}
        assert quiet_main(["run", "--resume", str(built["cut"]), "--quiet"])[0] == 0
        code, resumed = quiet_main(["run", "--resume", str(built["frozen"])])
        assert code == 0, resumed
        built["straight"] = next((base / "straight").iterdir())
        built["resumed"], built["frozen_output"] = built["cut"], (printed, resumed)
    return built


def run_learner(folder: Path):
    """A Learner of a run folder's own configuration (its data prepared as the run prepared it)."""
    from deepstart.run import RunConfig, _learner

    raw = json.loads((folder / "config.json").read_text())
    raw.pop("format")
    return _learner(RunConfig(**raw), 0, None, False)


def learner(photos, **kw):
    from deepstart.learner import Learner

    return Learner(MODEL, str(photos), model_options=OPTIONS, verbose=0, **kw)


def test_head_at_lr_and_body_groups_at_discriminative_rates_from_lr_over_100(photos):
    lrn = learner(photos, lr=1e-3, unfreeze_after=1)
    groups = lrn.opt.param_groups
    assert [g["part"] for g in groups] == ["head", "body 0", "body 1", "body 2"]
    # fastai's slice(lr/100, lr) over 4 groups: geometric, the earliest at lr / 100
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-5, 1e-3 / 100 ** (2 / 3),
                                                       1e-3 / 100 ** (1 / 3)])
    model = lrn.model
    assert {id(p) for p in groups[0]["params"]} >= {id(p) for p in model.head.parameters()}
    # every parameter trains in exactly one group
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


def test_the_body_stays_put_while_frozen_but_its_batchnorm_adapts_then_it_unfreezes(photos):
    from deepstart.models.finetune import NORM_TYPES

    lrn = learner(photos, lr=1e-3, unfreeze_after=1)
    model = lrn.model
    norm = {id(p) for m in model.modules() if isinstance(m, NORM_TYPES) for p in m.parameters()}
    body = [p for g in model.body_groups() for p in g]
    plain = [p for p in body if id(p) not in norm]
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = [p.detach().clone() for p in plain]
    bn_before = bn.running_mean.clone(), bn.weight.detach().clone()
    head_before = [p.detach().clone() for p in model.head.parameters()]
    seen = []

    class Watch:
        def on_epoch_end(self, learner, row):
            seen.append([p.requires_grad for p in plain])
    lrn.callbacks.append(Watch())

    lrn.fit(1)
    assert seen == [[False] * len(plain)]
    assert all(torch.equal(a, p) for a, p in zip(before, plain))  # not one weight moved
    assert not torch.equal(bn.running_mean, bn_before[0])  # train_bn: statistics ...
    assert not torch.equal(bn.weight, bn_before[1])  # ... and affine weights adapt
    assert not all(torch.equal(a, p) for a, p in zip(head_before, model.head.parameters()))
    opt = lrn.opt
    lrn.fit(1)
    assert lrn.opt is opt  # unfrozen in place: the optimizer keeps its moments and groups
    assert seen[1] == [True] * len(plain)
    assert sum(not torch.equal(a, p) for a, p in zip(before, plain)) > len(plain) // 2


def test_resume_across_the_unfreeze_epoch_equals_the_uninterrupted_run_bit_for_bit(runs):
    straight, resumed = runs["straight"], runs["resumed"]
    config = json.loads((straight / "config.json").read_text())
    assert (config["unfreeze_after"], config["schedule"], config["optimizer"]) == (1, "onecycle", "adamw")
    assert (resumed / "model.safetensors").read_bytes() == (straight / "model.safetensors").read_bytes()
    a, b = (json.loads((f / "metrics.json").read_text()) for f in (straight, resumed))
    assert a["test"] == b["test"] and a["val"] == b["val"]
    rows = [[line.split(",")[:-1] for line in (f / "history.csv").read_text().splitlines()]
            for f in (straight, resumed)]  # every column but the seconds
    assert rows[0] == rows[1] and rows[0][0][-1] == "lr" and len(rows[0]) == 3


def test_frozen_trains_the_head_on_cached_features_and_saves_the_whole_net(runs, photos):
    from deepstart.models import load_model

    folder = runs["frozen"]
    meta = json.loads((folder / "features.json").read_text())
    assert meta["rows"]["train"] > 0 and len(meta["backbone_sha256"]) == 64
    written, resumed = runs["frozen_output"]  # the run stopped after epoch 1, and resumed
    assert "features: computed by the backbone" in written
    assert "features: read from" in resumed and "features: computed" not in resumed
    model, spec = load_model(folder)
    assert spec["family"] == MODEL  # the whole net: report, export and serve load it as any run
    # the recorded test score is the whole net's, on the raw test images
    lrn = run_learner(folder)
    lrn.model.load_state_dict(model.state_dict())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert lrn.evaluate("test") == metrics["test"]
    # scored from the cached features, it is the whole net run on the raw test images
    assert lrn._evaluate_tensors(lrn._tensors["x_test"], lrn._tensors["y_test"]) == metrics["test"]
    # the body did not change: its weights are still the pretrained ones
    fresh = learner(photos).model
    head = {f"head.{k}" for k in fresh.head.state_dict()}
    assert all(torch.equal(v, model.state_dict()[k])
               for k, v in fresh.state_dict().items() if k not in head)


def test_the_features_cache_is_reused_and_recomputed_when_damaged_or_stale(runs, photos):
    from deepstart.models.finetune import cached_features

    folder = runs["frozen"]
    lrn = run_learner(folder)  # its head untrained: the cache depends on the body alone
    inputs = {s: lrn._tensors[f"x_{s}"] for s in ("train", "val", "test")}
    said = []
    get = lambda x: cached_features(lrn.model, x, folder / "features", lrn.eval_batch,  # noqa
                                    lrn._autocast,
                                    said.append)
    cached = get(inputs)
    assert said[-1].startswith("features: read from")
    file = folder / "features.safetensors"
    raw = bytearray(file.read_bytes())
    raw[-3] ^= 0xFF  # one flipped byte among the numbers
    file.write_bytes(bytes(raw))
    again = get(inputs)
    assert "is damaged" in said[-2] and said[-1].startswith("features: computed")
    assert all(torch.equal(cached[k], again[k]) for k in inputs)
    get(inputs)
    assert said[-1].startswith("features: read from")  # rewritten whole
    (folder / "features.json").write_text("{")  # a torn record
    get(inputs)
    assert "cannot be read" in said[-2]
    other = dict(inputs, test=inputs["test"][:-1])  # other data: never the old features
    assert len(get(other)["test"]) == len(inputs["test"]) - 1
    assert "other data" in said[-2]


def test_recipe_default_is_fastai_fine_tune_and_freeze_or_short_runs_never_unfreeze(photos):
    from deepstart.run import RunConfig

    base = RunConfig.for_problem(str(photos), model=MODEL)
    assert (base.epochs, base.unfreeze_after, base.lr, base.schedule, base.freeze) == (
        4, 1, 1e-3, "onecycle", False)
    assert RunConfig.for_problem(str(photos), model=MODEL, freeze=True).unfreeze_after is None
    one = RunConfig.for_problem(str(photos), model=MODEL, epochs=1)
    assert (one.freeze, one.unfreeze_after) == (True, None)
    frozen = RunConfig.for_problem(str(photos), model=MODEL, frozen=True)
    assert (frozen.freeze, frozen.frozen, frozen.unfreeze_after) == (False, True, None)


def test_suggested_commands_keep_the_fine_tuning_flags(runs, photos, tmp_path):
    from dataclasses import asdict

    from deepstart.diagnose import RunFacts, facts_from_folder
    from deepstart.run import RunConfig

    assert "--frozen" in facts_from_folder(runs["frozen"]).command(lr=0.01).split()
    weights = tmp_path / "mine.safetensors"
    config = RunConfig.for_problem(str(photos), model=MODEL, unfreeze_after=0, weights=str(weights))
    facts = RunFacts(metric="", greater_is_better=True, train=None, val=None, test=None,
                     problem=config.problem, model=MODEL, config=asdict(config))
    for command in (facts.command(lr=0.01), facts.lr_find_command()):
        words = command.split()
        assert words[words.index("--unfreeze-after") + 1] == "0" and str(weights) in words
    code, printed = quiet_main(["lr-find", str(photos), "--model", MODEL, *TINY, "--freeze",
                                "--batch-size", "16", "--steps", "10", "--out", str(tmp_path)])
    assert code == 0, printed
    assert "training the head alone (the body frozen" in printed.replace("\n", " ")
    tried = next(line for line in printed.splitlines() if line.startswith("try: "))
    assert {"--freeze", "--batch-size", "16", "input_size=32"} <= set(tried.split())


def test_lr_finder_sweeps_the_whole_net_at_discriminative_rates(photos):
    lrn = learner(photos, unfreeze_after=0, batch_size=16)
    before = {k: v.clone() for k, v in lrn.model.state_dict().items()}
    result = lrn.find_lr(steps=10)
    assert result.part.startswith("the whole net at discriminative rates")
    assert all(torch.equal(before[k], v) for k, v in lrn.model.state_dict().items())


@pytest.mark.parametrize("extra, fragments", [
    (["digits", "--model", "mlp", "--freeze"], ["--freeze fine-tunes a pretrained model",
                                                "'mlp' is not one", MODEL]),
    (["PHOTOS", "--model", MODEL, "--freeze", "--unfreeze-after", "1"], ["give one of the two"]),
    (["PHOTOS", "--model", MODEL, "--unfreeze-after", "4", "--epochs", "4"],
     ["leaves no epoch to train unfrozen"]),
    (["PHOTOS", "--model", MODEL, "--frozen", "--augment", "flip"], ["cannot be augmented"]),
    (["PHOTOS", "--model", MODEL, "--weights", "w.pth"], ["give a .safetensors file"]),
    (["PHOTOS", "--model", MODEL, "--weights", "gone.safetensors"], ["the file does not exist"]),
])
def test_bad_fine_tuning_settings_are_one_line_and_exit_2(extra, fragments, photos, tmp_path,
                                                         capsys):
    argv = ["run", *[str(photos) if a == "PHOTOS" else a for a in extra], "--out",
            str(tmp_path / "out")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def test_one_cycle_over_a_few_steps_trains_instead_of_dividing_by_zero():
    """A few dozen images at batch 64 make 1-4 steps in all: PyTorch's OneCycleLR divided by zero."""
    from deepstart.schedules import make_schedule

    for steps in (2, 3, 4):
        opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        schedule = make_schedule("onecycle", opt, total_steps=steps, steps_per_epoch=1)
        rates = []
        for _ in range(steps):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            schedule.step()
        assert rates[0] == pytest.approx(1e-3 / 25) and max(rates) <= 1e-3
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    assert make_schedule("onecycle", opt, total_steps=1, steps_per_epoch=1) is None
