"""The training engine: schedules against their formulas, the LR finder, mixed precision,
channels_last, gradient clipping, label smoothing, and the engine's bad input."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from deepstart import Learner
from deepstart.errors import DeepstartError
from deepstart.schedules import make_schedule


def lrs(name: str, total: int = 100, per_epoch: int = 10, lr: float = 1.0, **kw) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make_schedule(name, opt, total_steps=total, steps_per_epoch=per_epoch, **kw)
    seen = []
    for _ in range(total):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return seen


def test_constant():
    assert lrs("constant") == [1.0] * 100


def test_step_divides_by_ten_every_third_of_the_run():
    seen = lrs("step", total=90, per_epoch=10)  # 9 epochs: every 3 epochs = 30 steps
    assert seen[:30] == [1.0] * 30
    assert seen[30:60] == pytest.approx([0.1] * 30)
    assert seen[60:] == pytest.approx([0.01] * 30)


def test_cosine_follows_the_formula():
    seen = lrs("cosine", total=100)
    expected = [0.5 * (1 + math.cos(math.pi * t / 100)) for t in range(100)]
    assert seen == pytest.approx(expected, abs=1e-9)


def test_warmup_is_linear_from_a_tenth_then_cosine():
    seen = lrs("cosine", total=100, per_epoch=10, warmup_epochs=2)  # 20 warm-up steps
    assert seen[0] == pytest.approx(0.1)
    assert seen[:20] == pytest.approx([0.1 + 0.9 * t / 20 for t in range(20)])
    assert seen[20] == pytest.approx(1.0)
    assert seen[20:] == pytest.approx([0.5 * (1 + math.cos(math.pi * t / 80)) for t in range(80)])


def test_onecycle_rises_to_the_peak_at_a_quarter_then_anneals():
    seen = lrs("onecycle", total=100)
    peak = int(np.argmax(seen))
    assert seen[0] == pytest.approx(1 / 25)  # max_lr / div_factor
    assert peak in (24, 25) and seen[peak] == pytest.approx(1.0, rel=1e-3)
    assert seen[-1] < 1e-4  # down to max_lr / 25 / 1e4 at the last step
    assert all(a <= b for a, b in zip(seen[:peak], seen[1:peak + 1]))
    assert all(a >= b for a, b in zip(seen[peak:], seen[peak + 1:]))


def test_schedule_inside_fit_and_resume_keeps_its_place(tmp_path):
    def learner():
        return Learner("mlp", "digits", batch_size=128, lr=1e-2, schedule="onecycle", verbose=0,
                       model_options={"hidden": [32]})

    straight = learner()
    straight.planned_epochs = 4
    straight.fit(4)
    assert straight.history["lr"][-1] < 1e-2 / 100  # the cycle ran to its end
    first = learner()
    first.planned_epochs = 4
    first.fit(2)
    first.save_checkpoint(tmp_path / "ck")
    second = learner()
    second.resume(tmp_path / "ck")
    second.fit(2)
    assert second.history["lr"] == straight.history["lr"]
    assert second.evaluate() == straight.evaluate()


def test_a_schedule_cannot_run_past_its_planned_length():
    learner = Learner("mlp", "digits", schedule="cosine", verbose=0, model_options={"hidden": [8]})
    learner.fit(1)
    with pytest.raises(DeepstartError, match="'cosine' schedule was planned over 1 epochs"):
        learner.fit(1)


def test_lr_finder_suggests_a_rate_in_the_range_that_trains_digits(tmp_path):
    learner = Learner("mlp", "digits", batch_size=32, verbose=0, model_options={"hidden": [64]})
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    result = learner.find_lr(steps=80)
    assert result.lrs[0] <= result.suggestion <= result.lrs[-1]
    assert result.suggestion == pytest.approx(result.lr_at_minimum / 10)
    assert "divided by 10" in result.rule
    for k, v in learner.model.state_dict().items():  # the sweep left the model as it was
        assert torch.equal(v, before[k])
    assert learner.epoch == 0
    path = result.plot(tmp_path / "lr.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    trained = Learner("mlp", "digits", batch_size=32, lr=result.suggestion, verbose=0,
                      model_options={"hidden": [64]})
    history = trained.fit(5)
    assert history["loss"][-1] < history["loss"][0] and trained.evaluate()["accuracy"] > 0.9


def test_lr_find_command(tmp_path, capsys):
    from deepstart.cli import main

    assert main(["lr-find", "iris", "--out", str(tmp_path)]) == 0  # in this process, as cheap
    out = capsys.readouterr().out
    assert "suggested learning rate" in out and "divided by 10" in out
    assert (tmp_path / "lr-find-iris-mlp.png").is_file()


class TinyConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Flatten(), nn.Linear(8 * 4 * 4, 10))

    def forward(self, x):
        return self.net(x)


def test_channels_last_and_bf16_autocast_on_cpu_train_with_finite_losses():
    torch.manual_seed(0)
    learner = Learner(TinyConvNet(), "digits", batch_size=64, lr=3e-3, precision="bf16",
                      verbose=0)
    assert learner.channels_last  # a conv model on the CPU: auto picks channels_last
    assert learner.model.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    history = learner.fit(3)
    assert all(math.isfinite(v) for v in history["loss"])
    assert history["loss"][-1] < history["loss"][0]
    assert learner.evaluate()["accuracy"] > 0.7


def test_channels_last_gives_the_same_model_as_contiguous():
    def train(channels_last):
        torch.manual_seed(0)
        learner = Learner(TinyConvNet(), "digits", batch_size=64, verbose=0,
                          channels_last=channels_last)
        learner.fit(1)
        return learner.evaluate()

    a, b = train(True), train(False)
    assert a["accuracy"] == pytest.approx(b["accuracy"], abs=0.01)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-3)


def test_clipping_and_label_smoothing():
    learner = Learner("mlp", "digits", clip_grad=0.5, label_smoothing=0.1, verbose=0,
                      model_options={"hidden": [32]})
    history = learner.fit(2)
    # with smoothing 0.1 over 10 classes the loss cannot fall below the smoothed targets' entropy
    floor = -(0.91 * math.log(0.91) + 9 * 0.01 * math.log(0.01))
    assert min(history["loss"]) > floor - 1e-6


@pytest.mark.parametrize("kw, message", [
    ({"schedule": "cosin"}, "unknown schedule 'cosin'; did you mean 'cosine'"),
    ({"precision": "fp8"}, "unknown precision 'fp8'"),
    ({"precision": "fp16"}, "fp16 training needs a CUDA GPU"),
    ({"optimizer": "rmsporp"}, "unknown optimizer 'rmsporp'; did you mean 'rmsprop'"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
    ({"label_smoothing": 0.1, "loss": "mse"}, "label smoothing applies to the cross-entropy"),
])
def test_engine_bad_input(kw, message):
    with pytest.raises(DeepstartError, match=message):
        Learner("mlp", "digits", verbose=0, model_options={"hidden": [8]}, **kw)


def test_cli_bad_schedule_and_precision(tmp_path, capsys):
    from deepstart.cli import main

    for args, message in ((["--schedule", "linear"], "unknown schedule 'linear'"),
                          (["--precision", "half"], "unknown precision 'half'"),
                          (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'")):
        assert main(["run", *args, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())


def test_compile_is_opt_in_and_its_time_is_reported_apart():
    plain = Learner("mlp", "digits", batch_size=128, verbose=0, model_options={"hidden": [16]})
    assert plain.compile_seconds is None and plain._train_model is plain.model
    learner = Learner("mlp", "digits", batch_size=128, lr=1e-2, compile=True, verbose=0,
                      model_options={"hidden": [16]})
    history = learner.fit(2)
    assert learner.compile_seconds is not None and learner.compile_seconds > 0.5  # inductor ran
    assert history["seconds"][0] > learner.compile_seconds  # epoch 1 includes compiling
    assert all(math.isfinite(v) for v in history["loss"])
    assert history["loss"][1] < history["loss"][0]


def test_importing_deepstart_first_turns_on_huge_pages_for_torch_buffers():
    """THP_MEM_ALLOC_ENABLE is read by PyTorch once, at its first allocation: deepstart sets it when
    imported before torch, keeps a value the user set, and leaves a process that imported torch
    first alone."""
    import os

    def seen(code: str, **env) -> str:
        clean = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"} | env
        return subprocess.run([sys.executable, "-c", code + "; import os; "
                               "print(os.environ.get('THP_MEM_ALLOC_ENABLE'))"], env=clean,
                              capture_output=True, text=True, check=True).stdout.strip()

    assert seen("import deepstart") == "1"
    assert seen("import deepstart", THP_MEM_ALLOC_ENABLE="0") == "0"
    assert seen("import torch, deepstart") == "None"


def small_cnn_8x8() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.MaxPool2d(2)),
                         nn.Flatten(), nn.Linear(16 * 2 * 2, 32), nn.ReLU(), nn.Linear(32, 10))


def test_pool_before_relu_swaps_the_pairs_and_shares_the_layers():
    from deepstart.devices import pool_before_relu

    model = small_cnn_8x8()
    before = [type(m).__name__ for m in model.modules()]
    train = pool_before_relu(model)
    assert [type(m).__name__ for m in train] == ["Conv2d", "MaxPool2d", "ReLU", "Sequential",
                                                 "Flatten", "Linear", "ReLU", "Linear"]
    assert [type(m).__name__ for m in train[3]] == ["Conv2d", "MaxPool2d", "ReLU"]
    assert train[0] is model[0] and train[3][0] is model[3][0] and train[5] is model[5]
    assert [type(m).__name__ for m in model.modules()] == before  # the user's model is untouched
    assert list(train.parameters()) == list(model.parameters())
    # left alone: no pair, a hooked container, a model that is not a plain Sequential
    plain = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.ReLU())
    assert pool_before_relu(plain) is plain
    hooked = small_cnn_8x8()
    hooked.register_forward_hook(lambda *args: None)
    assert pool_before_relu(hooked) is hooked

    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = small_cnn_8x8()

        def forward(self, x):
            return self.body(x)

    custom = Custom()
    assert pool_before_relu(custom) is custom


def test_pool_before_relu_gives_bitwise_equal_outputs_and_gradients():
    """Integer-valued inputs make ties and zero maxima common: the cases where the order could
    matter."""
    from deepstart.devices import pool_before_relu

    torch.manual_seed(0)
    model = small_cnn_8x8()
    train = pool_before_relu(model)
    x = torch.randint(-3, 3, (64, 1, 8, 8)).float()
    grads = []
    for net in (model, train):
        net.zero_grad()
        out = net(x)
        out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
        grads.append((out.detach(), [p.grad.clone() for p in net.parameters()]))
    assert torch.equal(grads[0][0], grads[1][0])
    assert all(torch.equal(a, b) for a, b in zip(grads[0][1], grads[1][1]))


def test_training_with_the_swap_is_bitwise_the_training_without_it(monkeypatch):
    from deepstart import devices

    def trained():
        torch.manual_seed(0)
        learner = Learner(small_cnn_8x8(), "digits", lr=3e-3, batch_size=64, verbose=0)
        learner.fit(2)
        return learner

    swapped = trained()
    assert type(swapped._train_model[1]) is nn.MaxPool2d  # it did train in the swapped order
    monkeypatch.setattr(devices, "pool_before_relu", lambda model: model)
    plain = trained()
    assert plain._train_model is plain.model
    assert swapped.history.rows[-1]["loss"] == plain.history.rows[-1]["loss"]
    a, b = swapped.model.state_dict(), plain.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert swapped.evaluate() == plain.evaluate() and swapped.evaluate()["accuracy"] > 0.5  # learned
