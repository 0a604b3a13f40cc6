"""Asset manifests (model weights, sample footage) and their verified fetch.

Weights and footage are never committed. Each asset has a manifest entry with its
file name, sha256, source URL and licence. ``fetch_assets`` downloads the file, or copies
it from an offline folder, and accepts it only when the hash matches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_FILES = (PROJECT_ROOT / "models" / "manifest.yaml", PROJECT_ROOT / "media" / "manifest.yaml")
DEFAULT_ASSETS_DIR = PROJECT_ROOT / ".assets"
_CHUNK = 1 << 20


class AssetError(RuntimeError):
    """An asset that is missing, fails its hash check or cannot be fetched."""


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    file: str
    sha256: str
    size_bytes: int
    source_url: str
    licence: str
    kind: str


def assets_dir() -> Path:
    """Return the folder holding verified assets (``METRO_ASSETS_DIR`` or ``.assets``)."""
    return Path(os.environ.get("METRO_ASSETS_DIR", DEFAULT_ASSETS_DIR))


def load_manifest(paths: Iterable[Path] = MANIFEST_FILES) -> list[Asset]:
    """Read every asset entry from the manifest files."""
    assets: list[Asset] = []
    for path in paths:
        data: dict[str, Any] = yaml.safe_load(path.read_text())
        for entry in data["assets"]:
            assets.append(
                Asset(
                    name=entry["name"],
                    file=entry["file"],
                    sha256=entry["sha256"],
                    size_bytes=int(entry["size_bytes"]),
                    source_url=entry["source_url"],
                    licence=entry["licence"],
                    kind=entry["kind"],
                )
            )
    return assets


def sha256_of(path: Path) -> str:
    """Hash a file in chunks, so large clips never load into memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(asset: Asset, path: Path) -> None:
    """Raise AssetError unless ``path`` contains exactly the manifest's bytes."""
    if not path.is_file():
        raise AssetError(f"{asset.file}: not found at {path}")
    actual = sha256_of(path)
    if actual != asset.sha256:
        raise AssetError(
            f"{asset.file}: sha256 mismatch at {path}: expected {asset.sha256}, got {actual}; "
            "the file is corrupt or a different version, so it was not used"
        )


def asset_path(file_name: str, directory: Path | None = None) -> Path:
    """Return the verified path of an asset, or raise AssetError telling how to fetch it."""
    directory = directory or assets_dir()
    for asset in load_manifest():
        if asset.file == file_name:
            path = directory / asset.file
            if not path.exists():
                raise AssetError(
                    f"{file_name}: not found in {directory}; run 'metro-edge assets fetch' "
                    "(or 'metro-edge assets fetch --from DIR' with an offline copy)"
                )
            return path
    raise AssetError(f"{file_name}: no such asset in the manifests")


def _find_offline(file_name: str, folders: Sequence[Path]) -> Path | None:
    for folder in folders:
        for candidate in (folder / file_name, *folder.glob(f"*/{file_name}")):
            if candidate.is_file():
                return candidate
    return None


def _download(url: str, target: Path) -> None:
    if not url.startswith("https://"):
        raise AssetError(f"refusing non-HTTPS source URL {url!r}")
    with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as out:  # noqa: S310 - scheme checked above
        shutil.copyfileobj(response, out, _CHUNK)


def fetch_assets(
    dest: Path | None = None,
    offline_dirs: Sequence[Path] = (),
    names: Iterable[str] | None = None,
) -> list[Path]:
    """Place every manifest asset in ``dest``, verified by sha256.

    A file already present with the right hash is kept. With ``offline_dirs`` the
    file is copied from there (also from their direct subfolders) instead of
    downloaded. The new file is hashed in a temporary name and renamed into place
    only when it matches, so a bad copy never replaces a good one.
    """
    dest = dest or assets_dir()
    for folder in offline_dirs:
        if not folder.is_dir():
            raise AssetError(f"offline folder {folder} does not exist; pass the folder that contains the files, e.g. --from ../shared")
    dest.mkdir(parents=True, exist_ok=True)
    wanted = set(names) if names is not None else None
    placed: list[Path] = []
    for asset in load_manifest():
        if wanted is not None and asset.file not in wanted and asset.name not in wanted:
            continue
        target = dest / asset.file
        if target.is_file() and sha256_of(target) == asset.sha256:
            placed.append(target)
            continue
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{asset.file}.")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            if offline_dirs:
                source = _find_offline(asset.file, offline_dirs)
                if source is None:
                    searched = ", ".join(str(d) for d in offline_dirs)
                    raise AssetError(
                        f"{asset.file}: not found in {searched} or their subfolders; copy it there, "
                        "or run without --from to download it"
                    )
                shutil.copyfile(source, tmp)
            else:
                log.info("Downloading %s from %s", asset.file, asset.source_url)
                try:
                    _download(asset.source_url, tmp)
                except OSError as exc:
                    raise AssetError(
                        f"{asset.file}: download from {asset.source_url} failed ({exc}); "
                        "use --from DIR with an offline copy"
                    ) from exc
            verify(asset, tmp)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        placed.append(target)
    return placed
