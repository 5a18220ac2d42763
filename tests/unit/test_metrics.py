"""Evaluation metrics: motion fidelity on clips drawn here, CLIP metrics on the tiny CLIP."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from motionlora.evaluate.clip import load_clip
from motionlora.evaluate.metrics import (
    appearance_diversity,
    appearance_leakage,
    concept_motion_fidelity,
    motion_fidelity,
    temporal_consistency,
    text_alignment,
)
from motionlora.testing.tiny_clip import build_tiny_clip

FRAMES, SIZE = 16, 64


def _background(kind: str, colour: tuple[int, int, int]) -> np.ndarray:
    image = np.full((SIZE, SIZE, 3), colour, np.uint8)
    if kind == "stripes":
        for y in range(0, SIZE, 8):
            image[y : y + 4] = (40, 160, 40)
    elif kind == "checker":
        rows, cols = np.mgrid[:SIZE, :SIZE]
        image[(rows // 8 + cols // 8) % 2 == 1] = (40, 40, 160)
    return image


def _clip(
    shape: str = "square",
    background: str = "plain",
    velocity: tuple[float, float] = (1.0, 0.0),
    start: tuple[int, int] = (20, 32),
    colour: tuple[int, int, int] = (220, 30, 30),
    background_colour: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """A filled shape moving at a constant `velocity` (pixels per frame) over a static background."""
    frames = []
    for k in range(FRAMES):
        image = _background(background, background_colour)
        x, y = round(start[0] + velocity[0] * k), round(start[1] + velocity[1] * k)
        if shape == "square":
            cv2.rectangle(image, (x - 6, y - 6), (x + 6, y + 6), colour, -1)
        else:
            cv2.circle(image, (x, y), 7, colour, -1)
        frames.append(image)
    return np.stack(frames)


RIGHT = _clip()


# --- motion fidelity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        _clip("circle", "stripes", colour=(30, 30, 220), background_colour=(200, 200, 120)),
        # Many static corners on a checkerboard: they must not drag the score down.
        _clip("circle", "checker", colour=(250, 250, 0), background_colour=(90, 90, 90)),
    ],
    ids=["circle-on-stripes", "circle-on-checker"],
)
def test_same_motion_with_other_appearance_scores_high(other: np.ndarray) -> None:
    assert motion_fidelity(RIGHT, other) > 0.8


@pytest.mark.parametrize(
    "other",
    [
        _clip(velocity=(-1.0, 0.0), start=(44, 32)),
        _clip(velocity=(0.0, 0.0)),
        _clip(velocity=(0.0, 0.0), background="checker"),
        _clip(velocity=(0.0, 1.0), start=(32, 20)),
    ],
    ids=["moving-left", "still", "still-on-checker", "moving-down"],
)
def test_other_motion_scores_low(other: np.ndarray) -> None:
    assert motion_fidelity(RIGHT, other) < 0.3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_frames_score_low(seed: int) -> None:
    shuffled = RIGHT[np.random.default_rng(seed).permutation(FRAMES)]
    assert motion_fidelity(RIGHT, shuffled) < 0.3


def test_opposite_direction_is_anticorrelated() -> None:
    assert motion_fidelity(RIGHT, RIGHT[::-1]) == pytest.approx(-1.0, abs=0.05)


def test_symmetric_and_deterministic() -> None:
    other = _clip("circle", "checker", velocity=(1.0, 0.5), start=(20, 20))
    score = motion_fidelity(RIGHT, other)
    assert score == motion_fidelity(other, RIGHT)
    assert score == motion_fidelity(RIGHT, other)


def test_perpendicular_motion_is_uncorrelated() -> None:
    # Every displacement of one clip is at 90 degrees to the other's: each correlation is cos 90° = 0.
    assert motion_fidelity(RIGHT, _clip(velocity=(0.0, 1.0), start=(32, 20))) == pytest.approx(0.0, abs=0.02)


def test_clips_without_motion_are_defined() -> None:
    still = _clip(velocity=(0.0, 0.0))
    blank = np.zeros_like(RIGHT)
    assert motion_fidelity(still, _clip("circle", "checker", velocity=(0.0, 0.0))) == 1.0
    assert motion_fidelity(blank, still) == 1.0
    assert motion_fidelity(blank, RIGHT) == 0.0


def test_frame_count_mismatch_names_both_counts() -> None:
    with pytest.raises(ValueError, match=r"16 frames.*12"):
        motion_fidelity(RIGHT, RIGHT[:12])


@pytest.mark.parametrize(
    "bad",
    [RIGHT.astype(np.float32), RIGHT[..., :2], RIGHT[0], RIGHT[:1]],
    ids=["float", "two-channels", "one-image", "one-frame"],
)
def test_motion_fidelity_rejects_bad_clips(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        motion_fidelity(bad, bad)


# --- concept motion fidelity -------------------------------------------------------------------


def _shapes(motion: str, seed: int, shape: str = "triangle", color: str = "green", background: str = "stripes",
            frames: int = 8) -> np.ndarray:
    from shapesworld.render import ClipSpec, render_clip

    return render_clip(ClipSpec(shape, color, background, motion, frames=frames), seed=seed)


ZIGZAG_REFS = [_shapes("zigzag", seed) for seed in range(4)]


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_concept_fidelity_ignores_appearance_start_and_phase(seed: int) -> None:
    # Another shape, colour and background; the seed moves the start, amplitude and which way
    # the zigzag steps first (its phase).
    other = _shapes("zigzag", seed, "circle", "red", "checker")
    assert concept_motion_fidelity(ZIGZAG_REFS, other) > 0.9


@pytest.mark.parametrize("motion", ["right", "up", "still", "circle", "bounce", "spiral"])
def test_concept_fidelity_scores_other_motions_low(motion: str) -> None:
    # Bounce comes closest: two hops also move the object up and down while it drifts right.
    assert concept_motion_fidelity(ZIGZAG_REFS, _shapes(motion, 3, "circle", "red", "checker")) < 0.55


def test_concept_fidelity_tells_turning_sense_apart() -> None:
    counter_clockwise = [_shapes("circle", seed) for seed in range(4)]
    other = _shapes("circle", 9, "square", "yellow", "gray")
    assert concept_motion_fidelity(counter_clockwise, other) > 0.85
    # The same clip played backwards turns clockwise.
    assert concept_motion_fidelity(counter_clockwise, other[::-1].copy()) < 0.2


FAST_RIGHT = _clip(velocity=(2.0, 0.0), start=(12, 32))


def test_concept_fidelity_direction_and_speed() -> None:
    assert concept_motion_fidelity([FAST_RIGHT], _clip("circle", "checker", velocity=(2.0, 0.0), start=(14, 20))) > 0.95
    assert concept_motion_fidelity([FAST_RIGHT], FAST_RIGHT[::-1].copy()) < -0.9
    # Twice as fast: 2 * 2 * 4 / (2^2 + 4^2) = 0.8 up to localisation error.
    assert concept_motion_fidelity([FAST_RIGHT], _clip(velocity=(4.0, 0.0), start=(2, 32))) == pytest.approx(0.8, abs=0.05)
    # Perpendicular, either way: cos 90° = 0.
    assert concept_motion_fidelity([FAST_RIGHT], _clip(velocity=(0.0, 2.0), start=(32, 6))) == pytest.approx(0.0, abs=0.02)
    assert concept_motion_fidelity([FAST_RIGHT], _clip(velocity=(0.0, -2.0), start=(32, 50))) == pytest.approx(0.0, abs=0.02)


def test_concept_fidelity_on_still_blank_and_shorter_clips() -> None:
    still = _clip(velocity=(0.0, 0.0))
    blank = np.zeros_like(RIGHT)
    assert concept_motion_fidelity([FAST_RIGHT], still) < 0.05
    assert concept_motion_fidelity([FAST_RIGHT], blank) < 0.05
    assert concept_motion_fidelity([still], blank) == 1.0
    assert concept_motion_fidelity([blank], blank[:1]) == 1.0
    # References of 8 frames, a generated zigzag of 16: it steps up and down every frame as they do.
    assert concept_motion_fidelity(ZIGZAG_REFS, _shapes("zigzag", 5, "square", "white", "gray", frames=16)) > 0.9


def test_concept_fidelity_is_deterministic() -> None:
    other = _shapes("bounce", 4, "square", "blue", "gradient")
    scores = {concept_motion_fidelity(ZIGZAG_REFS, other) for _ in range(3)}
    assert len(scores) == 1
    with pytest.raises(ValueError, match="at least one reference"):
        concept_motion_fidelity([], other)


# --- CLIP metrics --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory):
    return load_clip(build_tiny_clip(tmp_path_factory.mktemp("tiny-clip")))


class ColourCLIP:
    """A stand-in for CLIP whose embeddings are known by hand, so each metric has an exact expected
    value: a frame's embedding is its mean colour as a unit RGB vector; a prompt's is the unit sum
    of the colours it names."""

    WORDS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}

    def image_embeddings(self, frames: np.ndarray) -> torch.Tensor:
        means = torch.as_tensor(frames.reshape(len(frames), -1, 3).mean(axis=1), dtype=torch.float32)
        return torch.nn.functional.normalize(means, dim=-1)

    def text_embeddings(self, prompts) -> torch.Tensor:
        prompts = [prompts] if isinstance(prompts, str) else prompts
        sums = [np.sum([self.WORDS[word] for word in prompt.split() if word in self.WORDS], axis=0) for prompt in prompts]
        return torch.nn.functional.normalize(torch.as_tensor(np.stack(sums), dtype=torch.float32), dim=-1)


def _solid(*colours: tuple[int, int, int]) -> np.ndarray:
    """One 4x4 frame of each colour."""
    return np.stack([np.full((4, 4, 3), colour, np.uint8) for colour in colours])


RED, GREEN, BLUE, YELLOW = (200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0)


def test_text_alignment_is_100_times_the_mean_cosine() -> None:
    colours = ColourCLIP()
    assert text_alignment(_solid(RED, RED), "a red square", colours) == pytest.approx(100.0)
    assert text_alignment(_solid(RED, GREEN), "a red square", colours) == pytest.approx(50.0)  # cosines 1 and 0
    assert text_alignment(_solid(RED), "red on green", colours) == pytest.approx(100.0 / np.sqrt(2.0))


def test_text_alignment_on_the_tiny_clip(clip) -> None:
    """The real scorer's cosines, frame by frame, agree with the metric's mean."""
    frames = _clip("circle", "stripes")[:4]
    cosines = [float(clip.image_embeddings(frame[None]) @ clip.text_embeddings("a red circle").T) for frame in frames]
    assert text_alignment(frames, "a red circle", clip) == pytest.approx(100.0 * np.mean(cosines), abs=1e-4)


def test_temporal_consistency_of_a_static_clip_is_100(clip) -> None:
    static = np.repeat(RIGHT[:1], FRAMES, axis=0)
    assert temporal_consistency(static, clip) == pytest.approx(100.0, abs=1e-3)


def test_temporal_consistency_is_100_times_the_mean_cosine_of_neighbours() -> None:
    # Neighbours red-red, red-green, green-green: cosines 1, 0, 1.
    assert temporal_consistency(_solid(RED, RED, GREEN, GREEN), ColourCLIP()) == pytest.approx(200.0 / 3.0)
    # Red then yellow: cos 45° each step.
    assert temporal_consistency(_solid(RED, YELLOW), ColourCLIP()) == pytest.approx(100.0 / np.sqrt(2.0))


def test_appearance_leakage_is_zero_without_change(clip) -> None:
    reference = np.repeat(_clip("circle", "checker")[:1], FRAMES, axis=0)
    assert appearance_leakage(RIGHT, reference, RIGHT, clip) == pytest.approx(0.0, abs=1e-9)


def test_appearance_leakage_is_the_similarity_gained_over_the_base_clip() -> None:
    colours, reference, base = ColourCLIP(), _solid(GREEN, GREEN), _solid(YELLOW)
    # The base clip's similarity to the green reference is cos 45°; a copy of the reference has 1, a red clip 0.
    assert appearance_leakage(reference, reference, base, colours) == pytest.approx(100.0 * (1.0 - 1.0 / np.sqrt(2.0)))
    assert appearance_leakage(_solid(RED), reference, base, colours) == pytest.approx(-100.0 / np.sqrt(2.0))


def test_appearance_diversity(clip) -> None:
    assert appearance_diversity([RIGHT, RIGHT.copy(), RIGHT], clip) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="at least 2 clips"):
        appearance_diversity([RIGHT], clip)


def test_appearance_diversity_is_one_minus_the_mean_pairwise_cosine() -> None:
    colours = ColourCLIP()
    assert appearance_diversity([_solid(RED), _solid(GREEN), _solid(BLUE)], colours) == pytest.approx(1.0)  # orthogonal
    assert appearance_diversity([_solid(RED), _solid(RED), _solid(GREEN)], colours) == pytest.approx(2.0 / 3.0)  # cosines 1, 0, 0
    # A clip's embedding is the mean of its frames': red + green frames point at yellow.
    assert appearance_diversity([_solid(RED, GREEN), _solid(YELLOW)], colours) == pytest.approx(0.0, abs=1e-6)


def test_clip_metrics_reject_bad_frames(clip) -> None:
    with pytest.raises(ValueError, match="uint8"):
        text_alignment(RIGHT.astype(np.float32), "a square", clip)
    with pytest.raises(ValueError, match="base_generated"):
        appearance_leakage(RIGHT, RIGHT, RIGHT[..., 0], clip)
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal_consistency(RIGHT[:1], clip)
