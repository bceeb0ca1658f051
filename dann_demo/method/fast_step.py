"""How a training step runs fast, without changing what it computes (tests check each against the plain step).

Step modes (`STEP_MODES`): "plain" sets lr and lambda from Python numbers before each step (train.py);
"tensor" keeps them (and the loss window's slot) in device tensors updated in place, so a step neither
reads from nor copies to the host; "graph" records that step once in a CUDA graph and replays it
(about 6x faster on an H100 for the paper's MNIST net, docs/design.md). Images on the CPU train in
channels-last memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from dann_demo.datasets.pair import is_image_shape

STEP_MODES = ("auto", "plain", "tensor", "graph")  # "auto": graph on CUDA, plain elsewhere
GRAPH_WARMUP_STEPS = 3  # eager steps on a side stream before capture (lazy cuDNN/cuBLAS set-up)

# CUDA allows one graph capture at a time per process; background jobs may try at once.
_capture_lock = threading.Lock()


def resolve_step_mode(step_mode: str, device: torch.device) -> str:
    """`auto` picks a CUDA graph on CUDA and the plain step elsewhere: on 2 CPU cores the tensor step
    was 1-2% slower on moons (1020 against 1036 steps/s) and no faster on digits (docs/benchmarks.md)."""
    if step_mode not in STEP_MODES:
        raise ValueError(f"step_mode={step_mode!r} is not allowed: one of {', '.join(STEP_MODES)}")
    if step_mode == "auto":
        return "graph" if device.type == "cuda" else "plain"
    return step_mode


def graph_notice(step_mode: str, device: torch.device) -> tuple[str, str | None]:
    """A CUDA graph asked for without CUDA: the tensor step instead, and a notice saying so."""
    if step_mode == "graph" and device.type != "cuda":
        return "tensor", f"CUDA graphs need a CUDA device; training on {device.type} without one."
    return step_mode, None


def prefers_channels_last(device: torch.device, input_shape: tuple[int, ...]) -> bool:
    """Images on the CPU train faster in channels-last memory: oneDNN's convolutions then skip a
    layout conversion per call. Measured on 2 cores, one thread, paper MNIST net: 16x16 batch
    32+32 10.8 -> 8.5 ms a step, 28x28 batch 64+64 126 -> 96 ms. Not measured on GPUs: left as is."""
    return device.type == "cpu" and is_image_shape(input_shape)


class ReportsStepMode:
    """What a trainer with an optional captured step reports: its step mode and its notice, where a CUDA graph
    that could not be captured turned into the eager tensor step. Needs _step_mode, _notice and _graphed."""

    _step_mode: str
    _notice: str | None
    _graphed: GraphedStep | None

    @property
    def step_mode(self) -> str:
        """How steps run: a CUDA graph that could not be captured turned into the eager tensor step."""
        return "tensor" if self._graphed is not None and self._graphed.failed else self._step_mode

    @property
    def notice(self) -> str | None:
        """Something the user should know about how this run trains (None: nothing)."""
        return self._graphed.notice if self._graphed is not None and self._graphed.failed else self._notice


class GraphedStep:
    """Runs `step` (one training step: device work only, on tensors that stay put) as a CUDA graph.

    The first GRAPH_WARMUP_STEPS calls run eagerly on a side stream (they are real steps), the next
    one captures the step and replays it, and every later call replays it. The `generators` that
    `step` samples from are registered with the graph, so replay i draws what eager step i would.
    If capture fails, `failed` is set, `notice` says why, and the step runs eagerly from then on (its
    owner then reports the eager "tensor" step mode).
    """

    def __init__(self, step: Callable[[], object], generators: list[torch.Generator], device: torch.device):
        self.step, self.generators, self.device = step, generators, device
        self.graph: torch.cuda.CUDAGraph | None = None
        self.calls = 0
        self.failed = False
        self.notice: str | None = None

    def __call__(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        elif self.failed:
            self.step()
        elif self.calls < GRAPH_WARMUP_STEPS:
            current = torch.cuda.current_stream(self.device)
            side = torch.cuda.Stream(self.device)
            side.wait_stream(current)
            with torch.cuda.stream(side):
                self.step()
            current.wait_stream(side)
        else:
            states = [g.get_state() for g in self.generators]
            try:
                self.graph = self._capture()
            except Exception as e:  # noqa: BLE001 - any capture failure means: train eagerly instead
                for g, state in zip(self.generators, states, strict=True):
                    g.set_state(state)
                self.failed = True
                self.notice = (
                    f"Could not capture the training step in a CUDA graph ({type(e).__name__}: {e}); "
                    "training without one: slower, same results."
                )
                self.step()
            else:
                self.graph.replay()  # capture records the step without running it
        self.calls += 1

    def _capture(self) -> torch.cuda.CUDAGraph:
        graph = torch.cuda.CUDAGraph()
        for g in self.generators:
            graph.register_generator_state(g)
        entry_stream = torch.cuda.current_stream(self.device)
        try:
            # thread_local: another job's thread may allocate memory while this one captures.
            with _capture_lock, torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.step()
        except Exception:
            torch.cuda.set_stream(entry_stream)  # a failing capture_end skips torch.cuda.graph's own restore
            raise
        return graph
