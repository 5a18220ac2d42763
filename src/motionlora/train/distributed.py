"""Data parallelism over `torch.distributed`, set up from torchrun's environment variables.

Gradient sync is a manual all-reduce of the LoRA gradients, not DDP. A training step runs two
forward/backward passes through the same UNet (spatial path, then temporal path), each with a
different set of LoRA weights switched on and trainable; DDP's reducer expects one backward per
forward of a wrapped module and a fixed set of used parameters (else `find_unused_parameters`, and
even then a second backward in the same iteration marks parameters ready twice). The trainable set
is small and known, so one coalesced all-reduce per optimizer step, after gradient accumulation, is
both correct and the simplest thing: every rank then applies the same averaged gradient to the same
weights and stays bit-identical.

`ShardPlan` decides which clip every rank's slot of every micro-batch trains on and the seed of its
noise, as a pure function of (seed, step, micro-step, global position): N ranks with batch b see
exactly the samples and noise one process with batch N·b sees, and a resumed run sees what the
uninterrupted run saw.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(timeout: timedelta = timedelta(minutes=30)) -> DistContext:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    Without WORLD_SIZE > 1 this is a single process and no group is created. nccl on GPUs, gloo on CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world_size, timeout=timeout)
    return DistContext(rank, world_size, local_rank, device)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (after a final barrier, so no rank exits while others still talk)."""
    if ctx.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def abort(ctx: DistContext) -> None:
    """Leave the process group after a failure, without a barrier the other ranks may never reach."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def _comm(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Where a tensor must live for the backend: the GPU for nccl, the CPU for gloo."""
    return tensor.to(ctx.device)


def average_gradients(params: Sequence[torch.nn.Parameter], extras: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Average the gradients of `params` (missing ones count as zero) and the float vector `extras`
    (e.g. the step's losses) over all ranks in one all-reduce; returns the averaged extras."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    if not ctx.distributed:
        return extras
    flat = torch.cat([g.reshape(-1).float() for g in grads] + [extras.reshape(-1).float().to(grads[0].device)])
    flat = _comm(flat, ctx)
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for param, grad in zip(params, grads):
        count = grad.numel()
        param.grad = flat[offset : offset + count].view_as(grad).to(grad.dtype).to(param.device).clone()
        offset += count
    return flat[offset:].cpu()


def broadcast_parameters(params: Sequence[torch.nn.Parameter], ctx: DistContext) -> None:
    """Copy rank 0's values of `params` to every rank (the start state of data parallelism)."""
    if not ctx.distributed:
        return
    with torch.no_grad():
        for param in params:
            buffer = _comm(param.detach().clone(), ctx)
            dist.broadcast(buffer, src=0)
            param.copy_(buffer.to(param.device))


def broadcast_int(value: int, ctx: DistContext) -> int:
    """Rank 0's `value` on every rank."""
    if not ctx.distributed:
        return value
    buffer = _comm(torch.tensor([value], dtype=torch.int64), ctx)
    dist.broadcast(buffer, src=0)
    return int(buffer.item())


def all_gather(tensor: torch.Tensor, ctx: DistContext) -> list[torch.Tensor]:
    """Every rank's `tensor` (same shape and dtype on all ranks), in rank order, on the CPU."""
    if not ctx.distributed:
        return [tensor.cpu()]
    local = _comm(tensor.contiguous(), ctx)
    gathered = [torch.empty_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, local)
    return [t.cpu() for t in gathered]


def weights_digest(params: Sequence[torch.Tensor]) -> str:
    """sha256 over the exact bytes of `params`, in order."""
    digest = hashlib.sha256()
    for param in params:
        digest.update(param.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def gather_digests(params: Sequence[torch.Tensor], ctx: DistContext) -> list[str]:
    """Every rank's `weights_digest` of its `params`, in rank order."""
    raw = np.frombuffer(bytes.fromhex(weights_digest(params)), dtype=np.int64).copy()
    return [t.numpy().tobytes().hex() for t in all_gather(torch.from_numpy(raw), ctx)]


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from the parts (stable across processes and Python versions, unlike hash())."""
    text = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


class ShardPlan:
    """Deterministic data sharding: an endless stream of epochs, each a seeded permutation of the
    clips; micro-batch (step, micro) takes the next world_size × batch_size positions, and rank r
    the r-th consecutive block of batch_size of them."""

    def __init__(self, num_clips: int, batch_size: int, world_size: int, accumulation: int, seed: int) -> None:
        if num_clips < 1:
            raise ValueError("no clips to train on")
        self.num_clips, self.batch_size, self.world_size = num_clips, batch_size, world_size
        self.accumulation, self.seed = accumulation, seed
        self._epochs: dict[int, torch.Tensor] = {}

    @property
    def global_batch(self) -> int:
        """Samples per micro-step over all ranks."""
        return self.world_size * self.batch_size

    def _order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._epochs:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, "epoch", epoch))
            self._epochs = {epoch: torch.randperm(self.num_clips, generator=generator)}
        return self._epochs[epoch]

    def slots(self, step: int, micro: int, rank: int) -> list[tuple[int, int]]:
        """(clip index, noise seed) for each of this rank's samples in micro-batch (step, micro)."""
        start = ((step * self.accumulation + micro) * self.world_size + rank) * self.batch_size
        result = []
        for position in range(start, start + self.batch_size):
            epoch, offset = divmod(position, self.num_clips)
            result.append((int(self._order(epoch)[offset]), derive_seed(self.seed, "sample", position)))
        return result
