"""Image classification datasets: MNIST, Fashion-MNIST and CIFAR-10, read from disk.

:func:`load` returns a frozen :class:`Dataset` of uint8 images ``(N, C, H, W)`` and
int64 labels ``(N,)``. Files live under ``<data_dir>/<name>/`` in their official
form:

* ``mnist``, ``fashion_mnist``: IDX files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``,
  raw or gzipped (``.gz``);
* ``cifar10``: the python batches ``cifar-10-batches-py/{data_batch_1..5,test_batch}``,
  or the unextracted archive ``cifar-10-python.tar.gz`` (members are read in memory).

The data directories searched, in order, are given by :func:`resolve_data_dirs`; the
first that holds every file of the requested name and split wins, so the MNIST test
split vendored in ``workloads/data/`` works offline while a train split comes from the
user cache.

:func:`fetch` downloads the official files and checks each against the SHA-256 recorded
in :data:`SHA256`. To support a new file, add its published SHA-256 to that table
(never a hash computed from a download you cannot vouch for); a dataset without
recorded hashes cannot be fetched.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import pickle
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetError

NAMES = ("mnist", "fashion_mnist", "cifar10")
SPLITS = ("train", "test")
ENV_VAR = "BSNN_DATA_DIR"
VENDORED_DIR = Path(__file__).resolve().parents[1] / "workloads" / "data"

_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
_CLASSES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"),
}
_MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/",
}

# Accepted SHA-256 of each downloadable file. Sources:
# - MNIST and Fashion-MNIST: the gzip files as served by the official mirrors, as
#   recorded in tensorflow_datasets (url_checksums/mnist.txt, fashion_mnist.txt) and
#   torchvision (prototype/datasets/_builtin/mnist.py).
#   MNIST also accepts a gzip re-compression of the same IDX payload (the copies in
#   workloads/data/mnist/, whose decompressed MD5s equal the published ones).
# - CIFAR-10: cifar-10-python.tar.gz as recorded in keras (datasets/cifar10.py).
SHA256: dict[str, dict[str, tuple[str, ...]]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971"),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203"),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be"),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b"),
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",),
    },
    "cifar10": {
        "cifar-10-python.tar.gz": (
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",),
    },
}

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_MAGIC = {1: 0x0801, 3: 0x0803}  # unsigned-byte data, 1 or 3 dimensions
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_CHUNK = 1 << 20

Progress = Callable[[int, "int | None", str], None]


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of a dataset: ``images[i]`` (C, H, W) uint8 has class ``labels[i]``.

    ``classes[k]`` names class ``k``; ``source_dir`` is the ``<data_dir>/<name>``
    directory the files were read from. The arrays are read-only.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str
    split: str
    source_dir: Path

    def __len__(self) -> int:
        return len(self.labels)


def resolve_data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Data directories in search order.

    The explicit ``data_dir`` (``--data-dir``), then ``$BSNN_DATA_DIR``, then the user
    cache ``$XDG_CACHE_HOME/bsnn-sim/datasets`` (default ``~/.cache/...``), then the
    copy vendored in the repository, ``workloads/data/``.
    """
    dirs = [] if data_dir is None else [Path(data_dir).expanduser()]
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]).expanduser())
    dirs += [_cache_dir(), VENDORED_DIR]
    return dirs


def _cache_dir() -> Path:
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "bsnn-sim" / "datasets"


def load(name: str, split: str, data_dir: str | os.PathLike | None = None,
         limit: int | None = None) -> Dataset:
    """Load split ``split`` of dataset ``name``, the first ``limit`` samples if given.

    Raises :class:`DatasetError` when no data directory holds the files, or when a
    file is corrupt (bad gzip, truncated, wrong magic number, shape or label).
    """
    _check_name(name)
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise DatasetError(f"limit must be a positive integer, got {limit!r}")
    dirs = resolve_data_dirs(data_dir)
    for root in dirs:
        source_dir = root / name
        loaded = _read_split(name, source_dir, split, limit)
        if loaded is not None:
            images, labels = loaded
            if len(labels) == 0:
                raise DatasetError(f"{source_dir}: the {_TITLES[name]} {split} split holds no images")
            _check_labels(labels, len(_CLASSES[name]), source_dir)
            images.flags.writeable = False
            labels.flags.writeable = False
            return Dataset(images, labels, _CLASSES[name], name, split, source_dir)
    if name == "cifar10":
        batches = ",".join(_CIFAR_BATCHES[split])
        batches = f"{{{batches}}}" if split == "train" else batches
        wanted = f"{_CIFAR_DIR}/{batches} or {_CIFAR_ARCHIVE}"
    else:
        wanted = ", ".join(f"{f}[.gz]" for f in _IDX_FILES[split])
    looked = ", ".join(str(d / name) for d in dirs)
    raise DatasetError(
        f"{_TITLES[name]} {split} split not found (looked for {wanted} in: {looked}); "
        f"run `bsnn-sim data fetch {name}` or pass --data-dir / set {ENV_VAR}")


def _read_split(name: str, source_dir: Path, split: str,
                limit: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Images and labels of the split from ``source_dir``; None if its files are absent."""
    if name == "cifar10":
        source = _find_cifar(source_dir, split)
        return None if source is None else _load_cifar(source, split, limit)
    paths = _find_idx(source_dir, split)
    return None if paths is None else _load_idx(*paths, limit)


def class_names(name: str) -> tuple[str, ...]:
    """The class names of dataset ``name``, in label order."""
    _check_name(name)
    return _CLASSES[name]


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(NAMES)}")


def _check_labels(labels: np.ndarray, n_classes: int, where: Path) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(f"{where}: labels outside 0..{n_classes - 1} "
                           f"(found {labels.min()}..{labels.max()})")


# ---- MNIST and Fashion-MNIST: IDX files -------------------------------------------

def _find_idx(source_dir: Path, split: str) -> tuple[Path, Path] | None:
    found = []
    for stem in _IDX_FILES[split]:
        candidates = [source_dir / stem, source_dir / f"{stem}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def _load_idx(images_path: Path, labels_path: Path,
              limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    images = _read_idx(images_path, ndim=3)
    labels = _read_idx(labels_path, ndim=1)
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]},"
                           " expected 28x28")
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} holds {len(images)} images but {labels_path} "
                           f"holds {len(labels)} labels")
    return images[:limit, None], labels[:limit].astype(np.int64)


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes: magic, ``ndim`` big-endian uint32 sizes, data."""
    data = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes)")
    magic, *dims = np.frombuffer(data, ">u4", count=1 + ndim).tolist()
    if magic != _IDX_MAGIC[ndim]:
        raise DatasetError(f"{path}: bad IDX magic number 0x{magic:08x}, expected "
                           f"0x{_IDX_MAGIC[ndim]:08x} (unsigned bytes, {ndim}-D)")
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes"
        raise DatasetError(f"{path}: {what}: {len(data)} bytes, expected {expected} for "
                           f"shape {tuple(dims)}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix != ".gz":
            return path.read_bytes()
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from e


# ---- CIFAR-10: python pickle batches ------------------------------------------------

def _find_cifar(source_dir: Path, split: str) -> Path | None:
    batch_dir = source_dir / _CIFAR_DIR
    if all((batch_dir / b).is_file() for b in _CIFAR_BATCHES[split]):
        return batch_dir
    archive = source_dir / _CIFAR_ARCHIVE
    return archive if archive.is_file() else None


def _load_cifar(source: Path, split: str,
                limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    if source.is_dir():
        blobs = ((source / b, (source / b).read_bytes()) for b in _CIFAR_BATCHES[split])
    else:
        blobs = _archive_members(source, _CIFAR_BATCHES[split])
    images, labels, count = [], [], 0
    for where, blob in blobs:
        batch_images, batch_labels = _parse_cifar_batch(where, blob)
        images.append(batch_images)
        labels.append(batch_labels)
        count += len(batch_labels)
        if limit is not None and count >= limit:
            break
    images = np.concatenate(images)[:limit].reshape(-1, 3, 32, 32)
    return images, np.concatenate(labels)[:limit]


def _archive_members(archive: Path, batches: tuple[str, ...]):
    """Yield (path, bytes) of the wanted batches of the tar.gz archive, in ``batches`` order."""
    wanted = {f"{_CIFAR_DIR}/{b}": b for b in batches}
    found = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    found[wanted[member.name]] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{archive}: cannot read archive ({e})") from e
    missing = [b for b in batches if b not in found]
    if missing:
        raise DatasetError(f"{archive}: archive lacks {', '.join(missing)}")
    for b in batches:
        yield archive / _CIFAR_DIR / b, found[b]


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, so a batch cannot run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"forbidden object {module}.{name}")
        return super().find_class(module, name)


def _parse_cifar_batch(where: Path, blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as e:  # unpickling raises almost anything on corrupt input
        raise DatasetError(f"{where}: not a CIFAR-10 python batch ({e})") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetError(f"{where}: not a CIFAR-10 python batch (no b'data'/b'labels')")
    data = batch[b"data"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        shape = getattr(data, "shape", None)
        raise DatasetError(f"{where}: data must be uint8 (N, 3072), got {shape}")
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if labels.shape != (len(data),):
        raise DatasetError(f"{where}: {len(data)} images but {labels.size} labels")
    return data, labels


# ---- Download ---------------------------------------------------------------------

def fetch(name: str, data_dir: str | os.PathLike | None = None,
          base_url: str | None = None, progress: Progress | None = None) -> Path:
    """Download the official files of ``name`` into ``<dir>/<name>/`` and return that path.

    ``<dir>`` is the first writable of: ``data_dir``, ``$BSNN_DATA_DIR``, the user cache.
    Each file goes to a temporary file, is checked against :data:`SHA256`, then renamed
    into place; a file already present with an accepted hash is skipped. ``base_url``
    replaces the official mirror; ``progress(bytes_done, bytes_total, filename)`` is
    called as bytes arrive (``bytes_total`` is None when the server does not say).
    """
    _check_name(name)
    checksums = SHA256.get(name)
    if not checksums:
        raise DatasetError(f"cannot fetch {_TITLES[name]}: no verified SHA-256 is recorded "
                           "in bsnn_sim.datasets.SHA256; place the files by hand or pass "
                           "--data-dir")
    target = _writable_dir(data_dir) / name
    mirror = (base_url or _MIRRORS[name]).rstrip("/") + "/"
    for filename, accepted in checksums.items():
        path = target / filename
        if path.is_file() and sha256_file(path) in accepted:
            continue
        _download(mirror + filename, path, accepted, progress)
    return target


def _writable_dir(data_dir: str | os.PathLike | None) -> Path:
    candidates = resolve_data_dirs(data_dir)[:-1]  # never write into the vendored copy
    for root in candidates:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(root, os.W_OK):
            return root
    raise DatasetError("no writable data directory among: "
                       f"{', '.join(map(str, candidates))}; pass --data-dir")


def sha256_file(path) -> str:
    """SHA-256 (hex) of the file at ``path``, read in chunks (a dataset file's, checked
    against the accepted digests; a weight file's, for provenance and sweep keys)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, path: Path, accepted: tuple[str, ...],
              progress: Progress | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            done = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, path.name)
        actual = digest.hexdigest()
        if actual not in accepted:
            raise DatasetError(f"{path.name} downloaded from {url} has SHA-256 {actual}, "
                               f"expected {' or '.join(accepted)}; file discarded")
        os.replace(tmp, path)
    except (OSError, ValueError, http.client.HTTPException) as e:  # URLError is an OSError
        raise DatasetError(f"download of {url} failed ({e})") from e
    finally:
        tmp.unlink(missing_ok=True)
