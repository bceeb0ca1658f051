"""MNIST IDX files, their download, MNIST-M, the mnist domain pair, and the app with it.

The files here are small but real IDX files: scikit-learn's digits upsampled to 28x28, written
with MNIST's header (magic number, count, rows, columns), gzipped or not.
"""

import gzip
import hashlib
import io
import struct
import time
import urllib.error

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dann_demo import RunConfig
from dann_demo.__main__ import main
from dann_demo.datasets import load_pair, mnist, mnist_download


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's content: magic (0x08 = unsigned bytes, number of dims), the dims, the data."""
    magic = 0x0800 + array.ndim
    return struct.pack(f">i{array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_idx(path, array: np.ndarray) -> None:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def small_digits(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n real handwritten digits at MNIST's size: scikit-learn's 8x8 digits upsampled to 28x28."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.from_numpy(x[offset : offset + n].reshape(-1, 1, 8, 8) / 16.0).float()
    x = F.interpolate(x, size=28, mode="bilinear", align_corners=False)[:, 0]
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy(), y[offset : offset + n]


def write_mnist(folder, n_train: int = 240, n_test: int = 100, train: bool = True) -> dict:
    """The four files (two spellings, gz and raw mixed); returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    if train:
        arrays["train_images"], arrays["train_labels"] = small_digits(n_train)
        write_idx(folder / "train-images-idx3-ubyte.gz", arrays["train_images"])
        write_idx(folder / "train-labels.idx1-ubyte", arrays["train_labels"])
    arrays["test_images"], arrays["test_labels"] = small_digits(n_test, offset=1000)
    write_idx(folder / "t10k-images.idx3-ubyte.gz", arrays["test_images"])
    write_idx(folder / "t10k-labels-idx1-ubyte", arrays["test_labels"])
    return arrays


@pytest.fixture
def fake_checksums(monkeypatch):
    """Make `arrays`' own MD5s the official ones, as the real files' MD5s are for real MNIST."""

    def use(arrays: dict) -> None:
        table = {
            role: (name, hashlib.md5(idx_bytes(arrays[role])).hexdigest()) for role, (name, _) in mnist.FILES.items()
        }
        monkeypatch.setattr(mnist, "FILES", table)

    return use


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve(monkeypatch, files: dict[str, bytes]) -> list[str]:
    """urlopen answers from `files` (by file name); other names are 404. Returns the URLs asked for."""
    asked = []

    def urlopen(request, timeout=None):
        url = request.full_url
        asked.append(url)
        name = url.rsplit("/", 1)[1]
        if name not in files:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return FakeResponse(files[name])

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    return asked


# --- the IDX reader ---


def test_reads_gz_and_raw_files_in_both_spellings(tmp_path):
    arrays = write_mnist(tmp_path)
    files = mnist.locate(tmp_path)
    assert files.has_train and files.has_test and not files.test_only and files.missing == []
    assert files.paths["train_labels"].name == "train-labels.idx1-ubyte"  # the dotted spelling, raw
    for split in ("train", "test"):
        x, y = mnist.read_images_and_labels(files.paths[f"{split}_images"], files.paths[f"{split}_labels"])
        np.testing.assert_array_equal(x, arrays[f"{split}_images"])
        np.testing.assert_array_equal(y, arrays[f"{split}_labels"])
        assert x.shape[1:] == (28, 28) and y.dtype == np.int64


def test_files_in_torchvision_layout_are_found(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", train=False)
    assert mnist.locate(tmp_path).test_only


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (idx_bytes(np.zeros(5, np.uint8)), "magic number 2049, expected 2051"),  # a label file as images
        (idx_bytes(np.zeros((5, 16, 16), np.uint8)), "images of 16x16 pixels, expected 28x28"),
        (idx_bytes(np.zeros((5, 28, 28), np.uint8))[:-100], "the header promises 3920"),
        (b"\x00\x00\x08", "too short for an MNIST image file"),
        (gzip.compress(idx_bytes(np.zeros((5, 28, 28), np.uint8)))[:-20], "cannot be read"),
    ],
    ids=["labels-as-images", "16x16", "truncated", "too-short", "broken-gzip"],
)
def test_bad_image_files_get_a_message_naming_the_file(tmp_path, content, fragment):
    images, labels = tmp_path / "t10k-images-idx3-ubyte", tmp_path / "t10k-labels-idx1-ubyte"
    images.write_bytes(content)
    write_idx(labels, np.zeros(5, np.uint8))
    with pytest.raises(mnist.MnistError, match=fragment) as e:
        mnist.read_images_and_labels(images, labels)
    assert str(images) in str(e.value)


def test_labels_must_match_images_and_be_digits(tmp_path):
    images, labels = tmp_path / "i", tmp_path / "l"
    write_idx(images, np.zeros((5, 28, 28), np.uint8))
    write_idx(labels, np.zeros(4, np.uint8))
    with pytest.raises(mnist.MnistError, match="holds 5 images but .* holds 4 labels"):
        mnist.read_images_and_labels(images, labels)
    write_idx(labels, np.array([0, 1, 2, 3, 12], np.uint8))
    with pytest.raises(mnist.MnistError, match="label 12 found; MNIST labels are 0 to 9"):
        mnist.read_images_and_labels(images, labels)


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setattr("pathlib.Path.home", lambda: tmp_path / "home")
    monkeypatch.delenv("DANN_DATA_DIR", raising=False)
    assert mnist.resolve_data_dir() == tmp_path / "home" / ".cache" / "dann_playground"
    monkeypatch.setenv("DANN_DATA_DIR", str(tmp_path / "env"))
    assert mnist.resolve_data_dir("") == tmp_path / "env"
    assert mnist.resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"


# --- download ---


def test_download_fetches_missing_files_and_checks_them(tmp_path, monkeypatch, fake_checksums):
    arrays = write_mnist(tmp_path / "source")
    fake_checksums(arrays)
    payload = {name + ".gz": gzip.compress(idx_bytes(arrays[role])) for role, (name, _) in mnist.FILES.items()}
    asked = serve(monkeypatch, payload)
    files = mnist_download.download(tmp_path / "data", log_line=lambda line: None)
    assert files.has_train and files.has_test
    assert all(p.parent == tmp_path / "data" and p.name.endswith(".gz") for p in files.paths.values())
    assert all(mnist.verify(files).values())
    assert len(asked) == 4 and all(u.startswith(mnist.MIRRORS[0]) for u in asked)
    assert not list((tmp_path / "data").glob("*.part"))


def test_download_falls_back_to_the_second_mirror(tmp_path, monkeypatch, fake_checksums):
    arrays = write_mnist(tmp_path / "source")
    fake_checksums(arrays)
    good = {name + ".gz": gzip.compress(idx_bytes(arrays[role])) for role, (name, _) in mnist.FILES.items()}

    def urlopen(request, timeout=None):
        if request.full_url.startswith(mnist.MIRRORS[0]):
            raise urllib.error.URLError("timed out")
        return FakeResponse(good[request.full_url.rsplit("/", 1)[1]])

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    assert mnist_download.download(tmp_path / "data", log_line=lambda line: None).has_train


def test_checksum_failure_deletes_the_download_and_says_so(tmp_path, monkeypatch, fake_checksums):
    arrays = write_mnist(tmp_path / "source")
    fake_checksums(arrays)
    # Every mirror serves a damaged train-images file (one pixel changed).
    bad = arrays["train_images"].copy()
    bad[0, 0, 0] ^= 1
    serve(monkeypatch, {"train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(bad))})
    with pytest.raises(mnist.MnistError) as e:
        mnist_download.download(tmp_path / "data", log_line=lambda line: None)
    message = str(e.value)
    assert "train-images-idx3-ubyte.gz" in message and "checksum does not match" in message
    assert "deleted" in message
    assert list((tmp_path / "data").iterdir()) == []


def test_files_missing_on_every_mirror(tmp_path, monkeypatch):
    asked = serve(monkeypatch, {})
    with pytest.raises(mnist.MnistError) as e:
        mnist_download.download(tmp_path, log_line=lambda line: None)
    assert "Could not get a good copy of train-images-idx3-ubyte.gz" in str(e.value) and "HTTP 404" in str(e.value)
    assert len(asked) == len(mnist.MIRRORS)  # it stops at the first file no mirror has


def test_offline_message_says_which_files_to_put_where(tmp_path, monkeypatch):
    def urlopen(request, timeout=None):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    folder = tmp_path / "data"
    with pytest.raises(mnist.MnistError) as e:
        mnist.mnist_pair(folder, download=mnist_download.download)
    message = str(e.value)
    assert "Could not download MNIST" in message and str(folder) in message
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        assert name in message
    assert "needs internet" in message and "Name or service not known" in message
    # Without downloading, the same advice at once.
    with pytest.raises(mnist.MnistError, match="MNIST files not found in"):
        mnist.mnist_pair(tmp_path / "other")


# --- MNIST-M ---


def test_mnist_m_is_the_papers_recipe_over_your_photos(tmp_path):
    """With one flat-coloured photo every crop is that colour: out = |digit - colour| per channel."""
    from skimage.io import imsave

    (tmp_path / "photos").mkdir()
    colour = np.array([200, 50, 0], np.uint8)
    imsave(tmp_path / "photos" / "flat.png", np.broadcast_to(colour, (300, 300, 3)).copy(), check_contrast=False)
    assert mnist.photo_source(tmp_path)[0] == "photos"
    digits, _ = small_digits(20)
    out = mnist.mnist_m(digits, "train", tmp_path)
    expected = np.abs(digits[:, None].astype(int) - colour[None, :, None, None].astype(int))
    assert out.shape == (20, 3, 28, 28) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_mnist_m_is_cached_reproducible_and_keyed(tmp_path, monkeypatch):
    digits, _ = small_digits(30)
    first = mnist.mnist_m(digits, "train", tmp_path, seed=3)
    cached = list(tmp_path.glob("mnist_m-train-bundled-seed3.npz"))
    assert len(cached) == 1
    # The second load reads the file: building again would fail.
    with monkeypatch.context() as m:
        m.setattr(mnist, "build_mnist_m", lambda *a, **k: pytest.fail("built again instead of reading the cache"))
        np.testing.assert_array_equal(mnist.mnist_m(digits, "train", tmp_path, seed=3), first)
    # The same seed elsewhere builds the same MNIST-M; another seed or split, other crops.
    np.testing.assert_array_equal(mnist.mnist_m(digits, "train", tmp_path / "elsewhere", seed=3), first)
    assert not np.array_equal(mnist.mnist_m(digits, "train", tmp_path, seed=4), first)
    assert not np.array_equal(mnist.mnist_m(digits, "t10k", tmp_path, seed=3), first)
    # Other digits under the same name are never paired with the stale cache.
    rebuilt = mnist.mnist_m(255 - digits, "train", tmp_path, seed=3)
    assert not np.array_equal(rebuilt, first)


def test_photo_sources_bsds_first_then_photos_then_bundled(tmp_path):
    from skimage.io import imsave

    assert mnist.photo_source(tmp_path) == ("bundled", [])
    rng = np.random.default_rng(0)
    imsave(tmp_path / "p.png", rng.integers(0, 255, (60, 60, 3), dtype=np.uint8))  # not in photos/: ignored
    (tmp_path / "photos").mkdir()
    imsave(tmp_path / "photos" / "a.jpg", rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    assert mnist.photo_source(tmp_path)[0] == "photos"
    key = mnist.photo_key(tmp_path)
    bsds = tmp_path / "BSR" / "BSDS500" / "data" / "images" / "val"
    bsds.mkdir(parents=True)
    imsave(bsds / "1.jpg", rng.integers(0, 255, (321, 481, 3), dtype=np.uint8))
    kind, paths = mnist.photo_source(tmp_path)
    assert kind == "bsds500" and paths == [bsds / "1.jpg"]
    assert mnist.photo_key(tmp_path) != key
    assert "BSDS500" in mnist.photo_source_label(tmp_path)


def test_unreadable_photo_is_named(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(mnist.MnistError, match="broken.jpg: not a readable photo"):
        mnist.load_photos(tmp_path)


# --- the domain pair ---


def test_pair_shapes_grey_source_colour_target_and_training_statistics(tmp_path):
    arrays = write_mnist(tmp_path)
    pair = mnist.mnist_pair(tmp_path, n_train=200)
    assert pair.name == "mnist" and pair.note == "" and pair.n_classes == 10 and pair.is_image
    assert pair.source_x.shape == pair.target_x.shape == (200, 3, 28, 28)
    assert pair.source_test_x.shape == pair.target_test_x.shape == (100, 3, 28, 28)
    np.testing.assert_array_equal(pair.source_y, arrays["train_labels"][:200])
    np.testing.assert_array_equal(pair.target_y, pair.source_y)  # MNIST-M: the same digits on photos
    np.testing.assert_array_equal(pair.target_test_y, arrays["test_labels"])
    for x in (pair.source_x, pair.target_x, pair.source_test_x, pair.target_test_x):
        assert x.dtype == np.float32 and np.isfinite(x).all()

    def channel_corr(x):
        return np.corrcoef(x[:, 0].ravel(), x[:, 1].ravel())[0, 1]

    assert channel_corr(pair.source_x) > 0.999 and channel_corr(pair.target_x) < 0.99
    # Normalised with the training pool's per-channel statistics: that pool has mean 0 and std 1
    # in every channel; the test sets were not used.
    pool = np.concatenate([pair.source_x, pair.target_x])
    np.testing.assert_allclose(pool.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(pool.std(axis=(0, 2, 3)), 1, atol=1e-4)
    # Each source channel is the raw grey digit, shifted and scaled: correlation 1 with the pixels.
    raw = arrays["train_images"][:200].astype(np.float64).ravel()
    assert np.corrcoef(raw, pair.source_x[:, 2].ravel())[0, 1] > 0.99999


def test_test_files_only_are_split_and_the_pair_says_so(tmp_path):
    write_mnist(tmp_path, train=False, n_test=100)
    files = mnist.locate(tmp_path)
    assert files.test_only and files.missing == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    pair = mnist.mnist_pair(tmp_path)
    assert len(pair.source_x) == 70 and len(pair.source_test_x) == 30
    assert "Only the MNIST test files (t10k)" in pair.note and "70 of its 100 digits" in pair.note
    # Training and test digits are different digits: no test image is among the training images.
    train = {row.tobytes() for row in pair.source_x}
    assert not any(row.tobytes() in train for row in pair.source_test_x)
    assert set(pair.source_y) == set(range(10))


def test_load_pair_and_config(tmp_path):
    write_mnist(tmp_path)
    config = RunConfig.for_dataset("mnist", data_dir=str(tmp_path), n_samples=150)
    assert config.is_image and config.batch_size == 64 and config.lr == 0.01 and config.lambda_schedule == "paper"
    pair = load_pair(config)
    assert len(pair.source_x) == 150 and pair is load_pair(config)
    with pytest.raises(ValueError, match="data_dir"):
        RunConfig(dataset="mnist", data_dir="a\x00b")


# --- command line ---


def test_cli_fetch_mnist_reports_files_and_checksums(tmp_path, capsys, fake_checksums):
    arrays = write_mnist(tmp_path)
    fake_checksums(arrays)
    assert main(["fetch-mnist", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"MNIST files in {tmp_path}" in out and out.count("checksum ok") == 4
    assert "bundled with scikit-learn" in out
    # A file that is not the official one is reported and kept.
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(100, np.uint8))
    assert main(["fetch-mnist", "--data-dir", str(tmp_path)]) == 1
    assert "does NOT match the official MNIST checksum (kept)" in capsys.readouterr().out


def test_cli_trains_on_test_files_only_and_says_so(tmp_path, capsys):
    write_mnist(tmp_path, train=False)
    rc = main(
        [
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            str(tmp_path),
            "--steps",
            "20",
            "--batch-size",
            "8",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "Only the MNIST test files" in out and "mnist / dann / seed 0" in out and "target acc" in out


def test_cli_offline_is_one_message_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("x")))
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "none"), "--steps", "5"])
    assert e.value.code == 1
    assert "Could not download MNIST" in capsys.readouterr().err


# --- the app ---


def _app():
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.sidebar.selectbox[0].select("mnist").run()
    return at


def _train_button(at):
    return [b for b in at.button if b.label == "Train"][0]


def test_app_without_files_explains_and_download_failure_is_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("DANN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("x")))
    at = _app()
    assert not at.exception
    info = " ".join(i.value for i in at.sidebar.info)
    assert f"MNIST files not found in {tmp_path}" in info and "needs internet" in info
    assert _train_button(at).disabled  # Train: nothing to train on yet
    assert any("No MNIST files yet" in e.value for e in at.error)
    download = [b for b in at.sidebar.button if b.label == "Download MNIST"][0]
    download.click().run()
    assert not at.exception
    assert any("Could not download MNIST" in e.value for e in at.sidebar.error)


def test_app_download_then_train_end_to_end(tmp_path, monkeypatch, fake_checksums):
    monkeypatch.setenv("DANN_DATA_DIR", str(tmp_path / "data"))
    arrays = write_mnist(tmp_path / "served")
    fake_checksums(arrays)
    serve(
        monkeypatch, {name + ".gz": gzip.compress(idx_bytes(arrays[role])) for role, (name, _) in mnist.FILES.items()}
    )
    at = _app()
    [b for b in at.sidebar.button if b.label == "Download MNIST"][0].click().run()
    assert not at.exception and not at.sidebar.info
    assert any(f"Files in {tmp_path / 'data'}" in c.value for c in at.sidebar.caption)
    [w for w in at.sidebar.number_input if w.label == "Steps"][0].set_value(30)
    [w for w in at.sidebar.number_input if w.label == "Training digits per domain"][0].set_value(200)
    [w for w in at.sidebar.number_input if w.label == "Batch size (per domain)"][0].set_value(16)
    at.run()
    assert not _train_button(at).disabled
    _train_button(at).click().run()
    deadline = time.time() + 120
    while time.time() < deadline and not any(m.label == "Target accuracy" for m in at.metric):
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.error
    assert any(m.label == "Target accuracy" for m in at.metric)


def test_app_with_test_files_only_says_it_trains_on_a_split(tmp_path, monkeypatch):
    write_mnist(tmp_path, train=False)
    monkeypatch.setenv("DANN_DATA_DIR", str(tmp_path))
    at = _app()
    assert not at.exception and not at.sidebar.info
    assert any("Only the MNIST test files (t10k)" in c.value for c in at.sidebar.caption)
    assert not _train_button(at).disabled
