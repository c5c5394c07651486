"""Several processes, GPUs or machines with PyTorch's DistributedDataParallel, launched by torchrun.

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT in each process; this
module reads them, joins the process group (gloo on CPUs, NCCL on GPUs) and offers the collective
operations the Learner needs (sums, and the rows that metrics which are no sums gather). No
launcher or communication layer of our own: on several machines, run torchrun on each with its
rendezvous options (see docs/distributed.md).
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist

from deepstart.errors import DeepstartError


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device_name: str = "auto") -> str:
    """Join the process group that torchrun set up; returns the device this rank should use."""
    if not launched_by_torchrun() or dist.is_initialized():
        return device_name
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
        return f"cuda:{local_rank}"
    dist.init_process_group("gloo")
    # Share the cores: every rank at the default thread count would oversubscribe the CPU.
    local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    return "cpu"


def shutdown(wait_for_all: bool = True) -> None:
    """Leave the process group. After a normal finish, first wait for every rank: one that tears
    down its group while rank 0 is still writing files can make rank 0's gloo threads abort
    ("terminate called without an active exception"). After an error, do not wait: a peer may be
    gone, and a barrier would hang until gloo's timeout."""
    if dist.is_available() and dist.is_initialized():
        if wait_for_all:
            dist.barrier()
        dist.destroy_process_group()


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum each value over all ranks (one collective call for the whole list)."""
    if world_size() == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_rows(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The rows of `t` (1-D) from all ranks, rank 0's first, on every rank; the ranks may hold
    different counts (all_gather wants equal sizes, so each share is padded to the longest)."""
    if world_size() == 1:
        return t
    count = torch.tensor([len(t)], device=device)
    counts = [torch.zeros_like(count) for _ in range(world_size())]
    dist.all_gather(counts, count)
    longest = int(max(counts))
    padded = torch.zeros(longest, dtype=t.dtype, device=device)
    padded[:len(t)] = t
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded)
    return torch.cat([p[:int(n)] for p, n in zip(parts, counts)])


def check_nproc(nproc: int, device_name: str) -> None:
    """Fail before launching when there are fewer devices than processes."""
    if nproc < 1:
        raise DeepstartError(f"--nproc must be a positive integer; received {nproc}.")
    if device_name in ("auto", "cuda") and torch.cuda.is_available():
        gpus = torch.cuda.device_count()
        if nproc > gpus:
            raise DeepstartError(f"--nproc {nproc} asks for more processes than the {gpus} GPU(s) "
                                 f"here; use --nproc {gpus} or fewer.")
        return
    cores = os.cpu_count() or 1
    if nproc > cores:
        raise DeepstartError(f"--nproc {nproc} asks for more processes than the {cores} CPU cores "
                             f"here; use --nproc {cores} or fewer.")


def torchrun_command(nproc: int, cli_args: list[str]) -> list[str]:
    """The torchrun command that runs `deepstart <cli_args>` in `nproc` processes on this machine.
    `--nproc` itself is left out: torchrun would take it for its own `--nproc-per-node`, and each
    process learns the count from torchrun's WORLD_SIZE."""
    args, skip = [], False
    for arg in cli_args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", "-m", "deepstart", *args]
