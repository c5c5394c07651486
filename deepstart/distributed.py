"""Several processes, GPUs or machines with PyTorch's DistributedDataParallel, launched by torchrun.

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT in each process; this
module reads them, joins the process group (gloo on CPUs, NCCL on GPUs) and offers the collective
operations the Learner needs (sums, and the rows that metrics which are no sums gather). No
launcher or communication layer of our own: `deepstart run --nproc N` starts torchrun standalone,
`--nnodes N --node-rank R --master-addr HOST` torchrun's static rendezvous on each machine, and
torchrun started by hand with any rendezvous works too (see docs/distributed.md).
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


def check_same(settings: dict) -> None:
    """Fail on every process, in one line that names the settings, when the processes of a run
    were given different ones (on several machines each types its own command): they would train
    apart, and DDP would fail later on a message of unexpected size, or hang. Each process sends
    a hash per setting (no pickles: all_gather_object would unpickle what the others send)."""
    if world_size() == 1:
        return
    import hashlib
    import json

    # NCCL sends from the GPU only
    device = (torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl"
              else torch.device("cpu"))
    names = sorted(settings)
    hashes = [int.from_bytes(hashlib.sha256(json.dumps(settings[n], sort_keys=True, default=str)
                                            .encode()).digest()[:8], "big", signed=True)
              for n in names]
    everyone = gather_rows(torch.tensor(hashes, dtype=torch.int64, device=device), device)
    if len(everyone) != world_size() * len(names):
        raise DeepstartError("the processes of this run have different deepstart versions "
                             "(their settings differ in number); install the same on every "
                             "machine.")
    rows = everyone.view(world_size(), len(names)).cpu()
    differ = sorted({names[i] for r in range(1, world_size())
                     for i in range(len(names)) if rows[r, i] != rows[0, i]})
    if differ:
        ranks = [r for r in range(1, world_size()) if not torch.equal(rows[r], rows[0])]
        which = f"rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}"
        raise DeepstartError(
            f"the processes of this run were given different settings ({which}: "
            f"{', '.join(differ)} differ from rank 0's); run the same command on every machine "
            "(only --node-rank, --out and --data-dir may differ).")


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


# The flags of `deepstart run` that shape the launch rather than the run: torchrun takes them (by
# argparse's prefix matching, --nproc for its --nproc-per-node) wherever they stand, so they are
# given to it as its own and never passed on to the processes.
PROCESS_FLAGS = ("--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port")
MASTER_PORT = 29500  # torchrun's default


def node() -> tuple[int, int]:
    """(this machine's node rank, the number of machines) of a torchrun launch; (0, 1) outside."""
    return int(os.environ.get("GROUP_RANK", "0")), int(os.environ.get("GROUP_WORLD_SIZE", "1"))


def check_nodes(nnodes: int | None, node_rank: int | None, master_addr: str | None,
                master_port: int | None) -> None:
    """Fail before launching on a multi-node launch that could not meet: one sentence a mistake."""
    if (nnodes or 1) == 1:
        given = [flag for flag, v in zip(PROCESS_FLAGS[2:], (node_rank, master_addr, master_port))
                 if v is not None]
        if given:
            one = len(given) == 1
            raise DeepstartError(f"{', '.join(given)} {'is' if one else 'are'} for a run on "
                                 f"several machines: add --nnodes N (N > 1), or drop "
                                 f"{'it' if one else 'them'}.")
        return
    if node_rank is None or master_addr is None:
        raise DeepstartError(f"--nnodes {nnodes} needs --node-rank R (this machine's index, 0 to "
                             f"{nnodes - 1}) and --master-addr HOST (the address of node 0, "
                             "reachable from every machine): the same command on every machine, "
                             "each with its own --node-rank.")
    if node_rank >= nnodes:
        raise DeepstartError(f"--node-rank {node_rank} is out of range for --nnodes {nnodes}; use "
                             f"0 to {nnodes - 1} (node 0 writes the run folder).")


def _without_process_flags(cli_args: list[str]) -> list[str]:
    args, skip = [], False
    for arg in cli_args:
        if skip:
            skip = False
        elif arg in PROCESS_FLAGS:
            skip = True
        elif not arg.startswith(tuple(f"{flag}=" for flag in PROCESS_FLAGS)):
            args.append(arg)
    return args


def torchrun_command(nproc: int, cli_args: list[str], nnodes: int = 1, node_rank: int = 0,
                     master_addr: str | None = None, master_port: int | None = None) -> list[str]:
    """The torchrun command that runs `deepstart <cli_args>` in `nproc` processes on this machine:
    standalone on one machine; with `nnodes` > 1, this machine's part of a static rendezvous at
    node 0's `master_addr`:`master_port` (global ranks node_rank * nproc + local rank, so node 0
    holds rank 0). The process flags themselves are left out of `cli_args` (PROCESS_FLAGS): each
    process learns the layout from torchrun's environment."""
    if nnodes > 1:
        launch = [f"--nnodes={nnodes}", f"--node-rank={node_rank}", f"--master-addr={master_addr}",
                  f"--master-port={master_port or MASTER_PORT}"]
    else:
        launch = ["--standalone"]
    return [sys.executable, "-m", "deepstart.distributed", *launch, f"--nproc-per-node={nproc}",
            "-m", "deepstart", *_without_process_flags(cli_args)]


def launch(command: list[str]) -> int:
    """Run a torchrun_command and return its exit code. Ctrl-C reaches torchrun and every process
    from the terminal: this process ignores it meanwhile, or it would kill torchrun before the
    processes saved their checkpoint (after the start: a process that starts with SIGINT ignored
    would never see it)."""
    import signal
    import subprocess

    proc = subprocess.Popen(command)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def process_flags() -> list[str]:
    """The `deepstart run` flags that repeat this torchrun launch, from torchrun's environment:
    [] in one process, --nproc N on one machine; on several, --nproc (when above 1), --nnodes,
    this node's --node-rank, --master-addr and --master-port."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return []
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    nodes = int(os.environ.get("GROUP_WORLD_SIZE", world // local))
    if nodes == 1:
        return ["--nproc", str(local)]
    return ((["--nproc", str(local)] if local > 1 else []) + [
        "--nnodes", str(nodes), "--node-rank", os.environ.get("GROUP_RANK", "0"),
        "--master-addr", os.environ.get("MASTER_ADDR", "127.0.0.1"),
        "--master-port", os.environ.get("MASTER_PORT", str(MASTER_PORT))])


def with_process_flags(command: str) -> str:
    """`command` (a `deepstart run ...` line) with the process flags of this launch: torchrun
    started each process without them, and the recorded command should repeat the run."""
    import shlex

    # --log-to is how the launch handed --log to torchrun's processes (cli._log_for_torchrun): the
    # user typed --log, and that is what repeats the run
    words = ["--log" if w == "--log-to" else "--log=" + w[len("--log-to="):]
             if w.startswith("--log-to=") else w for w in shlex.split(command)]
    return shlex.join([*_without_process_flags(words), *process_flags()])


def _torchrun(args: list[str]) -> int:
    """torchrun (`python -m deepstart.distributed TORCHRUN-ARGS`), ending as its processes end:
    when one fails, with that process's exit code (2: bad input, which its first process on each
    machine said in one line) instead of torchrun's traceback and summary. A process stopped by a
    signal (e.g. killed for memory) gets one line naming the signal."""
    import logging
    import signal

    # Without torchrun's warnings (the OMP_NUM_THREADS default, which init_from_env replaces) and
    # failure summaries: its own loggers take their level from LOGLEVEL when created (on import),
    # the others from the package's logger.
    logging.getLogger("torch.distributed").setLevel(logging.CRITICAL)
    saved = os.environ.get("LOGLEVEL")
    os.environ["LOGLEVEL"] = "CRITICAL"
    try:
        from torch.distributed.elastic.multiprocessing.api import SignalException
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.run import parse_args, run
    finally:
        if saved is None:
            del os.environ["LOGLEVEL"]
        else:
            os.environ["LOGLEVEL"] = saved
    try:
        run(parse_args(args))
    except SignalException as e:  # Ctrl-C: the processes got it too, and said what they saved
        return 128 + int(e.sigval)
    except dist.DistError as e:  # no rendezvous: node 0 unreachable, or the others never came
        reason = " ".join(str(e).split())
        sys.stderr.write(f"deepstart: error: the machines did not meet ({type(e).__name__}: "
                         f"{reason[:300]}); start the same command on every machine, each with "
                         "its own --node-rank, and node 0's --master-addr and --master-port "
                         "reachable from each.\n")
        return 2
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        if failure.exitcode >= 0:
            return failure.exitcode
        try:
            name = signal.Signals(-failure.exitcode).name
        except ValueError:
            name = f"signal {-failure.exitcode}"
        sys.stderr.write(f"deepstart: error: process {rank} of the run (on this machine) was "
                         f"stopped by {name}; the run stopped with it.\n")
        return 128 - failure.exitcode
    return 0


if __name__ == "__main__":
    sys.exit(_torchrun(sys.argv[1:]))
