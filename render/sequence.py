"""Sequences: ``render.frames`` consecutive frames of one scene (pure Python).

With ``render.frames: N > 1`` scene index ``i`` is frame ``i % N`` of sequence
``i // N``: every random choice of a frame is drawn from the sequence's streams
(so the frames share the street, the people, their looks and the light), and the
frame only moves time on by ``frame / fps`` seconds (people walk, the dashcam
drives). Cycles' sampling seed stays per frame, as a real sensor's noise does.
Each frame is sampled, rendered and committed on its own, so a sequence resumes,
retries and spreads over workers frame by frame.

Images of a sequence carry ``video_id`` (the sequence) and ``frame_index``;
annotations carry ``track_id``, the instance's id within its sequence (a person
keeps it while hidden and when seen again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Frame:
    """Where a scene index falls: ``video`` (the sequence), ``index`` (0-based frame)
    and ``time_s`` (``index / fps``); ``frames`` per sequence."""

    video: int
    index: int
    frames: int
    fps: float

    @property
    def time_s(self) -> float:
        return self.index / self.fps

    def meta(self) -> dict[str, Any]:
        """What a frame's SceneSpec records in ``meta["sequence"]``."""
        return {
            "video_id": self.video,
            "frame_index": self.index,
            "frames": self.frames,
            "fps": self.fps,
            "time_s": round(self.time_s, 6),
        }


def frame_of(frames: int, fps: float, scene_index: int) -> Frame | None:
    """The frame scene ``scene_index`` is, or None for stills (``frames == 1``)."""
    if frames <= 1:
        return None
    return Frame(scene_index // frames, scene_index % frames, frames, fps)


def image_fields(meta: dict[str, Any]) -> dict[str, int]:
    """The COCO image keys of a scene's ``meta`` (empty for a still)."""
    seq = meta.get("sequence") if isinstance(meta, dict) else None
    if not seq:
        return {}
    return {"video_id": int(seq["video_id"]), "frame_index": int(seq["frame_index"])}
