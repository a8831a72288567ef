"""Real data sets, resized to a chosen input dimension ``d`` so that the theories can be swept over ``d`` on real data.

Four sources, all returned as a :class:`Dataset` of NumPy arrays (data loading happens at the edge, outside the
jitted core, so NumPy and its seeded ``Generator`` are used here rather than ``jax.random``):

* ``"digits"``: scikit-learn's handwritten digits (8x8, 1797 images, shipped inside scikit-learn). The offline default.
* ``"mnist1d"``: MNIST-1D (Greydanus, 2020) from the ``mnist1d`` package, generated offline at any length.
* ``"mnist"``: MNIST (28x28) read with ``tfds.data_source``, which needs no TensorFlow to *read* prepared data. Building
  (preparing) MNIST with tensorflow-datasets does need TensorFlow and internet, once, anywhere; see
  :class:`DataUnavailableError`.
* ``"cifar10"``: CIFAR-10 (32x32 RGB), read and prepared the same way as MNIST.

Images are resized to ``side x side`` with ``d = side * side * channels`` by :func:`resize_images`
(``jax.image.resize``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jaxtyping import Float, Int

from ._validate import check_int

__all__ = [
    "DATASETS",
    "DataUnavailableError",
    "Dataset",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_mnist1d",
    "resize_images",
]

DATASETS = ("digits", "mnist1d", "mnist", "cifar10")

# Fixed split of scikit-learn's 1797 digits (it ships no split): the first 1437 train, the last 360 test, in file
# order. The tail is already close to class-balanced (33-37 per class), and a fixed split keeps the test set the same
# for every seed, as MNIST's is.
_DIGITS_TRAIN = 1437
_DIGITS_TOTAL = 1797
_MNIST1D_LENGTH = 40  # the package's default final_seq_length
_MNIST1D_TRAIN_SPLIT = 0.8  # the package's default train_split


class _TfdsImages(NamedTuple):
    """An image data set read with ``tfds.data_source``: its title, image shape and split sizes."""

    title: str
    shape: tuple[int, int, int]
    n_train: int
    n_test: int


_TFDS_IMAGES = {  # keyed by the tensorflow-datasets name
    "mnist": _TfdsImages("MNIST", (28, 28, 1), 60_000, 10_000),
    "cifar10": _TfdsImages("CIFAR-10", (32, 32, 3), 50_000, 10_000),
}


class DataUnavailableError(RuntimeError):
    """A data set is not on this machine and may not (or could not) be downloaded."""


@dataclasses.dataclass(frozen=True, eq=False)  # eq=False: field-wise == on arrays has no single truth value
class Dataset:
    """A labelled data set with one example per row.

    Attributes:
      name: ``"digits"``, ``"mnist1d"``, ``"mnist"`` or ``"cifar10"``.
      x_train: ``(n_train, d)`` float32; images flattened row-major from ``image_shape`` and scaled to ``[0, 1]``.
      y_train: ``(n_train,)`` int32 labels in ``0 .. num_classes - 1``.
      x_test: ``(n_test, d)`` float32, as ``x_train``.
      y_test: ``(n_test,)`` int32.
      image_shape: ``(h, w, c)`` after resizing, with ``h * w * c == d``; ``None`` for 1-D signals (MNIST-1D).
      num_classes: number of classes (10 for all four sources).
    """

    name: str
    x_train: Float[np.ndarray, "n_train d"]
    y_train: Int[np.ndarray, " n_train"]
    x_test: Float[np.ndarray, "n_test d"]
    y_test: Int[np.ndarray, " n_test"]
    image_shape: tuple[int, int, int] | None
    num_classes: int

    @property
    def d(self) -> int:
        """The input dimension (columns of ``x_train``)."""
        return int(self.x_train.shape[1])


# ----------------------------------------------------------------------------------------------------------------------
# Argument checks (all run before any import of a data package or any reading/generation)


def _check_optional_count(value: Any, name: str) -> int | None:
    return None if value is None else check_int(value, name, minimum=1)


def _check_seed(seed: Any) -> int:
    seed = check_int(seed, "seed", minimum=0)
    if seed >= 2**32:  # mnist1d seeds NumPy's legacy global generator, which takes 32-bit seeds
        raise ValueError(f"seed must be < 2**32, got {seed}")
    return seed


def _check_available(n: int | None, available: int, name: str, what: str) -> None:
    if n is not None and n > available:
        raise ValueError(f"{name} must be at most {available} (the size of {what}), got {n}")


def _image_side(d: Any, channels: int, name: str) -> int | None:
    """The side ``s`` with ``d == s * s * channels``, or ``None`` for ``d=None`` (native size)."""
    if d is None:
        return None
    d = check_int(d, "d", minimum=1)
    side = math.isqrt(d // channels)
    if side * side * channels != d:
        lo, hi = side * side * channels, (side + 1) ** 2 * channels
        raise ValueError(
            f"d must be a perfect square (side * side{' * ' + str(channels) if channels > 1 else ''}) for the image "
            f"data set {name!r}, got {d}; the nearest are {lo} and {hi}"
        )
    return side


# ----------------------------------------------------------------------------------------------------------------------
# Resizing and subsampling


def resize_images(x: Any, image_shape: Sequence[int], side: int, *, antialias: bool = True,
                  method: str = "linear") -> Float[np.ndarray, "n e"]:
    """Resize flattened images to ``side x side`` with bilinear interpolation (``jax.image.resize``, ``"linear"``), or
    with ``method="nearest"`` (pixel replication for integer upscaling: Simon-Gabriel et al.'s upsampled images).

    With ``antialias=True`` (JAX's default) downsampling widens the triangle kernel by the scale factor, so every input
    pixel in the footprint contributes (an area-like average, no aliasing); upsampling is plain bilinear interpolation
    either way. The kernel weights are non-negative and sum to one, so values stay inside the input's range (up to
    rounding). ``side`` equal to the current size returns the input unchanged (as float32).

    Args:
      x: ``(n, h * w * c)`` images flattened row-major from ``(h, w, c)``; any real dtype.
      image_shape: ``(h, w, c)``.
      side: the new height and width.
      antialias: see above.
      method: ``"linear"`` or ``"nearest"``.

    Returns:
      ``(n, side * side * c)`` float32, flattened row-major from ``(side, side, c)``.
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"x must be an array, got {type(x).__name__}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"x must have a real dtype, got {x.dtype}")
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (h, w, c), got {tuple(image_shape)!r}")
    h, w, c = (check_int(v, "image_shape", minimum=1) for v in image_shape)
    side = check_int(side, "side", minimum=1)
    if method not in ("linear", "nearest"):
        raise ValueError(f"method must be 'linear' or 'nearest', got {method!r}")
    if x.ndim != 2 or x.shape[1] != h * w * c:
        raise ValueError(f"x must have shape (n, {h * w * c}) for image_shape {(h, w, c)}, got {x.shape}")
    x = np.asarray(x, dtype=np.float32)
    if (side, side) == (h, w):
        return x
    n = x.shape[0]
    images = x.reshape(n, h, w, c)
    # Only the two spatial axes change, so jax.image.resize interpolates along those alone.
    out = jax.image.resize(images, (n, side, side, c), method=method, antialias=antialias)
    return np.asarray(out, dtype=np.float32).reshape(n, side * side * c)


def _stratified_order(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order of ``range(len(y))`` whose every prefix is close to class-stratified.

    Class ``c`` (``n_c`` members, randomly permuted) gets the sort keys ``(i + u_c) / n_c``, ``i = 0 .. n_c - 1``,
    with one random offset ``u_c`` per class (systematic sampling). The first ``k`` indices then hold ``k n_c / n``
    members of class ``c`` to within 2 (for roughly balanced classes), and the subsample for a smaller ``k`` is a
    prefix of the one for a larger ``k``, so sweeps over ``n`` use nested subsets.
    """
    keys = np.empty(len(y))
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        keys[rng.permutation(members)] = (np.arange(members.size) + rng.random()) / members.size
    return np.argsort(keys, kind="stable")


def _subsample(x: np.ndarray, y: np.ndarray, n: int | None, seed: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows, class-stratified and chosen by ``seed`` (all rows in stored order when ``n`` is None).

    ``stream`` separates train (0) from test (1), so the training subsample does not depend on ``n_test``.
    """
    if n is None:
        return x, y
    idx = _stratified_order(y, np.random.default_rng([seed, stream]))[:n]
    return x[idx], y[idx]


def _finish(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
            image_shape: tuple[int, int, int] | None, side: int | None, n_train: int | None, n_test: int | None,
            seed: int) -> Dataset:
    """Subsample first (cheaper), then resize images to ``side`` and clip to [0, 1] against rounding."""
    _check_available(n_train, len(y_train), "n_train", f"the {name} training split")
    _check_available(n_test, len(y_test), "n_test", f"the {name} test split")
    x_train, y_train = _subsample(x_train, y_train, n_train, seed, 0)
    x_test, y_test = _subsample(x_test, y_test, n_test, seed, 1)
    if image_shape is not None and side is not None:
        x_train = np.clip(resize_images(x_train, image_shape, side), 0.0, 1.0)
        x_test = np.clip(resize_images(x_test, image_shape, side), 0.0, 1.0)
        image_shape = (side, side, image_shape[2])
    return Dataset(
        name=name,
        x_train=np.ascontiguousarray(x_train, dtype=np.float32),
        y_train=np.ascontiguousarray(y_train, dtype=np.int32),
        x_test=np.ascontiguousarray(x_test, dtype=np.float32),
        y_test=np.ascontiguousarray(y_test, dtype=np.int32),
        image_shape=image_shape,
        num_classes=10,
    )


# ----------------------------------------------------------------------------------------------------------------------
# Loaders


def load_digits(d: int | None = None, *, n_train: int | None = None, n_test: int | None = None,
                seed: int = 0) -> Dataset:
    """scikit-learn's handwritten digits: 8x8 grey images (``d = 64`` natively), 10 classes, no download.

    Split: the first 1437 images train, the last 360 test (file order; the same for every seed). Pixels (0..16) are
    divided by 16.

    Args:
      d: input dimension, a perfect square (``side * side``); ``None`` keeps 8x8.
      n_train: number of training images, class-stratified and chosen by ``seed``; ``None`` keeps all 1437 in order.
      n_test: likewise for the 360 test images.
      seed: chooses the subsamples.

    Returns:
      A :class:`Dataset` with ``image_shape == (side, side, 1)``.
    """
    side = _image_side(d, 1, "digits")
    n_train, n_test = _check_optional_count(n_train, "n_train"), _check_optional_count(n_test, "n_test")
    seed = _check_seed(seed)
    _check_available(n_train, _DIGITS_TRAIN, "n_train", "the digits training split")
    _check_available(n_test, _DIGITS_TOTAL - _DIGITS_TRAIN, "n_test", "the digits test split")

    from sklearn.datasets import load_digits as sk_load_digits  # lazy: scikit-learn takes about a second to import

    bunch = sk_load_digits()
    x = np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)
    y = np.asarray(bunch.target, dtype=np.int32)
    return _finish("digits", x[:_DIGITS_TRAIN], y[:_DIGITS_TRAIN], x[_DIGITS_TRAIN:], y[_DIGITS_TRAIN:], (8, 8, 1),
                   side, n_train, n_test, seed)


def load_mnist1d(d: int | None = None, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                 num_samples: int = 5000) -> Dataset:
    """MNIST-1D, generated offline by the ``mnist1d`` package at length ``d`` (40 natively).

    The package builds every signal at 72 points and interpolates it linearly to ``final_seq_length`` as its last
    step; that length is set to ``d``, so every ``d`` shows the same underlying signals (the random draws do not depend
    on the length). Values are the package's: standardised over the whole generated set (mean 0, std 1), **not**
    in [0, 1]. The generator is the package's own ``make_dataset`` (never ``get_dataset``, which downloads a pickle); it
    seeds NumPy's and Python's global generators, whose states are restored afterwards (not thread-safe).

    Args:
      d: signal length; ``None`` keeps 40.
      n_train: training signals, class-stratified and chosen by ``seed``; ``None`` keeps all (80% of
        ``num_samples``) in generated order.
      n_test: likewise for the test signals (the other 20%).
      seed: the generator's seed, and the subsampling seed.
      num_samples: signals to generate (rounded down to a multiple of 10: equal counts per class before the split).

    Returns:
      A :class:`Dataset` with ``image_shape=None``.
    """
    length = _MNIST1D_LENGTH if d is None else check_int(d, "d", minimum=1)
    n_train, n_test = _check_optional_count(n_train, "n_train"), _check_optional_count(n_test, "n_test")
    seed = _check_seed(seed)
    num_samples = check_int(num_samples, "num_samples", minimum=10)
    total = num_samples // 10 * 10
    n_train_all = int(total * _MNIST1D_TRAIN_SPLIT)  # the package's split rule
    _check_available(n_train, n_train_all, "n_train", f"the mnist1d training split (num_samples={num_samples})")
    _check_available(n_test, total - n_train_all, "n_test", f"the mnist1d test split (num_samples={num_samples})")

    from mnist1d.data import get_dataset_args, make_dataset  # lazy: imports matplotlib.pyplot

    args = get_dataset_args()
    args.num_samples, args.final_seq_length, args.seed = num_samples, length, seed
    # make_dataset draws from the global generators it seeds; put the caller's states back.
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    return _finish("mnist1d", np.asarray(data["x"], np.float32), np.asarray(data["y"], np.int32),
                   np.asarray(data["x_test"], np.float32), np.asarray(data["y_test"], np.int32), None, None,
                   n_train, n_test, seed)


def _tfds_help(name: str, data_dir: str) -> str:
    return (
        f"{_TFDS_IMAGES[name].title} is not prepared (in the array_record format) under {data_dir}.\n"
        "tfds.data_source reads it without TensorFlow, but tensorflow-datasets needs TensorFlow and internet access "
        "to build it, once. On any machine with both, run\n"
        "    pip install tensorflow tensorflow-datasets\n"
        f"    tfds build {name} --data_dir={data_dir} --file_format=array_record\n"
        f"(or in Python: tfds.data_source('{name}', data_dir=..., builder_kwargs={{'file_format': 'array_record'}})); "
        f"if built elsewhere, copy that data_dir's {name}/ folder to {data_dir}/{name}. load_{name}(..., "
        "download=True) builds it here when TensorFlow is installed and the network is reachable.\n"
        "Offline alternative: --data digits (scikit-learn's 8x8 digits, shipped with scikit-learn) or --data mnist1d "
        "(generated)."
    )


def _tfds_sources(name: str, data_dir: str | None, download: bool) -> tuple[Sequence[Any], Sequence[Any]]:
    """The train and test ``tfds.data_source`` sequences of ``name``, or :class:`DataUnavailableError`."""
    try:
        import tensorflow_datasets as tfds  # lazy: slow to import, and `import fcjax` must not depend on it
    except ImportError as err:
        raise DataUnavailableError(
            f"load_{name} needs tensorflow-datasets (pip install tensorflow-datasets). Offline alternative: --data "
            "digits"
        ) from err
    from tensorflow_datasets.core import constants

    where = str(data_dir) if data_dir is not None else constants.get_default_data_dir()
    try:
        # file_format is set explicitly: with a data_dir given, tfds.data_source would otherwise build (download=True)
        # in its default tfrecord format, which has no random access and so cannot be read back as a data source.
        train, test = tfds.data_source(
            name, split=["train", "test"], data_dir=data_dir, download=download,
            builder_kwargs={"file_format": "array_record"},
        )
    except (KeyError, NotImplementedError, OSError) as err:
        # tfds 4.9 raises KeyError ("splits is empty ... not been generated") for an unprepared data set and
        # NotImplementedError for one prepared in a format without random access (tfrecord).
        raise DataUnavailableError(_tfds_help(name, where)) from err
    except Exception as err:
        if not download:
            raise
        # A failed download or build (no network, no TensorFlow): same advice, with the cause chained.
        raise DataUnavailableError(_tfds_help(name, where)) from err
    return train, test


def _read_images(source: Sequence[Any], shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """All ``(h, w, c)`` uint8 images of ``source`` flattened row-major and scaled to [0, 1], and their labels."""
    n, size = len(source), math.prod(shape)
    images = np.empty((n, size), dtype=np.float32)
    labels = np.empty(n, dtype=np.int32)
    # One record at a time: tfds.testing.mock_data's batch __getitems__ is broken in tfds 4.9.10 (unbound partial).
    for i in range(n):
        record = source[i]
        images[i] = np.asarray(record["image"]).reshape(size)
        labels[i] = int(record["label"])
    return np.divide(images, np.float32(255.0), out=images), labels


def _load_tfds(name: str, d: Any, n_train: Any, n_test: Any, seed: Any, data_dir: Any, download: Any) -> Dataset:
    """The body of :func:`load_mnist` and :func:`load_cifar10`: every argument check, then reading and resizing."""
    info = _TFDS_IMAGES[name]
    side = _image_side(d, info.shape[2], name)
    n_train, n_test = _check_optional_count(n_train, "n_train"), _check_optional_count(n_test, "n_test")
    seed = _check_seed(seed)
    _check_available(n_train, info.n_train, "n_train", f"the {name} training split")
    _check_available(n_test, info.n_test, "n_test", f"the {name} test split")
    if not isinstance(download, bool):
        raise TypeError(f"download must be a bool, got {type(download).__name__}")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path (str or os.PathLike), got {type(data_dir).__name__}")

    train, test = _tfds_sources(name, None if data_dir is None else os.fspath(data_dir), download)
    x_train, y_train = _read_images(train, info.shape)
    x_test, y_test = _read_images(test, info.shape)
    return _finish(name, x_train, y_train, x_test, y_test, info.shape, side, n_train, n_test, seed)


def load_mnist(d: int | None = None, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
               data_dir: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """MNIST (28x28 grey, 60000 train / 10000 test) through ``tfds.data_source``, no TensorFlow needed to read it.

    Every record of both splits is read and decoded (PNG, by Pillow), then subsampled, then resized; to sweep ``d``,
    load once with ``d=None`` and call :func:`resize_images` per ``d``.

    Args:
      d: input dimension, a perfect square (``side * side``); ``None`` keeps 28x28.
      n_train: training images, class-stratified and chosen by ``seed``; ``None`` keeps all in stored order.
      n_test: likewise for the test images.
      seed: chooses the subsamples.
      data_dir: the tensorflow-datasets data directory (default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      download: let tensorflow-datasets download and build MNIST if it is not prepared (needs TensorFlow and
        internet). Off by default, so nothing is ever fetched unasked.

    Returns:
      A :class:`Dataset` with pixels scaled to [0, 1] and ``image_shape == (side, side, 1)``.

    Raises:
      DataUnavailableError: MNIST is not prepared under ``data_dir`` (the message says how to prepare it).
    """
    return _load_tfds("mnist", d, n_train, n_test, seed, data_dir, download)


def load_cifar10(d: int | None = None, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                 data_dir: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 (32x32 RGB, 50000 train / 10000 test) through ``tfds.data_source``, no TensorFlow needed to read it.

    Every record of both splits is read and decoded (PNG, by Pillow), then subsampled, then resized (each channel
    alike); to sweep ``d``, load once with ``d=None`` and call :func:`resize_images` per ``d``. Both splits at full
    size take about 740 MB as float32.

    Args:
      d: input dimension, ``3 * side * side``; ``None`` keeps 32x32 (``d = 3072``).
      n_train: training images, class-stratified and chosen by ``seed``; ``None`` keeps all in stored order.
      n_test: likewise for the test images.
      seed: chooses the subsamples.
      data_dir: the tensorflow-datasets data directory (default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      download: let tensorflow-datasets download and build CIFAR-10 if it is not prepared (needs TensorFlow and
        internet). Off by default, so nothing is ever fetched unasked.

    Returns:
      A :class:`Dataset` with pixels scaled to [0, 1], ``image_shape == (side, side, 3)`` and every image flattened
      row-major from ``(side, side, 3)`` (channels fastest).

    Raises:
      DataUnavailableError: CIFAR-10 is not prepared under ``data_dir`` (the message says how to prepare it).
    """
    return _load_tfds("cifar10", d, n_train, n_test, seed, data_dir, download)


def load_dataset(name: str, d: int | None = None, *, n_train: int | None = None, n_test: int | None = None,
                 seed: int = 0, data_dir: str | None = None) -> Dataset:
    """Load ``"digits"``, ``"mnist1d"``, ``"mnist"`` or ``"cifar10"`` at input dimension ``d``.

    Args:
      name: one of :data:`DATASETS`.
      d: input dimension; ``side * side`` for the grey image sets and ``3 * side * side`` for ``"cifar10"`` (resized
        to ``side x side``), any length for ``"mnist1d"``; ``None`` keeps the native size (64, 40, 784 and 3072).
      n_train: training examples, class-stratified and chosen by ``seed`` (nested: a smaller ``n_train`` gives a prefix
        of a larger one); ``None`` keeps the whole split in stored order.
      n_test: likewise for the test split.
      seed: chooses the subsamples (and seeds the MNIST-1D generator).
      data_dir: the tensorflow-datasets data directory, used by ``"mnist"`` and ``"cifar10"`` only (the others need
        no files).

    Returns:
      A :class:`Dataset`.

    Raises:
      DataUnavailableError: ``"mnist"`` or ``"cifar10"`` is not prepared under ``data_dir``; nothing is downloaded.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name == "digits":
        return load_digits(d, n_train=n_train, n_test=n_test, seed=seed)
    if name == "mnist1d":
        return load_mnist1d(d, n_train=n_train, n_test=n_test, seed=seed)
    if name == "mnist":
        return load_mnist(d, n_train=n_train, n_test=n_test, seed=seed, data_dir=data_dir)
    if name == "cifar10":
        return load_cifar10(d, n_train=n_train, n_test=n_test, seed=seed, data_dir=data_dir)
    raise ValueError(f"name must be one of {', '.join(map(repr, DATASETS))}, got {name!r}")
