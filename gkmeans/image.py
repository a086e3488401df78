"""Image compression with k-means (colour quantisation), as in the course material.

Every pixel is a point in RGB space; k-means finds ``n_colors`` representative
colours (the palette) and each pixel keeps only the index of its colour. A
24-bit RGB image then needs ``ceil(log2 k)`` bits per pixel plus the palette.
Reading and writing PNG/JPEG needs Pillow (the ``image`` extra).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from gkmeans._compat import array_namespace, to_numpy
from gkmeans._random import make_rng
from gkmeans._validation import as_array, check_int
from gkmeans.estimator import KMeans

__all__ = [
    "CompressedImage",
    "compress",
    "decompress",
    "compression_ratio",
    "read_image",
    "write_image",
    "sample_image",
]


#: The suffixes :meth:`CompressedImage.save` writes: an indexed (palette) image, at most
#: :data:`MAX_PALETTE_COLORS` colours, or NumPy's ``.npz`` (any number).
SAVE_SUFFIXES = (".png", ".gif", ".npz")
#: The most colours a PNG or GIF palette holds.
MAX_PALETTE_COLORS = 256


@dataclass(frozen=True)
class CompressedImage:
    """A palette of colours and, per pixel, the index of its colour.

    :meth:`save` writes it as an indexed PNG or GIF (the palette and one index per pixel,
    as the format stores them) or as ``.npz``; :meth:`load` reads it back.

    Attributes
    ----------
    palette : uint8 array of shape (n_colors, 3)
    indices : uint8 or uint16 array of shape (height, width)
    fit_pixels : int or None
        How many pixels the palette was fitted on (None when loaded from a PNG or GIF,
        which do not record it).

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.image import CompressedImage
    >>> packed = CompressedImage(
    ...     np.array([[0, 0, 0], [255, 255, 255]], dtype=np.uint8),
    ...     np.array([[0, 1], [1, 0]], dtype=np.uint8),
    ...     4,
    ... )
    >>> packed.shape, packed.bits_per_pixel
    ((2, 2, 3), 1)
    """

    palette: Any
    indices: Any
    fit_pixels: int | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.indices.shape[0]), int(self.indices.shape[1]), 3)

    @property
    def bits_per_pixel(self) -> int:
        return max(1, math.ceil(math.log2(self.palette.shape[0])))

    @property
    def ratio(self) -> float:
        """Original size over compressed size (24 bits per pixel against index bits plus
        palette)."""
        return compression_ratio(self.shape[0] * self.shape[1], self.palette.shape[0])

    def save(self, path: str | os.PathLike) -> None:
        """Write the palette and indices to ``path``; the suffix chooses the format.

        ``.png`` and ``.gif``: an indexed (palette, Pillow mode "P") image, which any
        viewer shows as the quantised picture, at most 256 colours; a PNG stores 1, 2,
        4 or 8 bits per index as the palette size allows. ``.npz``: NumPy arrays
        ``palette``, ``indices`` and ``fit_pixels``, exactly as they are, any number of
        colours. PNG and GIF need Pillow (the ``image`` extra).

        Parameters
        ----------
        path : str or path-like
            Ending in ``.png``, ``.gif`` or ``.npz``.

        Raises
        ------
        ValueError
            Another suffix, or more than 256 colours for a PNG or GIF.

        Examples
        --------
        >>> from gkmeans.image import CompressedImage, compress, sample_image
        >>> packed = compress(sample_image((32, 48)), 8, random_state=0)
        >>> packed.save("picture.png")
        >>> back = CompressedImage.load("picture.png")
        >>> back.palette.shape, back.indices.shape
        ((8, 3), (32, 48))
        """
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix not in SAVE_SUFFIXES:
            msg = (
                f"cannot save a CompressedImage as {os.fspath(path)!r}: expected a name ending "
                f"in one of {', '.join(SAVE_SUFFIXES)}"
            )
            raise ValueError(msg)
        palette = np.asarray(to_numpy(self.palette))
        indices = np.asarray(to_numpy(self.indices))
        if palette.ndim != 2 or palette.shape[1] != 3 or indices.ndim != 2:
            msg = (
                f"palette has shape {palette.shape} and indices {indices.shape}; expected "
                "(n_colors, 3) and (height, width)"
            )
            raise ValueError(msg)
        if suffix == ".npz":
            with open(path, "wb") as handle:  # a handle: np.savez would append ".npz" itself
                np.savez_compressed(
                    handle,
                    palette=palette,
                    indices=indices,
                    fit_pixels=np.int64(-1 if self.fit_pixels is None else self.fit_pixels),
                )
            return
        n_colors = palette.shape[0]
        if n_colors > MAX_PALETTE_COLORS:
            msg = (
                f"a {suffix} palette holds at most {MAX_PALETTE_COLORS} colours; this image has "
                f"k={n_colors}: save it as .npz, or write decompress(...) as an RGB image with "
                "write_image"
            )
            raise ValueError(msg)
        if palette.dtype.kind not in "ui" or palette.min() < 0 or palette.max() > 255:
            msg = (
                f"a {suffix} palette holds 0..255 integers; this palette is {palette.dtype} with "
                f"values in [{palette.min()}, {palette.max()}]: save it as .npz"
            )
            raise ValueError(msg)
        Image = _pillow()
        picture = Image.fromarray(indices.astype(np.uint8))
        # A palette of exactly k entries: Pillow then writes a PNG with 1, 2 or 4 bits per
        # index when k allows it.
        picture.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
        # optimize=False keeps a GIF's palette order, hence the indices, as they are.
        options = {"optimize": True} if suffix == ".png" else {"optimize": False}
        picture.save(path, **options)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CompressedImage:
        """Read a CompressedImage written by :meth:`save` (or any palette PNG or GIF).

        From a PNG or GIF the palette is the image's palette and the indices its
        pixels; a GIF pads its palette to a power of two, so the palette is cut after
        the highest index used.

        Parameters
        ----------
        path : str or path-like
            A ``.npz`` written by :meth:`save`, or an indexed (mode "P") PNG or GIF.

        Returns
        -------
        CompressedImage
            NumPy arrays.

        Raises
        ------
        ValueError
            A file that is not a palette image or a valid ``.npz``.
        """
        name = os.fspath(path)
        if not os.path.exists(name):
            raise FileNotFoundError(f"no compressed image at {name!r}")
        if os.path.splitext(name)[1].lower() == ".npz":
            return _load_npz(name)
        Image = _pillow()
        try:
            with Image.open(name) as opened:
                if opened.mode != "P":
                    msg = (
                        f"{name!r} is a {opened.mode} image, not an indexed (palette) one; "
                        "read it with read_image"
                    )
                    raise ValueError(msg)
                indices = np.asarray(opened).copy()
                raw = opened.getpalette() or []
                is_gif = opened.format == "GIF"
        except Image.UnidentifiedImageError as exc:
            raise ValueError(f"{name!r} is not an image Pillow can read") from exc
        palette = np.asarray(raw, dtype=np.uint8).reshape(-1, 3)
        used = int(indices.max()) + 1
        if used > palette.shape[0]:
            msg = (
                f"{name!r} has pixel index {used - 1} beyond its {palette.shape[0]}-colour palette"
            )
            raise ValueError(msg)
        if is_gif:
            palette = palette[:used]
        return cls(palette=palette, indices=indices, fit_pixels=None)


def _load_npz(name: str) -> CompressedImage:
    try:
        with np.load(name, allow_pickle=False) as stored:
            palette, indices = stored["palette"], stored["indices"]
            fit_pixels = int(stored["fit_pixels"]) if "fit_pixels" in stored.files else -1
    except (KeyError, ValueError, OSError) as exc:
        msg = f"{name!r} is not a CompressedImage .npz (palette and indices arrays): {exc}"
        raise ValueError(msg) from exc
    if palette.ndim != 2 or palette.shape[1] != 3 or indices.ndim != 2:
        msg = (
            f"{name!r} holds a palette of shape {palette.shape} and indices of shape "
            f"{indices.shape}; expected (n_colors, 3) and (height, width)"
        )
        raise ValueError(msg)
    if indices.dtype.kind not in "ui" or (indices.size and int(indices.max()) >= len(palette)):
        msg = f"{name!r} holds indices that are not integers below its {len(palette)} colours"
        raise ValueError(msg)
    return CompressedImage(palette, indices, None if fit_pixels < 0 else fit_pixels)


def compression_ratio(n_pixels: int, n_colors: int) -> float:
    """``24 n / (n ceil(log2 k) + 24 k)``: the gain of storing indices and a palette.

    Examples
    --------
    >>> round(compression_ratio(128 * 128, 16), 2)
    5.97
    """
    n_pixels = check_int(n_pixels, "n_pixels", 1)
    n_colors = check_int(n_colors, "n_colors", 1)
    bits = max(1, math.ceil(math.log2(n_colors)))
    return 24 * n_pixels / (n_pixels * bits + 24 * n_colors)


def _pixels(image: Any) -> tuple[Any, Any, tuple[int, int]]:
    image, xp = as_array(image, "image")
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        msg = (
            f"image has shape {tuple(image.shape)}; expected (height, width, 3) RGB or (height, "
            "width, 4) RGBA"
        )
        raise ValueError(msg)
    height, width = int(image.shape[0]), int(image.shape[1])
    rgb = image[:, :, :3]
    if xp.isdtype(rgb.dtype, "integral"):
        scaled = xp.astype(rgb, xp.float32) / 255.0
    elif xp.isdtype(rgb.dtype, "real floating"):
        scaled = xp.astype(rgb, xp.float32)
        if float(xp.min(scaled)) < 0 or float(xp.max(scaled)) > 1:
            raise ValueError(
                "a float image must have values in [0, 1]; integer images are read as 0..255"
            )
    else:
        msg = f"image has dtype {rgb.dtype}; expected uint8 (0..255) or float (0..1)"
        raise TypeError(msg)
    return xp.reshape(scaled, (height * width, 3)), xp, (height, width)


def compress(
    image: Any,
    n_colors: int = 16,
    *,
    device: str | None = None,
    random_state: Any = None,
    max_fit_pixels: int | None = 250_000,
    n_init: int | str = "auto",
    max_iter: int = 300,
    verbose: int = 0,
) -> CompressedImage:
    """Quantise an RGB image to ``n_colors`` colours with k-means.

    Parameters
    ----------
    image : array of shape (height, width, 3 or 4)
        uint8 (0..255) or float (0..1), any Array API backend; an alpha channel is ignored.
    n_colors : int, default 16
        Palette size, 2..65536.
    device : {"auto", "cpu", "gpu", "cuda:N"}, optional
    random_state : None, int or Generator
    max_fit_pixels : int or None, default 250000
        The palette is fitted on at most this many pixels drawn at random (every
        pixel when None or when the image is smaller); every pixel is then
        assigned to its nearest palette colour. ``fit_pixels`` in the result says
        how many were used.
    n_init, max_iter
        As for :class:`gkmeans.KMeans`.
    verbose : int, default 0
        As for :class:`gkmeans.KMeans`: above 0, the palette fit prints its progress (the
        inertia of every iteration) on stdout.

    Returns
    -------
    CompressedImage
        Palette and indices in the image's namespace and on its device.

    Examples
    --------
    >>> from gkmeans.image import compress, decompress, sample_image
    >>> picture = sample_image((32, 48), random_state=0)
    >>> packed = compress(picture, 8, random_state=0)
    >>> packed.palette.shape, packed.indices.shape, decompress(packed).shape
    ((8, 3), (32, 48), (32, 48, 3))
    """
    n_colors = check_int(n_colors, "n_colors", 2)
    if n_colors > 65536:
        raise ValueError(f"n_colors={n_colors} must be <= 65536 (indices are stored as uint16)")
    pixels, xp, (height, width) = _pixels(image)
    n_pixels = height * width
    if n_colors > n_pixels:
        raise ValueError(f"n_colors={n_colors} must be <= the number of pixels {n_pixels}")
    rng = make_rng(random_state)
    fit_on = pixels
    if max_fit_pixels is not None:
        max_fit_pixels = check_int(max_fit_pixels, "max_fit_pixels", n_colors)
        if n_pixels > max_fit_pixels:
            pick = rng.choice(n_pixels, size=max_fit_pixels, replace=False).astype(np.int64)
            fit_on = xp.take(pixels, xp.asarray(pick, device=pixels.device), axis=0)
    model = KMeans(
        n_colors,
        n_init=n_init,
        max_iter=max_iter,
        random_state=rng,
        device=device,
        verbose=verbose,
    )
    model.fit(fit_on)
    labels = model.labels_ if fit_on is pixels else model.predict(pixels)
    palette = xp.astype(xp.round(xp.clip(model.cluster_centers_, min=0, max=1) * 255), xp.uint8)
    index_dtype = xp.uint8 if n_colors <= 256 else xp.uint16
    indices = xp.reshape(xp.astype(labels, index_dtype), (height, width))
    return CompressedImage(palette=palette, indices=indices, fit_pixels=int(fit_on.shape[0]))


def decompress(compressed: CompressedImage) -> Any:
    """The quantised RGB image (uint8, shape (height, width, 3)) from a palette and indices."""
    if not isinstance(compressed, CompressedImage):
        msg = (
            "decompress expects a CompressedImage from gkmeans.image.compress; got "
            f"{type(compressed).__name__}"
        )
        raise TypeError(msg)
    xp = array_namespace(compressed.indices)
    flat = xp.reshape(xp.astype(compressed.indices, xp.int64), (-1,))
    return xp.reshape(xp.take(compressed.palette, flat, axis=0), compressed.shape)


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            "reading and writing images needs Pillow: pip install 'gkmeans[image]'"
        ) from exc
    return Image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG/... file as a uint8 RGB array of shape (height, width, 3).

    A palette, greyscale or RGBA image is converted to RGB (alpha dropped).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    uint8 ndarray of shape (height, width, 3)
    """
    Image = _pillow()
    if not os.path.exists(path):
        raise FileNotFoundError(f"no image file at {os.fspath(path)!r}")
    try:
        with Image.open(path) as opened:
            return np.asarray(opened.convert("RGB"))
    except Image.UnidentifiedImageError as exc:
        raise ValueError(f"{os.fspath(path)!r} is not an image Pillow can read") from exc


def write_image(path: str | os.PathLike, image: Any) -> None:
    """Write a uint8 RGB array to ``path``; the format follows the extension (.png, .jpg, ...).

    This writes 24 bits per pixel (before the format's own compression); to store a
    quantised image as a palette and indices, use :meth:`CompressedImage.save`.

    Parameters
    ----------
    path : str or path-like
    image : uint8 array of shape (height, width, 3), any Array API backend
    """
    Image = _pillow()
    pixels = np.asarray(to_numpy(as_array(image, "image")[0]))
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        msg = (
            f"write_image expects uint8 RGB of shape (height, width, 3); got {pixels.dtype} "
            f"{pixels.shape}"
        )
        raise ValueError(msg)
    try:
        Image.fromarray(pixels, mode="RGB").save(path)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"cannot write {os.fspath(path)!r}: unknown image format ({exc})") from exc


#: The largest picture :func:`sample_image` makes, in pixels (4096 x 4096). It is drawn in
#: float64 with about 170 MiB of working memory per million pixels (2.7 GiB at this size);
#: larger sizes are refused before anything is allocated.
MAX_SAMPLE_PIXELS = 4096 * 4096


def sample_image(size: tuple[int, int] = (192, 256), *, random_state: Any = 0) -> np.ndarray:
    """A photo-like test picture (sky gradient, sun, hills, a lake, grain), uint8 RGB.

    Generated, so free of licence questions; smooth gradients and soft edges give
    k-means the kind of colour distribution a photograph has.

    Parameters
    ----------
    size : (int, int), default (192, 256)
        Height and width, each at least 8, at most :data:`MAX_SAMPLE_PIXELS` pixels in all.
    random_state : int, Generator or None, default 0
        Seed of the grain.

    Returns
    -------
    image : uint8 array of shape (height, width, 3)

    Raises
    ------
    ValueError
        A side below 8, or more than :data:`MAX_SAMPLE_PIXELS` pixels.
    """
    height, width = (check_int(size[0], "height", 8), check_int(size[1], "width", 8))
    if height * width > MAX_SAMPLE_PIXELS:
        msg = (
            f"a sample image of {height}x{width} pixels is too large: at most "
            f"{MAX_SAMPLE_PIXELS} pixels (MAX_SAMPLE_PIXELS, e.g. 4096x4096)"
        )
        raise ValueError(msg)
    rng = make_rng(random_state)
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    image = np.empty((height, width, 3))
    sky = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.95 - 0.2 * y], axis=-1)
    image[:] = sky
    sun = np.exp(-(((x - 0.75) / 0.08) ** 2 + ((y - 0.25) / 0.1) ** 2))
    image += sun[..., None] * np.array([0.6, 0.45, 0.0])
    for phase, level, colour in [(0.0, 0.55, (0.25, 0.45, 0.2)), (2.0, 0.65, (0.15, 0.35, 0.12))]:
        ridge = level + 0.08 * np.sin(6 * x + phase) + 0.04 * np.sin(17 * x + phase)
        hill = 1 / (1 + np.exp(-(y - ridge) * 60))
        shade = np.array(colour) * (0.8 + 0.4 * (1 - y))[..., None]
        image = image * (1 - hill[..., None]) + shade * hill[..., None]
    lake = 1 / (1 + np.exp(-(y - 0.85) * 80)) * np.exp(-(((x - 0.35) / 0.3) ** 2))
    image = image * (1 - lake[..., None]) + np.array([0.2, 0.35, 0.6]) * lake[..., None]
    image += rng.normal(scale=0.02, size=image.shape)
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
