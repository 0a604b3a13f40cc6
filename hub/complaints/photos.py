"""Photo intake: sniff the type, reject bombs, fix orientation, strip metadata, shrink, store.

The order matters: EXIF orientation is applied first and all metadata is dropped
afterwards, because stripping first leaves phone photos sideways. The stored file is a
fresh JPEG without EXIF, XMP or ICC data, named by the SHA-256 of its bytes.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

pillow_heif.register_heif_opener()

JPEG_QUALITY = 85
THUMB_QUALITY = 75
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")


class PhotoError(ValueError):
    """A rejected photo; ``code`` is stable and ``message_key`` is the i18n text for people."""

    def __init__(self, code: str, message_key: str, **values: object) -> None:
        super().__init__(f"{code}: {values}")
        self.code = code
        self.message_key = message_key
        self.values = values


def sniff_type(data: bytes) -> str | None:
    """Return 'jpeg', 'png', 'webp' or 'heic' from the file's first bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


@dataclass(frozen=True)
class ProcessedPhoto:
    """A cleaned photo ready to store."""

    sha256: str
    jpeg: bytes
    thumbnail: bytes
    width: int
    height: int
    source_type: str


def process_photo(data: bytes, *, max_bytes: int, max_pixels: int, max_side: int, thumb_side: int) -> ProcessedPhoto:
    """Validate and clean one uploaded photo; raise PhotoError with the reason when it is rejected."""
    if len(data) > max_bytes:
        raise PhotoError("photo_too_large", "complaints.error.photo_too_large", size_mb=round(len(data) / 1e6, 1), max_mb=round(max_bytes / 1e6, 1))
    kind = sniff_type(data)
    if kind is None:
        raise PhotoError("photo_type", "complaints.error.photo_type")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise PhotoError("photo_too_many_pixels", "complaints.error.photo_pixels", pixels=width * height, max_pixels=max_pixels)
            image.load()
            upright = ImageOps.exif_transpose(image)
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoError("photo_too_many_pixels", "complaints.error.photo_pixels", pixels=0, max_pixels=max_pixels) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        log.info("Rejected an undecodable %s photo: %s", kind, exc)
        raise PhotoError("photo_unreadable", "complaints.error.photo_unreadable") from exc

    clean = _without_metadata(upright)
    clean.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    jpeg = _encode(clean, JPEG_QUALITY)
    thumb_image = clean.copy()
    thumb_image.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
    return ProcessedPhoto(hashlib.sha256(jpeg).hexdigest(), jpeg, _encode(thumb_image, THUMB_QUALITY), clean.width, clean.height, kind)


def _without_metadata(image: Image.Image) -> Image.Image:
    """Return an RGB copy that carries pixels only (no EXIF, XMP, ICC or comments)."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        rgb = background
    else:
        rgb = image.convert("RGB")
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    return clean


def _encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    return buffer.getvalue()


def read_gps(data: bytes, max_bytes: int) -> tuple[float, float] | None:
    """Return (lat, lon) from a photo's EXIF GPS tags, or None; nothing is stored."""
    if len(data) > max_bytes or sniff_type(data) is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            gps = image.getexif().get_ifd(0x8825)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    try:
        lat = _degrees(gps[2], gps.get(1, "N"), "S")
        lon = _degrees(gps[4], gps.get(3, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def _degrees(parts: tuple[float, float, float], ref: str | bytes, negative_ref: str) -> float:
    degrees, minutes, seconds = (float(value) for value in parts)
    value = degrees + minutes / 60 + seconds / 3600
    ref_text = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -value if ref_text.strip().upper() == negative_ref else value


class PhotoStore:
    """Files under ``root/<aa>/<sha256>.jpg`` and ``.thumb.jpg``, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str, thumbnail: bool = False) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"invalid photo hash {sha256!r}")
        return self.root / sha256[:2] / (f"{sha256}.thumb.jpg" if thumbnail else f"{sha256}.jpg")

    def save(self, photo: ProcessedPhoto) -> None:
        for thumbnail, data in ((False, photo.jpeg), (True, photo.thumbnail)):
            target = self.path(photo.sha256, thumbnail)
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as handle:
                handle.write(data)
                temporary = Path(handle.name)
            os.replace(temporary, target)

    def delete(self, sha256: str) -> None:
        for thumbnail in (False, True):
            self.path(sha256, thumbnail).unlink(missing_ok=True)
