"""One check of an audio file's header, before any sample is decoded, for every reader of audio files:
`read_audio_header(path)` (sample/audio_input.py reads users' files through it, for sample.generate and the
demo; data_loaders/format.read_wav reads the data set's scenes through it).

A header is a few bytes anyone can write, and readers size their work by it: a 160 KB WAV saying 4,000,037 Hz
made the resampling filter take gigabytes, one saying 3 Hz lasted seven hours, a FLAC declaring 10^10
samples asked for that much room. Refused here, each in one line naming the file and the fix
(AudioHeaderError, a ValueError):

- a missing file, a folder, a file libsndfile cannot read;
- a sample rate outside [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE] Hz, the range of real recordings (8 kHz
  telephone speech to 384 kHz studio masters, with room to spare);
- a declared length the file cannot hold: uncompressed samples (PCM, float, A-law, mu-law in WAV, AIFF,
  AU, CAF, ...) take BYTES_PER_SAMPLE each, so samples x bytes must fit in the file; compressed ones (FLAC,
  Ogg, MP3, ADPCM) at most MAX_SAMPLES_PER_BYTE per byte of file (digital silence in FLAC or Vorbis: 550-750);
- a WAV whose data chunk declares more bytes than the file holds (a truncated download or copy):
  libsndfile would quietly read what is there. The streaming sizes 0 and 0xFFFFFFFF (a WAV written to a
  pipe) mean "unknown" and pass.

Readers that decode must still stop at the samples the file really holds (sample/audio_input.py refuses a
file that ends well before its declared length).
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import soundfile as sf

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
MAX_SAMPLES_PER_BYTE = 8_192
BYTES_PER_SAMPLE = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4,
                    "FLOAT": 4, "DOUBLE": 8}
COMPRESSED_FORMATS = ("FLAC", "OGG", "MP3", "XI")  # their subtype names the sample resolution, not the storage
UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)
RE_EXPORT = "re-export it, e.g. `ffmpeg -i {name} -ar 48000 -c:a pcm_s16le fixed.wav`"


class AudioHeaderError(ValueError):
    """An audio file whose header cannot be trusted or read; the message names the file and the fix."""


def wav_data_bytes(path: Path) -> int | None:
    """The byte count a RIFF/WAVE file's `data` chunk declares, or None (not a RIFF WAV, no data chunk)."""
    with open(path, "rb") as handle:
        riff = handle.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:] != b"WAVE":
            return None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                return size
            handle.seek(size + size % 2, os.SEEK_CUR)


def _length_fault(path: Path, header, file_bytes: int) -> str | None:
    samples = header.frames * header.channels
    seconds = header.frames / header.samplerate
    per_sample = None if header.format in COMPRESSED_FORMATS else BYTES_PER_SAMPLE.get(header.subtype)
    if per_sample is None and samples > file_bytes * MAX_SAMPLES_PER_BYTE:
        return (f"its header declares {seconds:.0f} s of audio, more than {file_bytes} bytes of "
                f"{header.subtype} can hold")
    if per_sample is not None and samples * per_sample > file_bytes:
        return f"its header declares {seconds:.1f} s of audio, more than its {file_bytes} bytes hold"
    declared = wav_data_bytes(path) if header.format == "WAV" and per_sample is not None else None
    if declared not in (None, *UNKNOWN_WAV_SIZES) and declared > samples * per_sample:
        return (f"its header declares {declared / (header.channels * per_sample * header.samplerate):.1f} s of "
                f"audio but the file holds {seconds:.1f} s (a truncated download or copy?)")
    return None


def read_audio_header(path: str | os.PathLike):
    """soundfile's info of the file at `path` (samplerate, channels, frames, format, subtype), after the
    checks of the module docstring; AudioHeaderError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise AudioHeaderError(f"{path}: a folder, not an audio file; give the path of a WAV/FLAC/OGG/MP3 file")
    if not path.is_file():
        raise AudioHeaderError(f"{path}: file not found")
    try:
        header = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as error:
        raise AudioHeaderError(f"{path}: not a readable audio file ({error}); give a WAV/FLAC/OGG/MP3 "
                               f"file") from error
    fix = RE_EXPORT.format(name=path.name)
    if not MIN_SAMPLE_RATE <= header.samplerate <= MAX_SAMPLE_RATE:
        raise AudioHeaderError(f"{path}: its header says {header.samplerate} samples per second, outside the "
                               f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz of real recordings (a damaged or crafted "
                               f"header); {fix}")
    fault = _length_fault(path, header, path.stat().st_size)
    if fault:
        raise AudioHeaderError(f"{path}: {fault}; {fix}")
    return header
