"""Loaders of the training graphs whose batches depend on ``(seed, epoch)`` alone.

Epoch ``e`` of a run seeded with ``seed`` visits the training graphs in an order drawn from
``(seed, e)`` (:class:`EpochShuffleSampler`), and its DataLoader workers are seeded from the same
pair, so a run resumed at epoch ``e`` sees the batches an uninterrupted run sees.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed for ``epoch`` of a run seeded with ``seed``; ``stream`` separates uses."""
    entropy = [int(seed) % 2**63, int(epoch), int(stream)]
    state = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class EpochShuffleSampler(torch.utils.data.Sampler[int]):
    """A random permutation of ``range(num_samples)`` that is a function of ``(seed, epoch)`` only.

    Unlike ``RandomSampler`` driven by a shared generator, the order of an epoch does not depend on
    how many draws earlier epochs (or DataLoader worker start-ups) consumed, which is what makes a
    resumed run see the same batches as an uninterrupted one.
    """

    def __init__(self, num_samples: int, seed: int):
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(epoch_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.num_samples, generator=generator).tolist())

    def __len__(self) -> int:
        return self.num_samples


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed NumPy and ``random`` in a worker from its torch seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def graph_loader(
    dataset: Sequence,
    batch_size: int,
    *,
    shuffle: bool,
    num_workers: int = 0,
    seed: int = 0,
    device: torch.device | str = "cpu",
):
    """A loader over ``dataset`` (a :class:`~magmom.graphs.GraphCache` or a list of Data).

    Built by :func:`magmom.graphs.make_loader` (persistent workers) with an
    :class:`EpochShuffleSampler` when shuffled (call :func:`set_loader_epoch` before each epoch)
    and pinned batches for asynchronous host-to-GPU copies when training on CUDA.
    """
    from magmom.graphs import make_loader

    return make_loader(
        dataset,
        batch_size,
        shuffle=False,
        num_workers=num_workers,
        seed=seed,
        sampler=EpochShuffleSampler(len(dataset), seed) if shuffle else None,
        pin_memory=torch.device(device).type == "cuda",
        worker_init_fn=seed_worker if num_workers > 0 else None,
    )


def set_loader_epoch(loader, seed: int, epoch: int) -> None:
    """Make ``loader``'s order and worker seeds for ``epoch`` a function of ``(seed, epoch)``."""
    if isinstance(loader.sampler, EpochShuffleSampler):
        loader.sampler.set_epoch(epoch)
    if loader.generator is not None:
        loader.generator.manual_seed(epoch_seed(seed, epoch, stream=1))
