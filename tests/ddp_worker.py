"""Run under torchrun by tests/test_distributed.py: trains a small MLP for one epoch on 2 gloo
processes and checks, after every optimizer step, that both ranks hold identical parameters.
Rank 0 writes what it saw as JSON to the path given as the first argument."""

import json
import sys

import torch
import torch.distributed as dist

from deepstart import Learner, distributed

distributed.init_from_env("cpu")
learner = Learner("mlp", "digits", batch_size=32, lr=3e-3, verbose=0, model_options={"hidden": [32]})
checks = []
real_step = learner.opt.step


def checked_step(*args, **kwargs):
    result = real_step(*args, **kwargs)
    flat = torch.cat([p.detach().reshape(-1) for p in learner.model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    checks.append(all(torch.equal(gathered[0], g) for g in gathered))
    return result


learner.opt.step = checked_step
learner.fit(1)
reduced = learner.evaluate("test")  # every rank scores half the rows: losses summed, outputs gathered
# resume: a checkpoint after epoch 1 (written by rank 0, read by both) continued for one epoch
# must end where two uninterrupted epochs end
checkpoint = sys.argv[1] + ".checkpoint"
learner.opt.step = real_step
learner.save_checkpoint(checkpoint)
dist.barrier()


def fresh():
    return Learner("mlp", "digits", batch_size=32, lr=3e-3, verbose=0, model_options={"hidden": [32]})


straight = fresh()
straight.fit(2)
resumed = fresh()
resumed.resume(checkpoint)
resumed.fit(1)
same_after_resume = straight.evaluate("test") == resumed.evaluate("test") and \
    straight.history["loss"] == resumed.history["loss"]
if dist.get_rank() == 0:
    with torch.no_grad():
        learner.model.eval()
        out = learner.model(learner.data.x_test)
        single = float((out.argmax(1) == learner.data.y_test).double().mean())
        single_loss = float(torch.nn.functional.cross_entropy(out, learner.data.y_test))
        from sklearn.metrics import f1_score  # macro F1 is no sum over rows: the outputs are gathered

        single_f1 = float(f1_score(learner.data.y_test, out.argmax(1), average="macro"))
    json.dump({"steps": len(checks), "identical": all(checks), "world": dist.get_world_size(),
               "reduced": reduced, "single_accuracy": single, "single_loss": single_loss,
               "single_macro_f1": single_f1,
               "train_rows": len(learner.data.x_train), "same_after_resume": same_after_resume}, open(sys.argv[1], "w"))
distributed.shutdown()
