"""Datasets: IDX and CIFAR-10 readers, data directory resolution, verified download."""

import functools
import gzip
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from bsnn_sim import datasets
from bsnn_sim.datasets import Dataset, fetch, load, resolve_data_dirs
from bsnn_sim.errors import DatasetError


REPO_DATA_DIR = Path(__file__).resolve().parents[1] / "workloads" / "data"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Point the env dir, user cache and vendored copy at empty temporary directories."""
    monkeypatch.delenv("BSNN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(datasets, "VENDORED_DIR", tmp_path / "vendored")


def idx_bytes(array: np.ndarray) -> bytes:
    magic = bytes([0, 0, 0x08, array.ndim])
    dims = np.array(array.shape, ">u4").tobytes()
    return magic + dims + array.astype(np.uint8).tobytes()


def write_mnist(root, split="test", n=5, gz=False, name="mnist", seed=0):
    """Write an n-sample IDX split under root/name and return (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    prefix = "train" if split == "train" else "t10k"
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in ((f"{prefix}-images-idx3-ubyte", images),
                        (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return images, labels


def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    return {b"batch_label": b"fake", b"data": data, b"labels": labels}


def cifar_batches(n=4):
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {b: cifar_batch(n, seed) for seed, b in enumerate(names)}


# ---- IDX ----------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    images, labels = write_mnist(tmp_path, gz=gz)
    ds = load("mnist", "test", data_dir=tmp_path)
    assert isinstance(ds, Dataset) and len(ds) == 5
    assert ds.images.dtype == np.uint8 and ds.images.shape == (5, 1, 28, 28)
    assert ds.labels.dtype == np.int64
    np.testing.assert_array_equal(ds.images[:, 0], images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.classes == tuple("0123456789")
    assert (ds.name, ds.split, ds.source_dir) == ("mnist", "test", tmp_path / "mnist")
    assert not ds.images.flags.writeable and not ds.labels.flags.writeable


def test_limit_takes_the_first_samples(tmp_path):
    images, labels = write_mnist(tmp_path, n=7)
    ds = load("mnist", "test", data_dir=tmp_path, limit=3)
    np.testing.assert_array_equal(ds.images[:, 0], images[:3])
    np.testing.assert_array_equal(ds.labels, labels[:3])


def test_fashion_mnist_has_its_class_names(tmp_path):
    write_mnist(tmp_path, split="train", name="fashion_mnist")
    ds = load("fashion_mnist", "train", data_dir=tmp_path)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_wrong_magic_names_the_file(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + path.read_bytes()[4:])
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte: bad IDX magic number"):
        load("mnist", "test", data_dir=tmp_path)


def test_truncated_file_names_the_file(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte: truncated"):
        load("mnist", "test", data_dir=tmp_path)


def test_corrupt_gzip_names_the_file(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: cannot read"):
        load("mnist", "test", data_dir=tmp_path)


def test_image_and_label_counts_must_agree(tmp_path):
    write_mnist(tmp_path, n=5)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(
        idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DatasetError, match="5 images but .* 4 labels"):
        load("mnist", "test", data_dir=tmp_path)


def test_label_out_of_range(tmp_path):
    write_mnist(tmp_path, n=2)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(
        idx_bytes(np.array([3, 10], np.uint8)))
    with pytest.raises(DatasetError, match=r"labels outside 0\.\.9"):
        load("mnist", "test", data_dir=tmp_path)


def test_unknown_name_split_and_bad_limit(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'svhn'"):
        load("svhn", "test")
    with pytest.raises(DatasetError, match="unknown split 'val'"):
        load("mnist", "val")
    with pytest.raises(DatasetError, match="limit must be a positive integer"):
        load("mnist", "test", limit=0)


# ---- CIFAR-10 -----------------------------------------------------------------------

def check_cifar(ds, batches, split):
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    data = np.concatenate([batches[b][b"data"] for b in names])
    labels = np.concatenate([batches[b][b"labels"] for b in names])
    assert ds.images.shape == (len(labels), 3, 32, 32) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images.reshape(len(labels), -1), data)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.classes[0] == "airplane" and ds.classes[9] == "truck"


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar_batch_directory(tmp_path, split):
    batches = cifar_batches()
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    check_cifar(load("cifar10", split, data_dir=tmp_path), batches, split)
    limited = load("cifar10", split, data_dir=tmp_path, limit=6)
    assert len(limited) == (6 if split == "train" else 4)  # train: 4 + 2 from two batches


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar_archive(tmp_path, split):
    batches = cifar_batches()
    (tmp_path / "cifar10").mkdir()
    with tarfile.open(tmp_path / "cifar10" / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, batch in batches.items():
            blob = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    check_cifar(load("cifar10", split, data_dir=tmp_path), batches, split)


def test_cifar_batch_may_not_run_code(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": print}))
    with pytest.raises(DatasetError, match="test_batch: not a CIFAR-10 python batch"):
        load("cifar10", "test", data_dir=tmp_path)


def test_truncated_cifar_archive(tmp_path):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar-10-python.tar.gz").write_bytes(gzip.compress(b"x" * 600)[:20])
    with pytest.raises(DatasetError, match=r"cifar-10-python\.tar\.gz: cannot read archive"):
        load("cifar10", "test", data_dir=tmp_path)


# ---- Data directory resolution ------------------------------------------------------

def test_missing_dataset_is_one_line_listing_the_directories(tmp_path, monkeypatch):
    monkeypatch.setenv("BSNN_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DatasetError) as caught:
        load("mnist", "test", data_dir=tmp_path / "explicit")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("MNIST test split not found (looked for "
                              "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] in: ")
    for folder in ("explicit", "env", "xdg/bsnn-sim/datasets", "vendored"):
        assert str(tmp_path / folder / "mnist") in message
    assert "bsnn-sim data fetch mnist" in message and "BSNN_DATA_DIR" in message


def test_resolution_order(tmp_path, monkeypatch):
    assert resolve_data_dirs() == [tmp_path / "xdg/bsnn-sim/datasets", tmp_path / "vendored"]
    monkeypatch.setenv("BSNN_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dirs(tmp_path / "explicit") == [
        tmp_path / "explicit", tmp_path / "env",
        tmp_path / "xdg/bsnn-sim/datasets", tmp_path / "vendored"]


def test_default_cache_is_under_home(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dirs()[0] == tmp_path / "home/.cache/bsnn-sim/datasets"


def test_first_directory_with_the_files_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("BSNN_DATA_DIR", str(tmp_path / "env"))
    roots = ["explicit", "env", "xdg/bsnn-sim/datasets", "vendored"]
    for seed, root in enumerate(roots):
        write_mnist(tmp_path / root, seed=seed)
    for root in roots:
        ds = load("mnist", "test", data_dir=tmp_path / "explicit")
        assert ds.source_dir == tmp_path / root / "mnist"
        for path in (tmp_path / root / "mnist").iterdir():
            path.unlink()


def test_each_split_is_resolved_on_its_own(tmp_path):
    write_mnist(tmp_path / "vendored", split="test")
    write_mnist(tmp_path / "xdg/bsnn-sim/datasets", split="train")
    assert load("mnist", "test").source_dir == tmp_path / "vendored/mnist"
    assert load("mnist", "train").source_dir == tmp_path / "xdg/bsnn-sim/datasets/mnist"


def test_a_half_present_split_is_skipped(tmp_path):
    write_mnist(tmp_path / "explicit")
    (tmp_path / "explicit/mnist/t10k-labels-idx1-ubyte").unlink()
    write_mnist(tmp_path / "vendored")
    assert load("mnist", "test", tmp_path / "explicit").source_dir == tmp_path / "vendored/mnist"


# ---- Fetch --------------------------------------------------------------------------

@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror of two small files and a checksum table that accepts them."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    files = {"t10k-images-idx3-ubyte.gz": b"images" * 1000, "t10k-labels-idx1-ubyte.gz": b"l"}
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    table = {name: (hashlib.sha256(blob).hexdigest(),) for name, blob in files.items()}
    monkeypatch.setitem(datasets.SHA256, "mnist", table)
    return folder, files


def test_fetch_downloads_verified_files(tmp_path, mirror):
    folder, files = mirror
    calls = []
    target = fetch("mnist", data_dir=tmp_path / "data", base_url=folder.as_uri(),
                   progress=lambda done, total, name: calls.append((done, total, name)))
    assert target == tmp_path / "data" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(files)
    for name, blob in files.items():
        assert (target / name).read_bytes() == blob
    assert calls[-1] == (1, 1, "t10k-labels-idx1-ubyte.gz")


def test_fetch_defaults_to_the_user_cache(tmp_path, mirror):
    target = fetch("mnist", base_url=mirror[0].as_uri())
    assert target == tmp_path / "xdg/bsnn-sim/datasets/mnist"


def test_fetch_rejects_a_bad_hash_and_leaves_nothing(tmp_path, mirror, monkeypatch):
    folder, _ = mirror
    monkeypatch.setitem(datasets.SHA256["mnist"], "t10k-labels-idx1-ubyte.gz", ("0" * 64,))
    with pytest.raises(DatasetError) as caught:
        fetch("mnist", data_dir=tmp_path / "data", base_url=folder.as_uri())
    actual = hashlib.sha256(b"l").hexdigest()
    message = str(caught.value)
    assert "t10k-labels-idx1-ubyte.gz" in message and actual in message and "0" * 64 in message
    assert [p.name for p in (tmp_path / "data/mnist").iterdir()] == ["t10k-images-idx3-ubyte.gz"]


def test_fetch_skips_files_already_present(tmp_path, mirror):
    folder, files = mirror
    fetch("mnist", data_dir=tmp_path / "data", base_url=folder.as_uri())
    for path in folder.iterdir():
        path.unlink()  # a second fetch that tried to download would now fail
    fetch("mnist", data_dir=tmp_path / "data", base_url=folder.as_uri())
    assert (tmp_path / "data/mnist/t10k-images-idx3-ubyte.gz").read_bytes() == files[
        "t10k-images-idx3-ubyte.gz"]


def test_fetch_replaces_a_corrupt_file(tmp_path, mirror):
    folder, files = mirror
    (tmp_path / "data/mnist").mkdir(parents=True)
    (tmp_path / "data/mnist/t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    fetch("mnist", data_dir=tmp_path / "data", base_url=folder.as_uri())
    assert (tmp_path / "data/mnist/t10k-labels-idx1-ubyte.gz").read_bytes() == b"l"


def test_fetch_over_http(tmp_path, mirror):
    folder, files = mirror
    handler = functools.partial(QuietHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/"
            target = fetch("mnist", data_dir=tmp_path / "data", base_url=url)
            with pytest.raises(DatasetError, match="download of .*/missing/.* failed"):
                fetch("mnist", data_dir=tmp_path / "other", base_url=url + "missing/")
        finally:
            server.shutdown()
    assert (target / "t10k-images-idx3-ubyte.gz").read_bytes() == files[
        "t10k-images-idx3-ubyte.gz"]
    assert list((tmp_path / "other/mnist").iterdir()) == []


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_fetch_refuses_without_recorded_checksums(monkeypatch):
    monkeypatch.setitem(datasets.SHA256, "cifar10", {})
    with pytest.raises(DatasetError, match="no verified SHA-256 is recorded"):
        fetch("cifar10", base_url="file:///nonexistent")


def test_every_recorded_checksum_is_a_sha256():
    assert set(datasets.SHA256) == set(datasets.NAMES)
    for table in datasets.SHA256.values():
        for digests in table.values():
            assert digests and all(len(d) == 64 and int(d, 16) >= 0 for d in digests)


# ---- The vendored MNIST test split --------------------------------------------------

def test_vendored_mnist_test_split_loads_offline(monkeypatch):
    monkeypatch.setattr(datasets, "VENDORED_DIR", REPO_DATA_DIR)
    ds = load("mnist", "test")  # env unset, user cache empty
    assert ds.source_dir == REPO_DATA_DIR / "mnist"
    assert ds.images.shape == (10_000, 1, 28, 28)
    assert np.bincount(ds.labels).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    vendored = REPO_DATA_DIR / "mnist"
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        digest = hashlib.sha256((vendored / name).read_bytes()).hexdigest()
        assert digest in datasets.SHA256["mnist"][name]
