"""fcjax.data: real data sets at a chosen input dimension, all offline.

MNIST and CIFAR-10 are tested through tensorflow-datasets' own mock (``tfds.testing.mock_data``) and through the error
for data that is not prepared; nothing here may touch the network (sockets are blocked where a loader could try).
"""

from __future__ import annotations

import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from sklearn.datasets import load_digits as sk_load_digits

import fcjax.data as D


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a data loader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _assert_dataset(ds: D.Dataset, name: str, n_train: int, n_test: int, d: int,
                    image_shape: tuple[int, int, int] | None) -> None:
    assert ds.name == name
    assert ds.x_train.shape == (n_train, d) and ds.x_test.shape == (n_test, d)
    assert ds.y_train.shape == (n_train,) and ds.y_test.shape == (n_test,)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int32 and ds.y_test.dtype == np.int32
    assert ds.image_shape == image_shape and ds.num_classes == 10 and ds.d == d
    for y in (ds.y_train, ds.y_test):
        assert y.min() >= 0 and y.max() <= 9
    if image_shape is not None:
        assert int(np.prod(image_shape)) == d
        for x in (ds.x_train, ds.x_test):
            assert x.min() >= 0.0 and x.max() <= 1.0


def _row_index(full: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index in ``full`` of every row of ``rows`` (each must occur)."""
    lookup = {r.tobytes(): i for i, r in enumerate(full)}
    return np.array([lookup[r.tobytes()] for r in rows])


# ----------------------------------------------------------------------------------------------------------------------
# digits


@pytest.fixture(scope="module")
def digits() -> D.Dataset:
    return D.load_dataset("digits")


def test_digits_native(digits: D.Dataset) -> None:
    _assert_dataset(digits, "digits", 1437, 360, 64, (8, 8, 1))
    bunch = sk_load_digits()
    np.testing.assert_array_equal(digits.x_train, (bunch.data[:1437] / 16.0).astype(np.float32))
    np.testing.assert_array_equal(digits.y_test, bunch.target[1437:])
    assert digits.x_train.max() == 1.0
    assert set(np.unique(digits.y_train)) == set(range(10)) == set(np.unique(digits.y_test))


@pytest.mark.parametrize(("d", "side"), [(16, 4), (64, 8), (256, 16)])
def test_digits_resized(digits: D.Dataset, d: int, side: int) -> None:
    ds = D.load_digits(d)
    _assert_dataset(ds, "digits", 1437, 360, d, (side, side, 1))
    np.testing.assert_array_equal(ds.y_train, digits.y_train)
    if d == 64:  # native size: exactly the original scaling
        np.testing.assert_array_equal(ds.x_train, digits.x_train)
        np.testing.assert_array_equal(ds.x_test, digits.x_test)
    else:  # the same as jax.image.resize on the (n, 8, 8, 1) images: the flattening is row-major (h, w, c)
        want = jax.image.resize(digits.x_test.reshape(-1, 8, 8, 1), (360, side, side, 1), "linear")
        np.testing.assert_allclose(ds.x_test, np.asarray(want).reshape(360, d), atol=1e-6)
        # averaging/interpolating keeps the mean brightness roughly the same
        assert abs(ds.x_train.mean() - digits.x_train.mean()) < 0.02


def test_resize_images_orientation_and_constants() -> None:
    img = np.zeros((1, 8, 8, 1), np.float32)
    img[0, 0, :, 0] = 1.0  # a bright top row, dark elsewhere
    up = D.resize_images(img.reshape(1, 64), (8, 8, 1), 16).reshape(16, 16)
    assert up[0].min() > 0.5 and up[:, 0].max() == up[0, 0] and up[8:].max() == 0.0  # still a row, at the top
    const = np.full((3, 2 * 6 * 6), 0.3, np.float32)  # two channels
    for side in (2, 5, 11):
        out = D.resize_images(const, (6, 6, 2), side)
        assert out.shape == (3, side * side * 2)
        np.testing.assert_allclose(out, 0.3, rtol=1e-6)
    ints = D.resize_images(np.arange(16, dtype=np.uint8).reshape(1, 16), (4, 4, 1), 4)
    assert ints.dtype == np.float32 and ints[0, 5] == 5.0


def test_digits_subsampling_is_seeded_stratified_and_nested(digits: D.Dataset) -> None:
    a = D.load_dataset("digits", n_train=200, n_test=50, seed=3)
    b = D.load_dataset("digits", n_train=200, n_test=50, seed=3)
    c = D.load_dataset("digits", n_train=200, n_test=50, seed=4)
    _assert_dataset(a, "digits", 200, 50, 64, (8, 8, 1))
    for f in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.x_train, c.x_train) and not np.array_equal(a.x_test, c.x_test)
    # rows (with their labels) come from the right split
    idx = _row_index(digits.x_train, a.x_train)
    np.testing.assert_array_equal(digits.y_train[idx], a.y_train)
    assert len(set(idx)) == 200
    np.testing.assert_array_equal(digits.y_test[_row_index(digits.x_test, a.x_test)], a.y_test)
    # class-stratified: each class within 2 of its proportional share
    share = 200 * np.bincount(digits.y_train, minlength=10) / 1437
    assert np.all(np.abs(np.bincount(a.y_train, minlength=10) - share) <= 2)
    # nested in n_train, and independent of n_test
    small = D.load_dataset("digits", n_train=37, n_test=360, seed=3)
    np.testing.assert_array_equal(small.x_train, a.x_train[:37])
    # subsample then resize equals resize then subsample
    r = D.load_dataset("digits", 36, n_train=200, n_test=50, seed=3)
    np.testing.assert_allclose(r.x_train, D.load_digits(36).x_train[idx], atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# mnist1d


def test_mnist1d_generates_offline_at_any_length(no_network: None) -> None:
    state = np.random.get_state()  # noqa: NPY002 (the legacy global state is what mnist1d touches)
    ds = D.load_dataset("mnist1d")
    _assert_dataset(ds, "mnist1d", 4000, 1000, 40, None)
    assert abs(float(np.concatenate([ds.x_train, ds.x_test]).std()) - 1.0) < 1e-3  # the package's standardisation
    s = np.random.get_state()  # noqa: NPY002
    assert s[0] == state[0] and np.array_equal(s[1], state[1]) and s[2:] == state[2:]  # global RNG untouched
    for d in (1, 17, 100):
        short = D.load_mnist1d(d, num_samples=200)
        _assert_dataset(short, "mnist1d", 160, 40, d, None)
        assert np.all(np.isfinite(short.x_train))


def test_mnist1d_seeded(no_network: None) -> None:
    a = D.load_mnist1d(24, n_train=50, n_test=20, seed=5, num_samples=300)
    b = D.load_mnist1d(24, n_train=50, n_test=20, seed=5, num_samples=300)
    c = D.load_mnist1d(24, n_train=50, n_test=20, seed=6, num_samples=300)
    _assert_dataset(a, "mnist1d", 50, 20, 24, None)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    # the same signals at every length: the first sample is the package's first point at any length
    full = D.load_mnist1d(24, seed=5, num_samples=300)
    longer = D.load_mnist1d(48, seed=5, num_samples=300)
    np.testing.assert_array_equal(full.y_train, longer.y_train)
    assert np.corrcoef(full.x_train[:, 0], longer.x_train[:, 0])[0, 1] > 0.999


# ----------------------------------------------------------------------------------------------------------------------
# mnist and cifar10 (tensorflow-datasets)

TFDS_IMAGES = [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))]


@pytest.mark.parametrize(("name", "shape"), TFDS_IMAGES)
def test_tfds_images_with_mock(name: str, shape: tuple[int, int, int], tmp_path, no_network: None) -> None:
    tfds = pytest.importorskip("tensorflow_datasets")
    load = getattr(D, f"load_{name}")
    h, w, c = shape
    side = h // 2  # 14 for mnist, 16 for cifar10
    with tfds.testing.mock_data(num_examples=30):
        ds = D.load_dataset(name, data_dir=str(tmp_path))
        small = load(side * side * c, n_train=12, n_test=5, seed=1, data_dir=tmp_path)
        raw = tfds.data_source(name, split="train", data_dir=str(tmp_path),
                               builder_kwargs={"file_format": "array_record"})
        raw = [raw[i] for i in range(len(raw))]  # one at a time: the mock's __getitems__ is broken (tfds 4.9.10)
    _assert_dataset(ds, name, 30, 30, h * w * c, shape)
    assert ds.x_train.max() > 0.5  # scaled from uint8, not all zero
    # every image is the record's (h, w, c) uint8 array flattened row-major (channels fastest), divided by 255
    want = np.stack([r["image"].reshape(h * w * c) for r in raw]).astype(np.float32) / np.float32(255.0)
    np.testing.assert_array_equal(ds.x_train, want)
    np.testing.assert_array_equal(ds.y_train, [int(r["label"]) for r in raw])
    _assert_dataset(small, name, 12, 5, side * side * c, (side, side, c))
    # each subsampled image is the resized version of a distinct full-size one, with its label
    want = D.resize_images(ds.x_train, shape, side)
    dist = np.abs(small.x_train[:, None, :] - want[None, :, :]).max(axis=2)
    idx = dist.argmin(axis=1)
    assert dist.min(axis=1).max() < 1e-6 and len(set(idx)) == 12
    np.testing.assert_array_equal(small.y_train, ds.y_train[idx])
    with tfds.testing.mock_data(num_examples=30), pytest.raises(ValueError, match="n_train"):
        load(n_train=31, data_dir=tmp_path)  # more than the (mock) split holds


@pytest.mark.parametrize(("name", "shape"), TFDS_IMAGES)
def test_tfds_not_prepared_raises_clear_error(name: str, shape: tuple[int, int, int], tmp_path,
                                              no_network: None) -> None:
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(D.DataUnavailableError) as info:
        D.load_dataset(name, 49 * shape[2], data_dir=str(tmp_path))
    assert isinstance(info.value, RuntimeError)
    msg = str(info.value)
    for needed in (f"tfds build {name}", "--file_format=array_record", f"--data_dir={tmp_path}", "--data digits"):
        assert needed in msg
    assert list(tmp_path.iterdir()) == []  # nothing was written, nothing downloaded


# ----------------------------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: D.load_dataset(3), TypeError, "name"),
        (lambda: D.load_dataset("cifar100"), ValueError,
         "name must be one of 'digits', 'mnist1d', 'mnist', 'cifar10', got 'cifar100'"),
        (lambda: D.load_dataset("digits", 0), ValueError, "d must be >= 1"),
        (lambda: D.load_dataset("digits", 50), ValueError, "d must be a perfect square .* nearest are 49 and 64"),
        (lambda: D.load_dataset("mnist", 50), ValueError, "d must be a perfect square .*'mnist'"),
        (lambda: D.load_dataset("cifar10", 1024), ValueError, r"d must be .*side \* side \* 3.*'cifar10', got 1024"),
        (lambda: D.load_cifar10(3000), ValueError, "d must be .*'cifar10', got 3000; the nearest are 2883 and 3072"),
        (lambda: D.load_dataset("digits", 2.5), TypeError, "d must be an integer"),
        (lambda: D.load_dataset("mnist1d", -3), ValueError, "d must be >= 1"),
        (lambda: D.load_dataset("digits", n_train=1438), ValueError, "n_train must be at most 1437"),
        (lambda: D.load_dataset("digits", n_test=0), ValueError, "n_test must be >= 1"),
        (lambda: D.load_dataset("mnist1d", n_train=4001), ValueError, "n_train must be at most 4000"),
        (lambda: D.load_dataset("mnist", n_test=10_001), ValueError, "n_test must be at most 10000"),
        (lambda: D.load_dataset("cifar10", n_train=50_001), ValueError, "n_train must be at most 50000"),
        (lambda: D.load_dataset("digits", seed=-1), ValueError, "seed must be >= 0"),
        (lambda: D.load_dataset("digits", seed=True), TypeError, "seed must be an integer"),
        (lambda: D.load_mnist(download="yes"), TypeError, "download"),
        (lambda: D.load_cifar10(data_dir=3), TypeError, "data_dir"),
        (lambda: D.load_mnist1d(num_samples=5), ValueError, "num_samples"),
        (lambda: D.resize_images(np.zeros((2, 10)), (3, 3, 1), 2), ValueError, "x must have shape"),
        (lambda: D.resize_images(np.zeros((2, 9)), (3, 3), 2), ValueError, "image_shape"),
        (lambda: D.resize_images(np.zeros((2, 9)), (3, 3, 1), 0), ValueError, "side"),
        (lambda: D.resize_images([0.0] * 9, (3, 3, 1), 2), TypeError, "x must be an array"),
    ],
)
def test_bad_input(call, exc: type[Exception], match: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Checked before any heavy work: the data packages cannot even be imported here.
    for mod in ("sklearn.datasets", "mnist1d.data", "tensorflow_datasets"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(exc, match=match):
        call()


def test_import_is_light() -> None:
    """`import fcjax.data` pulls in none of the data packages (they load lazily, inside the loaders)."""
    code = ("import sys, fcjax.data; bad = [m for m in ('tensorflow_datasets', 'sklearn', 'mnist1d') if m in "
            "sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
