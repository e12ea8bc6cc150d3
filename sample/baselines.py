"""The body baselines of the paper's Table 1, each a `sample.windows.MotionSampler` (so sample.generate's
`sample_inputs` and sample.evaluate score them like the full model):

| name         | class                   | motion for a window of audio                                          |
|--------------|-------------------------|-----------------------------------------------------------------------|
| `random`     | RandomSegmentSampler    | a random window of the TRAIN split's poses (drawn from the row seed)  |
| `nn`         | NearestNeighbourSampler | the poses of the train window whose audio features are nearest        |
| `vq_only`    | VQOnlySampler           | the guide's 1 fps keyframes (VQ-decoded tokens), linearly to 30 fps   |
| `audio_only` | AudioOnlySampler        | pose diffusion with the learned null guide (BodySampler drop_guide)   |
| `guide_only` | GuideOnlySampler        | pose diffusion with the learned null audio (BodySampler drop_audio)   |
| `full`       | sample.body.BodySampler | the full model: audio + guide keyframes                               |

The diffusion variants reuse the full model's checkpoint: it was trained with the audio and, independently,
the guide poses replaced by their learned nulls (DenoiserConfig.cond_drop_prob), so dropping one condition
at sampling time gives the model of that condition alone. Classifier-free guidance runs as for the full
model, against the null of both conditions. The guide's keyframes depend on the row seeds only, so with the
same seeds `vq_only`, `guide_only` and `full` share their keyframes.

Motion in and out is normalised (the person's Normalizer), (R*B, T, C) rows repetition-major, as every
MotionSampler. The random and nearest-neighbour baselines hold the train split in memory
(data_loaders.dataset.SocialDataset). Non-diffusion baselines honour `known` (long audio in overlapping
windows, sample/windows.py) by the same blend the inpainting applies: w * known + (1 - w) * motion.

Audio features of the nearest neighbour (`window_features`), per channel (person, partner): the loudness
envelope (mean log-mel band, `model.mel.LogMel` with NN_MELS bands) averaged over bins of NN_BIN_FRAMES
frames, and the mean log-mel spectrum of the window; every feature is z-scored with the statistics of the
train windows, then the Euclidean nearest train window (starts every `stride` frames) wins. The method is
deterministic: every repetition gets the same segment (Div_sample 0, as in the paper).
"""
from __future__ import annotations

import torch

from data_loaders.dataset import SocialDataset
from data_loaders.format import KEYFRAME_STEP, SAMPLES_PER_FRAME
from model.mel import HOP, LogMel
from sample.body import BodySampler
from sample.windows import SamplingConfig, WindowSample

NN_MELS = 32
NN_BIN_FRAMES = 15  # 0.5 s bins of the loudness envelope
MELS_PER_FRAME = SAMPLES_PER_FRAME // HOP  # 4


def blend_known(motion: torch.Tensor, known: torch.Tensor | None, known_mask: torch.Tensor | None) -> torch.Tensor:
    """motion (N, T, C) with the known frames blended in: w * known + (1 - w) * motion, w = known_mask (N, T)."""
    if known is None:
        return motion
    weight = known_mask.to(motion.device, motion.dtype)[..., None]
    return weight * known.to(motion.device, motion.dtype) + (1 - weight) * motion


def upsample_keyframes(keyframes: torch.Tensor, frames: int) -> torch.Tensor:
    """(N, K, C) keyframes at frames 0, 30, 60, ... -> (N, T, C) at 30 fps: linear between keyframes, the last
    keyframe held after it (and the first one's value where K = 1)."""
    count = keyframes.shape[1]
    position = torch.arange(frames, device=keyframes.device, dtype=torch.float32) / KEYFRAME_STEP
    lower = position.floor().long().clamp(max=count - 1)
    upper = (lower + 1).clamp(max=count - 1)
    fraction = (position - lower).clamp(0, 1)[None, :, None].to(keyframes.dtype)
    return keyframes[:, lower] * (1 - fraction) + keyframes[:, upper] * fraction


class _BaselineSampler:
    """The MotionSampler attributes shared by every baseline (sample/windows.py)."""
    data_format = "pose"

    def __init__(self, name: str, nfeats: int, window: int, normalizer):
        self.nfeats, self.window, self.normalizer = nfeats, window, normalizer
        self.output_suffix = name


class RandomSegmentSampler(_BaselineSampler):
    """Random train windows: row r gets the window SocialDataset draws from seed seeds[r] (any scene, any
    start), cut to the audio's T frames. `train` holds random windows of exactly `window` frames."""

    def __init__(self, train: SocialDataset):
        if not train.random_windows or train.random_lengths and train.min_seq_length < train.max_seq_length:
            raise ValueError("RandomSegmentSampler needs a train SocialDataset of random windows of one length "
                             "(random_lengths=False)")
        super().__init__("random", train.nfeats, train.max_seq_length, train.normalizer)
        self.train = train

    @torch.no_grad()
    def sample(self, audio: torch.Tensor, settings: SamplingConfig, *, seeds: torch.Tensor,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None,
               known_mask: torch.Tensor | None = None, progress: bool = False) -> WindowSample:
        frames = audio.shape[1] // SAMPLES_PER_FRAME
        if frames > self.window:
            raise ValueError(f"RandomSegmentSampler: {frames} frames, longer than its {self.window}-frame windows")
        motion = torch.stack([self.train[int(seed)]["motion"][:frames] for seed in seeds])
        return WindowSample(blend_known(motion, known, known_mask))


def log_mel_channels(audio: torch.Tensor, log_mel: LogMel) -> torch.Tensor:
    """audio (B, N, 2) -> (B, N // 400, 2, n_mels) log-mel of each channel (4 mel frames per video frame)."""
    batch, samples, channels = audio.shape
    mel = log_mel(audio.transpose(1, 2).reshape(batch * channels, samples))
    return mel.unflatten(0, (batch, channels)).transpose(1, 2)


def window_features(mel: torch.Tensor) -> torch.Tensor:
    """(B, 4T, 2, M) log-mel of windows -> (B, F) features (module docstring): per channel, the loudness in
    bins of NN_BIN_FRAMES frames (a shorter last bin averages what it has), then the mean spectrum."""
    bin_length = NN_BIN_FRAMES * MELS_PER_FRAME
    loudness = mel.mean(-1)  # (B, 4T, 2)
    bins = [loudness[:, start:start + bin_length].mean(1) for start in range(0, loudness.shape[1], bin_length)]
    return torch.cat([torch.stack(bins, 1).flatten(1), mel.mean(1).flatten(1)], dim=1)


class NearestNeighbourSampler(_BaselineSampler):
    """The train window (starts every `stride` frames) whose audio features are nearest to the input's
    (module docstring); `train` is any SocialDataset of the train split (its scenes are used whole)."""

    def __init__(self, train: SocialDataset, window: int, stride: int = KEYFRAME_STEP):
        super().__init__("nn", train.nfeats, window, train.normalizer)
        self.train, self.stride = train, stride
        self.log_mel = LogMel(NN_MELS)
        with torch.no_grad():
            self.scene_mels = [log_mel_channels(torch.from_numpy(scene.audio)[None], self.log_mel)[0]
                               for scene in train.scenes]  # (4 * frames, 2, M) per scene
        self._index: dict[int, tuple] = {}  # frames -> (candidates [(scene, start)], features, mean, std)

    def candidates(self, frames: int) -> tuple[list[tuple[int, int]], torch.Tensor, torch.Tensor, torch.Tensor]:
        """The train windows of `frames` frames: [(scene index, start)], their features (W, F) and the
        features' mean and std (F,) (computed once per length)."""
        if frames not in self._index:
            starts = [(index, start) for index, scene in enumerate(self.train.scenes)
                      for start in range(0, len(scene.motion) - frames + 1, self.stride)]
            if not starts:
                raise ValueError(f"NearestNeighbourSampler: no train scene holds {frames} frames")
            size = MELS_PER_FRAME * frames
            mels = torch.stack([self.scene_mels[i][MELS_PER_FRAME * s:MELS_PER_FRAME * s + size] for i, s in starts])
            features = window_features(mels)
            self._index[frames] = (starts, features, features.mean(0), features.std(0).clamp_min(1e-6))
        return self._index[frames]

    def nearest(self, audio: torch.Tensor) -> list[tuple[int, int]]:
        """(scene index, start) of the nearest train window of each of the B audio windows (B, T*1600, 2)."""
        frames = audio.shape[1] // SAMPLES_PER_FRAME
        starts, features, mean, std = self.candidates(frames)
        query = window_features(log_mel_channels(audio.cpu().float(), self.log_mel))
        distances = torch.cdist((query - mean) / std, (features - mean) / std)
        return [starts[int(i)] for i in distances.argmin(1)]

    @torch.no_grad()
    def sample(self, audio: torch.Tensor, settings: SamplingConfig, *, seeds: torch.Tensor,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None,
               known_mask: torch.Tensor | None = None, progress: bool = False) -> WindowSample:
        frames = audio.shape[1] // SAMPLES_PER_FRAME
        segments = torch.stack([torch.from_numpy(self.train.scenes[i].motion[s:s + frames])
                                for i, s in self.nearest(audio)])
        motion = torch.cat([segments] * settings.num_repetitions)
        return WindowSample(blend_known(motion, known, known_mask))


class _BodyVariant(_BaselineSampler):
    """A baseline made from the full model's BodySampler (pose denoiser + guide + VQ-VAE)."""

    def __init__(self, name: str, body: BodySampler, needs_guide: bool = True):
        if needs_guide and body.guide is None:
            raise ValueError(f"{type(self).__name__} needs a BodySampler with its guide transformer (resume_trans)")
        super().__init__(name, body.nfeats, body.window, body.normalizer)
        self.body = body


class VQOnlySampler(_BodyVariant):
    """The guide's keyframes (tokens drawn from the audio, decoded by the VQ-VAE), upsampled to 30 fps."""

    def __init__(self, body: BodySampler):
        super().__init__("vq_only", body)

    @torch.no_grad()
    def sample(self, audio: torch.Tensor, settings: SamplingConfig, *, seeds: torch.Tensor,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None,
               known_mask: torch.Tensor | None = None, progress: bool = False) -> WindowSample:
        keyframes = self.body.guide_poses(audio, seeds, mask)
        motion = upsample_keyframes(keyframes, audio.shape[1] // SAMPLES_PER_FRAME)
        return WindowSample(blend_known(motion, known, known_mask), keyframes)


class AudioOnlySampler(_BodyVariant):
    """Pose diffusion from the audio alone: the guide condition is the learned null (drop_guide)."""

    def __init__(self, body: BodySampler):
        super().__init__("audio_only", body, needs_guide=False)

    def sample(self, audio: torch.Tensor, settings: SamplingConfig, *, seeds: torch.Tensor,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None,
               known_mask: torch.Tensor | None = None, progress: bool = False) -> WindowSample:
        return self.body.sample(audio, settings, seeds=seeds, mask=mask, known=known, known_mask=known_mask,
                                progress=progress, drop_guide=True)


class GuideOnlySampler(_BodyVariant):
    """Pose diffusion from the guide's keyframes alone: the audio tokens and the pooled audio of the
    condition are the learned nulls (drop_audio), the guide tokens are kept."""

    def __init__(self, body: BodySampler):
        super().__init__("guide_only", body)

    def sample(self, audio: torch.Tensor, settings: SamplingConfig, *, seeds: torch.Tensor,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None,
               known_mask: torch.Tensor | None = None, progress: bool = False) -> WindowSample:
        return self.body.sample(audio, settings, seeds=seeds, mask=mask, known=known, known_mask=known_mask,
                                progress=progress, drop_audio=True)


BASELINES = ("random", "nn", "vq_only", "audio_only", "guide_only", "full")  # the rows of Table 1, in order


def build_baselines(body: BodySampler, train: SocialDataset, nn_stride: int = KEYFRAME_STEP) -> dict:
    """Every baseline of BASELINES (name -> MotionSampler) for a full model `body` (with its guide) and the
    person's train split `train` (random windows of exactly body.window frames)."""
    return {"random": RandomSegmentSampler(train), "nn": NearestNeighbourSampler(train, body.window, nn_stride),
            "vq_only": VQOnlySampler(body), "audio_only": AudioOnlySampler(body),
            "guide_only": GuideOnlySampler(body), "full": body}


def train_windows(data_root: str, window: int) -> SocialDataset:
    """The train split of a person folder as random pose windows of exactly `window` frames."""
    return SocialDataset(data_root, "train", "pose", max_seq_length=window, min_seq_length=window,
                         random_lengths=False)
