"""Cross-identity animation with ground truth, drawn by the synthetic renderer (ppgan.datasets.synthetic).

The paper can score only reconstruction (a video driving its own first frame, Sec. 4): for one person
moving like another there is no ground truth. The renderer keeps identity and motion apart, so there is
one here. A pair `p` of the set of `seed` takes two identities, A = identity 2p and B = identity 2p + 1,
and the motion of B's video (chunk 0, as `make_video(seed, 2p + 1, 0, ...)` draws it):

- source: identity A drawn with B's motion at frame 0 (pose and expression);
- driving: identity B with B's motion, every frame (exactly `make_video(seed, 2p + 1, 0, ...)`);
- truth: identity A with B's motion, every frame, so `truth[0]` is the source. Animating the source by
  the driving video should give `truth`.

Region masks make expression transfer a number. For every frame of the truth, the renderer draws that
frame twice more with everything kept (identity, pose, pupils, the other feature) except one feature:

- eyes: the eyes fully open (`eyes_open` = 1) against closed (0, the closed-lid line);
- mouth: the mouth fully open (`mouth_open` = 1) against closed (0, the lip arc);

and a pixel belongs to the region when one of its channels differs by more than `REGION_THRESHOLD`
uint8 levels between the two (pixels only grazed by an anti-aliased edge stay out). So the eye region
is where any blink state could differ, the mouth region where any mouth opening could, at that
frame's pose. `face` is where the face (with its ears and hair) covers at least half of a pixel: the
frame drawn over a black and over a white background differ there.

Held out: `CROSS_IDENTITY_SEED` (2525) is used by nothing else. The shipped models were trained on
seed 0 (data/synthetic400: identities 0-199 for training, 200-219 for testing); the shipped-model tests
reconstruct seed 4321, the demo samples are seed 2026. Identities and motions of one seed come from
`numpy.random.RandomState([seed, identity, ...])`, so those of another seed share nothing with them.
"""
import numpy as np

from ppgan.utils.errors import InputError

from .synthetic import SUPERSAMPLE, _rng, random_identity, random_motion, render_background, render_face

CROSS_IDENTITY_SEED = 2525
REGION_THRESHOLD = 8    # uint8 levels: a region pixel changes by more than this in some channel
REGIONS = ("eyes", "mouth")
# the motion keys that are expression, not head pose: eyelids, gaze and mouth
EXPRESSION_KEYS = ("eyes_open", "pupil_x", "pupil_y", "mouth_open")
# the feature each region toggles and its two extreme values (closed, open)
REGION_FEATURES = {"eyes": ("eyes_open", 0.0, 1.0), "mouth": ("mouth_open", 0.0, 1.0)}


def pair_identities(seed, pair):
    """(identity A, identity B, B's motion seed keys) of pair `pair` of the set of `seed`."""
    a, b = 2 * int(pair), 2 * int(pair) + 1
    return random_identity(_rng(seed, a)), random_identity(_rng(seed, b)), (seed, b, 0, 1)


def frame_motion(motion, index, **changes):
    """A one-frame motion (arrays of length 1) with `motion`'s values at `index`, some of them replaced."""
    one = {key: np.asarray(values[index:index + 1], dtype=np.float64).copy() for key, values in motion.items()}
    for key, value in changes.items():
        one[key][0] = value
    return one


def still_expression(motion):
    """`motion` with every expression key (EXPRESSION_KEYS) held at its frame-0 value: the head moves, the face
    keeps the expression it starts with. Drawn for identity A, the best any animation that passes on no
    expression can do."""
    return {key: (np.full_like(values, values[0]) if key in EXPRESSION_KEYS else values)
            for key, values in motion.items()}


def region_masks(identity, motion, index, size, background=None):
    """{'eyes', 'mouth', 'face'}: bool (size, size) masks of frame `index` of `identity` moved by `motion`.

    eyes / mouth: the pixels that differ by more than REGION_THRESHOLD levels between that frame drawn with
    the feature fully open and fully closed (everything else as in the frame); face: the pixels the face
    covers at least half of (drawn over black and over white, they differ by less than half the range).
    `background` (the identity's background at SUPERSAMPLE x size) saves drawing it again.
    """
    big = size * SUPERSAMPLE
    if background is None:
        background = render_background(identity, big)
    masks = {}
    for region in REGIONS:
        key, closed, opened = REGION_FEATURES[region]
        shut = render_face(identity, frame_motion(motion, index, **{key: closed}), 0, size, background)
        wide = render_face(identity, frame_motion(motion, index, **{key: opened}), 0, size, background)
        masks[region] = (np.abs(shut.astype(np.int16) - wide.astype(np.int16)) > REGION_THRESHOLD).any(axis=2)
    one = frame_motion(motion, index)
    on_black = render_face(identity, one, 0, size, np.zeros((big, big, 3), np.float32)).astype(np.float64)
    on_white = render_face(identity, one, 0, size, np.full((big, big, 3), 255, np.float32)).astype(np.float64)
    masks["face"] = (on_white - on_black).mean(axis=2) < 127.5
    return masks


def cross_identity_pair(seed, pair, num_frames=32, size=64, masks=True):
    """Pair `pair` of the cross-identity set of `seed` (module docstring): a dict of

    source (size, size, 3) uint8; driving and truth (num_frames, size, size, 3) uint8; with `masks`, eyes,
    mouth and face (num_frames, size, size) bool masks of the truth's frames; identities {'A', 'B'} and the
    motion (B's).
    """
    if int(num_frames) < 1 or int(size) < 8:
        raise InputError("a cross-identity pair needs num_frames >= 1 and size >= 8, got %r and %r"
                         % (num_frames, size))
    identity_a, identity_b, motion_keys = pair_identities(seed, pair)
    motion = random_motion(_rng(*motion_keys), int(num_frames))
    big = size * SUPERSAMPLE
    back_a, back_b = render_background(identity_a, big), render_background(identity_b, big)
    frames = range(int(num_frames))
    truth = np.stack([render_face(identity_a, motion, i, size, back_a) for i in frames])
    out = {"source": truth[0].copy(), "truth": truth,
           "driving": np.stack([render_face(identity_b, motion, i, size, back_b) for i in frames]),
           "identities": {"A": identity_a, "B": identity_b}, "motion": motion}
    if masks:
        per_frame = [region_masks(identity_a, motion, i, size, back_a) for i in frames]
        for name in REGIONS + ("face",):
            out[name] = np.stack([m[name] for m in per_frame])
    return out


def cross_identity_set(num_pairs, num_frames=32, size=64, seed=CROSS_IDENTITY_SEED, masks=True):
    """The first `num_pairs` pairs of the held-out cross-identity set (a generator of `cross_identity_pair`)."""
    for pair in range(int(num_pairs)):
        yield cross_identity_pair(seed, pair, num_frames, size, masks)
