"""Own data: .npz and .csv files, good and bad. Every validation message names the file, the array
or column, what was found and what is expected."""

import os
import time

import numpy as np
import pytest

from dann_demo import ConfigError, RunConfig, Trainer
from dann_demo.datasets import UNLABELLED, DataFileError, file_checks, load_pair, uploads
from dann_demo.datasets import files as ud


def _table(n=40, d=3, seed=0, shift=0.0):
    rng = np.random.RandomState(seed)
    y = np.arange(n) % 3
    x = rng.randn(n, d) + y[:, None] * 2.0 + shift
    return x.astype(np.float32), y.astype(np.int64)


def _good_arrays(**changes):
    sx, sy = _table(seed=0)
    tx, ty = _table(seed=1, shift=1.0)
    arrays = {"source_x": sx, "source_y": sy, "target_x": tx, "target_y": ty}
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def write_npz(tmp_path, name="data.npz", allow_pickle=False, **arrays):
    path = tmp_path / name
    with open(path, "wb") as f:
        np.savez(f, allow_pickle=allow_pickle, **arrays)
    return path


def write_csv(tmp_path, name, header, rows):
    path = tmp_path / name
    path.write_text("\n".join([",".join(header), *(",".join(map(str, r)) for r in rows)]) + "\n")
    return path


def _csv_rows(n=20, shift=0.0, seed=0):
    rng = np.random.RandomState(seed)
    return [[round(float(rng.randn() + (i % 2) * 3 + shift), 4), round(float(rng.randn()), 4), i % 2] for i in range(n)]


def _config(path, **kw):
    return RunConfig.for_dataset("file", data_file=str(path), **kw)


# --- good files ---


def test_table_npz_is_split_and_standardised_with_source_statistics(tmp_path):
    path = write_npz(tmp_path, **_good_arrays())
    pair = load_pair(_config(path))
    assert pair.source_x.shape == (30, 3) and pair.source_test_x.shape == (10, 3)
    assert pair.target_x.shape == (30, 3) and pair.target_test_x.shape == (10, 3)
    assert pair.n_classes == 3 and pair.has_target_labels and not pair.is_image
    assert pair.source_x.dtype == np.float32 and pair.source_y.dtype == np.int64
    np.testing.assert_allclose(pair.source_x.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(pair.source_x.std(0), 1, atol=1e-4)
    # The target is scaled with the source's statistics, so its shift stays visible.
    assert (pair.target_x.mean(0) > 0.2).all()
    # Stratified: every class in both source splits.
    assert set(pair.source_test_y) == {0, 1, 2}


def test_separate_target_test_arrays_are_used_as_given(tmp_path):
    tx, ty = _table(n=25, seed=2)
    path = write_npz(tmp_path, **_good_arrays(target_test_x=tx, target_test_y=ty))
    pair = load_pair(_config(path))
    assert len(pair.target_x) == 40 and len(pair.target_test_x) == 25
    np.testing.assert_array_equal(pair.target_test_y, ty)


def test_without_target_labels_target_accuracy_is_nan_and_oracle_is_refused(tmp_path):
    path = write_npz(tmp_path, **_good_arrays(target_y=None))
    config = _config(path, steps=20, log_every=10)
    pair = load_pair(config)
    assert not pair.has_target_labels and (pair.target_y == UNLABELLED).all()
    result = Trainer(config).run()
    assert np.isnan(result.metrics["target_acc"]) and 0 <= result.metrics["source_acc"] <= 1
    assert all(np.isnan(r.target_acc) for r in result.history)
    with pytest.raises(DataFileError) as e:
        load_pair(config.replace(mode="target_oracle"))
    assert "data.npz, target labels" in str(e.value) and "target oracle" in str(e.value)


def test_grey_and_colour_images_become_three_channel_28x28(tmp_path):
    rng = np.random.RandomState(0)
    y = np.arange(30) % 2
    grey = (rng.rand(30, 12, 12) * 255).astype(np.uint8)  # N x H x W, uint8
    colour = rng.rand(30, 20, 20, 3).astype(np.float32)  # N x H x W x C, floats 0-1
    path = write_npz(tmp_path, source_x=grey, source_y=y, target_x=colour, target_y=y)
    pair = load_pair(_config(path))
    assert pair.is_image and pair.input_shape == (3, 28, 28)
    assert pair.target_test_x.shape[1:] == (3, 28, 28)
    # Grey repeated into the 3 channels; normalised with the training pool's per-channel statistics.
    assert np.corrcoef(pair.source_x[:, 0].ravel(), pair.source_x[:, 1].ravel())[0, 1] > 0.9999
    pool = np.concatenate([pair.source_x, pair.target_x])
    np.testing.assert_allclose(pool.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    # The paper's conv net trains on them, and the gallery shows RGB images.
    trainer = Trainer(_config(path, steps=4, log_every=2, batch_size=8))
    result = trainer.run()
    assert result.gallery is not None and result.gallery.images.shape[1:] == (28, 28, 3)
    assert result.input_plane is None


def test_grey_images_in_both_domains_stay_one_channel_and_gallery_is_rgb(tmp_path):
    rng = np.random.RandomState(0)
    y = np.arange(20) % 2
    x = rng.rand(20, 28, 28, 1).astype(np.float32)
    path = write_npz(tmp_path, source_x=x, source_y=y, target_x=x[:, :, :, 0], target_y=y)
    config = _config(path, steps=2, log_every=1, batch_size=4)
    assert load_pair(config).input_shape == (1, 28, 28)
    assert Trainer(config).run().gallery.images.shape[1:] == (28, 28, 3)


def test_two_feature_table_has_an_input_plane_and_more_features_do_not(tmp_path):
    two = write_npz(tmp_path, "two.npz", **_good_arrays(source_x=_table(d=2)[0], target_x=_table(d=2, seed=1)[0]))
    result = Trainer(_config(two, steps=10, log_every=5)).run()
    assert result.input_plane is not None and result.gallery is None
    three = write_npz(tmp_path, "three.npz", **_good_arrays())
    trainer = Trainer(_config(three, steps=10, log_every=5))
    assert not trainer.pair.has_input_plane and trainer.run().input_plane is None


def test_example_files_load(tmp_path):
    table = tmp_path / "example_table.npz"
    table.write_bytes(uploads.example_npz("table"))
    pair = load_pair(_config(table))
    assert pair.input_shape == (2,) and pair.n_classes == 3
    images = tmp_path / "example_images.npz"
    images.write_bytes(uploads.example_npz("images"))
    with np.load(images, allow_pickle=False) as f:
        assert f["source_x"].shape[1:] == (8, 8) and f["source_x"].dtype == np.uint8  # grey
        assert f["target_x"].shape[1:] == (16, 16, 3)  # colour
    pair = load_pair(_config(images))
    assert pair.input_shape == (3, 28, 28) and pair.n_classes == 10


def test_loaded_pairs_are_cached_by_path_until_the_file_changes(tmp_path):
    path = write_npz(tmp_path, **_good_arrays())
    a = load_pair(_config(path))
    assert load_pair(_config(path)) is a
    time.sleep(0.01)
    write_npz(tmp_path, **_good_arrays(source_x=_table(seed=5)[0]))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new modification time, whatever the clock
    assert load_pair(_config(path)) is not a


def test_csv_pair_with_and_without_target_labels(tmp_path):
    src = write_csv(tmp_path, "source.csv", ["a", "b", "label"], _csv_rows(20))
    # Columns in another order: matched by name.
    tgt = write_csv(tmp_path, "target.csv", ["label", "b", "a"], [r[::-1] for r in _csv_rows(20, shift=1.0, seed=1)])
    pair = load_pair(_config(src, target_file=str(tgt)))
    assert pair.source_x.shape == (15, 2) and pair.target_test_x.shape == (5, 2) and pair.has_target_labels
    raw = ud.read_csv_pair(src, tgt, "label")
    np.testing.assert_allclose(raw.target_x[:, 0], [r[0] for r in _csv_rows(20, shift=1.0, seed=1)])
    unlabelled = write_csv(tmp_path, "target_nolabel.csv", ["a", "b"], [r[:2] for r in _csv_rows(20, seed=1)])
    pair = load_pair(_config(src, target_file=str(unlabelled)))
    assert not pair.has_target_labels


def test_csv_with_another_label_column_name(tmp_path):
    src = write_csv(tmp_path, "s.csv", ["a", "b", "klass"], _csv_rows(20))
    tgt = write_csv(tmp_path, "t.csv", ["a", "b"], [r[:2] for r in _csv_rows(20)])
    assert load_pair(_config(src, target_file=str(tgt), label_column="klass")).n_classes == 2


# --- bad .npz files: every message ---


def _error(path) -> str:
    with pytest.raises(DataFileError) as e:
        ud.read_npz(path)
    msg = str(e.value)
    assert msg.startswith(path.name + ", ") and "found" in msg and "expected" in msg, msg
    return msg


def _bad(tmp_path, **changes) -> str:
    return _error(write_npz(tmp_path, **_good_arrays(**changes)))


N = 40  # examples per domain in _good_arrays


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        (
            {"target_x": None},
            [
                "array 'target_x'",
                "no such array",
                "source_x, source_y, target_y",
                "arrays named source_x, source_y, target_x",
            ],
        ),
        ({"source_x": np.array([["a"] * 3] * N)}, ["array 'source_x'", "text (dtype <U1)", "expected numbers"]),
        ({"source_x": np.ones((N, 3), complex)}, ["complex numbers"]),
        ({"source_x": np.ones((N, 3), bool)}, ["True/False values"]),
        ({"source_x": np.ones(N)}, ["1-D array of shape (40,)", "x.reshape(-1, 1)", "a table (examples x features)"]),
        ({"source_x": np.ones((N, 2, 2, 2, 2))}, ["5-D array"]),
        ({"source_y": np.arange(N - 1) % 3}, ["array 'source_y'", "39 labels for the 40 examples of 'source_x'"]),
        ({"source_y": np.full(N, 0.5)}, ["not whole numbers (0.5 at index 0)"]),
        ({"source_y": np.array(["cat"] * N)}, ["array 'source_y'", "text (dtype <U3)", "whole numbers 0, 1, 2"]),
        ({"source_y": np.arange(N) % 3 - 1}, ["labels from -1 to 1", "whole numbers from 0 to 99"]),
        ({"source_y": np.zeros(N, int)}, ["array 'source_y'", "a single class (0)", "at least 2 classes"]),
        ({"source_y": np.eye(3)[np.arange(N) % 3]}, ["one-hot? use y.argmax(1)"]),
        ({"source_y": np.r_[np.full(N - 1, 1.0), np.nan]}, ["1 NaN or infinite labels (the first at index 39)"]),
        (
            {"target_y": np.arange(N) % 5},
            ["array 'target_y'", "classes 3, 4 that source_y does not have", "only the source's classes (0, 1, 2)"],
        ),
        (
            {"target_x": np.ones((N, 4), np.float32)},
            ["array 'target_x'", "found 4 features", "3 features, as many as source_x"],
        ),
        ({"target_x": np.ones((5, 3), np.float32), "target_y": None}, ["5 examples", "from 10 to 20,000"]),
        (
            {"target_x": np.ones((N, 8, 8), np.float32)},
            ["array 'target_x'", "images: a 3-D array", "a table, like source_x"],
        ),
        (
            {"target_test_x": np.ones((5, 3), np.float32)},
            ["array 'target_test_y'", "'target_test_x' without 'target_test_y'", "both or neither"],
        ),
        (
            {"target_test_x": np.ones((5, 3), np.float32), "target_test_y": np.array([0, 1, 2, 0, 7])},
            ["array 'target_test_y'", "classes 7"],
        ),
    ],
)
def test_bad_npz_arrays(tmp_path, changes, fragments):
    msg = _bad(tmp_path, **changes)
    for fragment in fragments:
        assert fragment in msg, msg


def test_nan_and_infinity_are_counted_and_located(tmp_path):
    x = _table()[0]
    x[5, 1] = np.nan
    x[7, 0] = np.nan
    x[9, 2] = np.inf
    msg = _bad(tmp_path, target_x=x)
    assert "array 'target_x'" in msg and "2 NaN and 1 infinite values" in msg
    assert "the first in example 5, at index (5, 1)" in msg and "finite numbers only" in msg


@pytest.mark.parametrize(
    ("images", "fragments"),
    [
        (np.ones((N, 3, 16, 16), np.float32), ["16 channels", "channels first? use x.transpose(0, 2, 3, 1)"]),
        (np.ones((N, 16, 16, 4), np.uint8), ["4 channels", "RGBA? drop the alpha channel"]),
        (
            np.full((N, 16, 16), 200.0, np.float32),
            ["10,240 pixel values outside 0-1 (from 200 to 200)", "divide by 255", "float pixels from 0 to 1"],
        ),
        (np.full((N, 16, 16), -3.0, np.float32), ["outside 0-1 (from -3 to -3)"]),
        (np.full((N, 16, 16), 300, np.int32), ["whole-number pixels from 300 to 300", "uint8 pixels"]),
    ],
)
def test_bad_images(tmp_path, images, fragments):
    msg = _bad(tmp_path, source_x=images, target_x=np.zeros((N, 16, 16), np.uint8))
    for fragment in fragments:
        assert fragment in msg, msg


def test_pickled_object_arrays_are_refused_without_unpickling(tmp_path):
    objects = np.array([{"x": 1}] * N, dtype=object)
    path = write_npz(tmp_path, allow_pickle=True, **_good_arrays(source_x=objects))
    msg = _error(path)
    assert "array 'source_x'" in msg and "Python objects (dtype object)" in msg and "never unpickles" in msg


def test_files_that_are_not_npz(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("source_x,source_y\n1,2\n")
    assert "not a .npz archive" in _error(text)
    npy = tmp_path / "one.npz"
    with open(npy, "wb") as f:
        np.save(f, np.ones(3))
    assert "a .npy file holds one array: save all of them with np.savez" in _error(npy)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    assert "not a .npz archive" in _error(empty)


@pytest.mark.parametrize(
    ("limit", "value", "changes", "fragment"),
    [
        ("MAX_FILE_MB", 0, {}, "the file: found 0 MB; expected at most 0 MB"),
        ("MAX_UNPACKED_MB", 0, {}, "the arrays: found 0 MB once unpacked"),
        ("MAX_ROWS", 30, {}, "array 'source_x': found 40 examples; expected from 10 to 30 examples"),
        ("MAX_FEATURES", 2, {}, "found 3 features; expected from 1 to 2 features"),
        ("MAX_VALUES", 100, {}, "found 120 numbers"),
        (
            "MAX_IMAGE_SIDE",
            10,
            {"source_x": np.zeros((N, 12, 11), np.uint8), "target_x": np.zeros((N, 8, 8))},
            "images of 12 x 11 pixels; expected at most 10 x 10",
        ),
    ],
)
def test_limits(tmp_path, monkeypatch, limit, value, changes, fragment):
    monkeypatch.setattr(file_checks, limit, value)
    msg = _bad(tmp_path, **changes)
    assert fragment in msg, msg


# --- bad .csv files ---


def _csv_error(
    tmp_path,
    source_rows=None,
    target_rows=None,
    source_header=("a", "b", "label"),
    target_header=("a", "b", "label"),
    label="label",
    source_text=None,
) -> str:
    src = write_csv(tmp_path, "source.csv", source_header, source_rows or _csv_rows(20))
    if source_text is not None:
        src.write_text(source_text)
    tgt = write_csv(tmp_path, "target.csv", target_header, target_rows or _csv_rows(20, seed=1))
    with pytest.raises(DataFileError) as e:
        ud.read_csv_pair(src, tgt, label)
    msg = str(e.value)
    assert "found" in msg and "expected" in msg, msg
    return msg


def test_csv_missing_label_column(tmp_path):
    msg = _csv_error(tmp_path, label="class")
    assert msg.startswith("source.csv, label column 'class': found no such column (the columns are 'a', 'b', 'label')")


def test_csv_non_numeric_column_is_named(tmp_path):
    rows = _csv_rows(20)
    rows[1][1] = "red"
    rows[4][1] = "blue"
    msg = _csv_error(tmp_path, target_rows=rows)
    assert msg.startswith("target.csv, column 'b': found text 'red' on line 3 (2 such cells)")
    assert "encode it as numbers" in msg


def test_csv_empty_and_infinite_cells(tmp_path):
    rows = _csv_rows(20)
    rows[2][0] = ""
    rows[6][0] = "inf"
    msg = _csv_error(tmp_path, source_rows=rows)
    assert msg.startswith("source.csv, column 'a': found 2 empty, NaN or infinite cells (the first on line 4)")


def test_csv_different_columns(tmp_path):
    msg = _csv_error(tmp_path, target_header=("a", "z", "label"))
    assert msg.startswith(
        "target.csv, the columns: found 'b' missing and 'z' extra; expected the same feature "
        "columns as source.csv ('a', 'b')"
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1.5", "not whole numbers (1.5 at index 0)"),
        ("cat", "label column 'label': found text 'cat' on line 2"),
        ("-2", "labels from -2 to 1"),
        ("", "found 1 empty cells (the first on line 2)"),
    ],
)
def test_csv_bad_labels(tmp_path, value, fragment):
    rows = _csv_rows(20)
    rows[0][2] = value
    msg = _csv_error(tmp_path, source_rows=rows)
    assert msg.startswith("source.csv, ") and fragment in msg, msg


def test_csv_target_classes_missing_from_source(tmp_path):
    rows = _csv_rows(20, seed=1)
    rows[3][2] = 4
    assert _csv_error(tmp_path, target_rows=rows).startswith(
        "target.csv, array 'target_y': found classes 4 that source_y does not have"
    )


def test_csv_unreadable_and_empty(tmp_path):
    assert "found no data" in _csv_error(tmp_path, source_text="")
    assert "only the label column 'label'" in _csv_error(
        tmp_path, source_header=("label",), source_rows=[[i % 2] for i in range(20)]
    )
    assert "text that is not valid CSV" in _csv_error(tmp_path, source_text='a,b,label\n1,2,0\n"3,4,1\n')


def test_csv_too_many_rows_or_columns(tmp_path, monkeypatch):
    monkeypatch.setattr(file_checks, "MAX_ROWS", 15)
    assert "the rows: found more than 15 rows; expected at most 15" in _csv_error(tmp_path)
    monkeypatch.setattr(file_checks, "MAX_ROWS", 20_000)
    monkeypatch.setattr(file_checks, "MAX_FEATURES", 1)
    assert "found 3 columns; expected at most 1 feature columns and the label column" in _csv_error(tmp_path)


# --- config fields and uploads ---


def test_config_checks_the_file_fields(tmp_path):
    path = write_npz(tmp_path, **_good_arrays())
    with pytest.raises(ConfigError, match="data_file='' is not allowed: a .npz file"):
        RunConfig.for_dataset("file")
    gone = RunConfig.for_dataset("file", data_file=str(tmp_path / "gone.npz"))  # a config is data
    with pytest.raises(ConfigError, match="data_file='.*gone.npz' is not allowed: an existing file"):
        gone.check_files()
    with pytest.raises(ConfigError, match="target_file='' is not allowed: the target .csv"):
        RunConfig.for_dataset("file", data_file=str(write_csv(tmp_path, "s.csv", ["a", "label"], [[1, 0]])))
    with pytest.raises(ConfigError, match="target_file=.* empty with a .npz"):
        RunConfig.for_dataset("file", data_file=str(path), target_file=str(path))
    with pytest.raises(ConfigError, match='data_file=.* empty unless dataset="file"'):
        RunConfig(dataset="moons", data_file=str(path))
    src = write_csv(tmp_path, "s.csv", ["a", "label"], [[1, 0]])
    with pytest.raises(ConfigError, match="label_column=' ' is not allowed"):
        RunConfig.for_dataset("file", data_file=str(src), target_file=str(src), label_column=" ")
    c = _config(path)
    assert RunConfig.from_json(c.to_json()) == c


def test_uploads_are_stored_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("DANN_DATA_DIR", str(tmp_path))
    a = uploads.save_upload("my data.npz", b"one")
    assert a.parent.parent == tmp_path / "uploads" and a.name == "my_data.npz" and a.read_bytes() == b"one"
    assert uploads.save_upload("my data.npz", b"one") == a  # the same content: the same path
    b = uploads.save_upload("my data.npz", b"two")  # another user's file of the same name: another path
    assert b != a and a.read_bytes() == b"one" and b.read_bytes() == b"two"
    assert uploads.save_upload("../../etc/x.csv", b"x").parent.parent == tmp_path / "uploads"
    with pytest.raises(DataFileError, match="the file name: found the ending '.txt'; expected a .npz or a .csv"):
        uploads.save_upload("notes.txt", b"x")
    monkeypatch.setattr(file_checks, "MAX_FILE_MB", 0)
    with pytest.raises(DataFileError, match="expected at most 0 MB"):
        uploads.save_upload("big.npz", b"x")


def test_a_table_file_gets_table_defaults_and_dann_wins_on_a_small_two_moons_table(tmp_path):
    """The JMLR toy's size (150 points per domain, 35 degrees, noise 0.05) saved as a .npz and trained with
    the defaults: a table file gets the MLP settings of moons and blobs, and DANN beats source only by at
    least 15 points over 5 seeds (the 10 runs train together as one ensemble, as the server would)."""
    from dann_demo.datasets import TABLE_DEFAULTS, data_kind
    from dann_demo.datasets.moons import moons
    from dann_demo.method.ensemble import EnsembleTrainer

    p = moons(150, 0.05, 35.0, 0)
    path = tmp_path / "moons150.npz"
    np.savez(path, source_x=p.source_x, source_y=p.source_y, target_x=p.target_x, target_y=p.target_y)
    base = RunConfig.for_dataset("file", data_file=str(path))
    assert data_kind(base) == "table" and not base.is_image
    assert {k: getattr(base, k) for k in TABLE_DEFAULTS} == TABLE_DEFAULTS
    configs = [base.replace(mode=m, seed=s) for m in ("source_only", "dann") for s in range(5)]
    results = EnsembleTrainer(configs).run()
    source_only = np.mean([r.metrics["target_acc"] for r in results[:5]])
    dann = np.mean([r.metrics["target_acc"] for r in results[5:]])
    assert dann - source_only >= 0.15, (source_only, dann)


def test_an_image_file_gets_image_defaults(tmp_path):
    from dann_demo.datasets import IMAGE_DEFAULTS, data_kind

    path = tmp_path / "images.npz"
    path.write_bytes(uploads.example_npz("images"))
    config = RunConfig.for_dataset("file", data_file=str(path))
    assert data_kind(config) == "images" and config.is_image
    assert {k: getattr(config, k) for k in IMAGE_DEFAULTS} == IMAGE_DEFAULTS


def test_old_uploads_and_the_oldest_over_the_size_limit_are_pruned(tmp_path, monkeypatch):
    import os
    import time

    monkeypatch.setenv("DANN_DATA_DIR", str(tmp_path))
    old = uploads.save_upload("old.csv", b"x,y\n" + b"1,0\n" * 10)
    aged = time.time() - (uploads.UPLOAD_MAX_AGE_DAYS + 1) * 86400
    os.utime(old, (aged, aged))
    middle = uploads.save_upload("middle.csv", b"x,y\n" + b"2,1\n" * 300_000)
    assert not old.exists() and middle.exists()  # older than the limit: gone at the next upload
    monkeypatch.setattr(uploads, "UPLOAD_MAX_TOTAL_MB", 1)  # middle (1.2 MB) and newest pass it together
    os.utime(middle, (time.time() - 60, time.time() - 60))
    newest = uploads.save_upload("newest.csv", b"x,y\n" + b"3,0\n" * 300_000)
    assert newest.exists() and not middle.exists()  # the oldest went first; the one just saved stays
    assert uploads.prune_uploads(keep=newest) == [] and newest.exists()  # alone over the limit, it is kept


def test_a_config_whose_file_has_gone_decodes_and_its_training_names_the_file(tmp_path):
    path = write_npz(tmp_path, **_good_arrays())
    stored = RunConfig.for_dataset("file", data_file=str(path), steps=10).to_json()
    path.unlink()
    config = RunConfig.from_json(stored)  # a stored job decodes on a machine without the file
    assert config.data_file == str(path)
    with pytest.raises(DataFileError, match=f"{path.name}, the file: found nothing at this path"):
        Trainer(config)
