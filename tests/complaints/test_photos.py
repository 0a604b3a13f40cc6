"""Photo intake with real JPEG, PNG, WebP and HEIC files made by Pillow and pillow-heif."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from hub.complaints.photos import PhotoError, PhotoStore, process_photo, read_gps, sniff_type
from tests.complaints.conftest import GPS_IFD, heic_bytes, image_bytes, jpeg_bytes

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 4_000_000, "max_side": 2048, "thumb_side": 32}


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (jpeg_bytes(), "jpeg"),
        (image_bytes("PNG"), "png"),
        (image_bytes("WEBP"), "webp"),
        (heic_bytes(), "heic"),
        (b"GIF89a" + b"\x00" * 20, None),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_sniff_type(data: bytes, kind: str | None) -> None:
    assert sniff_type(data) == kind


@pytest.mark.parametrize("maker", [heic_bytes, jpeg_bytes])
def test_orientation_applied_then_exif_stripped(maker) -> None:  # type: ignore[no-untyped-def]
    source = maker(6)
    assert read_gps(source, 10**8) == pytest.approx((-5.11306, 105.30667), abs=1e-4)
    result = process_photo(source, **LIMITS)
    stored = _decode(result.jpeg)
    # Orientation 6 turns the 80x40 landscape into a 40x80 portrait with red on top.
    assert stored.size == (40, 80)
    red_top = stored.getpixel((20, 10))
    blue_bottom = stored.getpixel((20, 70))
    assert red_top[0] > 200
    assert red_top[2] < 60
    assert blue_bottom[2] > 200
    assert blue_bottom[0] < 60
    assert len(stored.getexif()) == 0
    assert stored.getexif().get_ifd(GPS_IFD) == {}
    for key in ("exif", "icc_profile", "xmp"):
        assert key not in stored.info
    assert b"Exif" not in result.jpeg[:200]
    assert b"TestPhone" not in result.jpeg
    assert read_gps(result.jpeg, 10**8) is None


def test_large_photo_shrunk() -> None:
    result = process_photo(image_bytes("PNG", (3000, 1200)), **LIMITS)
    assert (result.width, result.height) == (2048, 819)
    assert max(_decode(result.thumbnail).size) == 32


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_other_formats_become_jpeg(fmt: str) -> None:
    result = process_photo(image_bytes(fmt), **LIMITS)
    assert result.jpeg.startswith(b"\xff\xd8\xff")
    assert result.source_type == fmt.lower()


def test_oversized_file_rejected() -> None:
    with pytest.raises(PhotoError) as info:
        process_photo(jpeg_bytes(), **(LIMITS | {"max_bytes": 100}))
    assert info.value.code == "photo_too_large"


def test_decompression_bomb_rejected() -> None:
    # 5000x5000 solid PNG is only a few kB but 25 megapixels, above the 4 MP limit.
    bomb = image_bytes("PNG", (5000, 5000))
    assert len(bomb) < 200_000
    with pytest.raises(PhotoError) as info:
        process_photo(bomb, **LIMITS)
    assert info.value.code == "photo_too_many_pixels"


def test_wrong_extension_irrelevant() -> None:
    with pytest.raises(PhotoError) as info:
        process_photo(b"<html>not a photo</html>", **LIMITS)
    assert info.value.code == "photo_type"


def test_truncated_jpeg_rejected() -> None:
    with pytest.raises(PhotoError) as info:
        process_photo(jpeg_bytes()[:60], **LIMITS)
    assert info.value.code == "photo_unreadable"


def test_store_by_content_hash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = PhotoStore(tmp_path)
    result = process_photo(jpeg_bytes(), **LIMITS)
    store.save(result)
    store.save(result)
    path = store.path(result.sha256)
    assert path.read_bytes() == result.jpeg
    assert path.parent.name == result.sha256[:2]
    assert store.path(result.sha256, thumbnail=True).is_file()
    with pytest.raises(ValueError, match="invalid photo hash"):
        store.path("../../etc/passwd")
