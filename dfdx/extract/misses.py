"""What each target frame becomes once the transform has seen it: its images, or a recorded miss.

A transform that finds nothing (a face crop on a frame without a face) returns a `Miss`; its
`on_missing` decides: `skip` writes nothing and the ledger records the miss, `full` writes the whole
target frame marked as such, `nearest` tries the other frames within `NEAREST_WINDOW_S` of it, nearest
first, and writes the first that has a face (the ledger records that frame's own pts). The extra frames
are decoded through the run's own decoder, a few at a time (nearest first), so a video with faces costs
nothing more and a face-free one at most the window's frames.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from dfdx.extract.frame import Frame
from dfdx.extract.plan import Plan, Target, frames_near, seek_groups
from dfdx.extract.probe import VideoInfo
from dfdx.extract.transforms import NEAREST_WINDOW_S, Miss, Output, Transform

NEAREST_CHUNK = 8  # candidate frames decoded and tried per round, per missed target


@dataclass(frozen=True, slots=True)
class Placed:
    target: Target
    frame: int  # grid index of the frame the outputs were cut from
    outputs: list[Output]
    miss: Miss | None = None  # why the target frame itself gave nothing
    fallback: str | None = None  # "full" | "nearest"


async def place_outputs(transform: Transform, info: VideoInfo, plan: Plan, decoded: dict[int, Frame],
                        keyframes_only: bool, decode: Callable[[Plan], Awaitable[dict[int, Frame]]]) -> list[Placed]:
    """Each target's outputs, transformed side by side (a face detector's workers run in parallel)."""
    outcomes = await asyncio.gather(*(transform.apply(decoded[t.frame]) for t in plan.targets))
    placed = []
    for target, outcome in zip(plan.targets, outcomes, strict=True):
        if not isinstance(outcome, Miss):
            placed.append(Placed(target, target.frame, outcome))
        elif transform.on_missing == "full":
            placed.append(Placed(target, target.frame, [Output(decoded[target.frame])], outcome, "full"))
        else:
            placed.append(Placed(target, target.frame, [], outcome))
    if transform.on_missing == "nearest":
        await _nearest(transform, info, placed, keyframes_only, decode)
    return placed


async def _nearest(transform: Transform, info: VideoInfo, placed: list[Placed], keyframes_only: bool,
                   decode: Callable[[Plan], Awaitable[dict[int, Frame]]]) -> None:
    todo = {i: frames_near(info, p.frame, NEAREST_WINDOW_S, keyframes_only)
            for i, p in enumerate(placed) if p.miss is not None}  # fmt: skip
    seen: dict[int, list[Output] | Miss] = {}  # candidate frame → what the transform made of it
    while todo := {i: rest for i, rest in todo.items() if rest}:
        batch = {i: rest[:NEAREST_CHUNK] for i, rest in todo.items()}
        need = sorted({f for chunk in batch.values() for f in chunk} - seen.keys())
        frames = await decode(Plan(targets=(), groups=seek_groups(info, need))) if need else {}
        got = [f for f in need if f in frames]  # one the decoder could not produce is simply not a candidate
        for f, outcome in zip(got, await asyncio.gather(*(transform.apply(frames[f]) for f in got)), strict=True):
            seen[f] = outcome
        del frames
        for i, chunk in batch.items():
            hit = next((f for f in chunk if isinstance(seen.get(f), list)), None)
            if hit is None:
                todo[i] = todo[i][NEAREST_CHUNK:]
            else:
                outputs = seen[hit]
                assert isinstance(outputs, list)
                placed[i] = replace(placed[i], frame=hit, outputs=outputs, fallback="nearest")
                del todo[i]
