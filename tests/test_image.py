"""Image compression: palette, indices, ratio, file round trip, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from gkmeans.image import (
    CompressedImage,
    compress,
    compression_ratio,
    decompress,
    read_image,
    sample_image,
    write_image,
)

PICTURE = sample_image((48, 64), random_state=0)


def test_sample_image_is_photo_like():
    assert PICTURE.dtype == np.uint8 and PICTURE.shape == (48, 64, 3)
    assert len(np.unique(PICTURE.reshape(-1, 3), axis=0)) > 1000  # many distinct colours
    np.testing.assert_array_equal(PICTURE, sample_image((48, 64), random_state=0))


def test_compress_and_decompress(backend):
    packed = compress(backend.asarray(PICTURE), 16, random_state=0)
    assert backend.is_own(packed.palette) and backend.is_own(packed.indices)
    palette, indices = backend.to_numpy(packed.palette), backend.to_numpy(packed.indices)
    assert palette.shape == (16, 3) and palette.dtype == np.uint8
    assert indices.shape == (48, 64) and indices.dtype == np.uint8 and indices.max() < 16
    restored = backend.to_numpy(decompress(packed))
    assert restored.shape == PICTURE.shape and restored.dtype == np.uint8
    np.testing.assert_array_equal(restored, palette[indices])
    # every pixel gets its nearest palette colour, and 16 colours keep the picture close
    error = np.abs(restored.astype(int) - PICTURE.astype(int)).mean()
    assert error < 8


def test_more_colours_less_error():
    errors = []
    for k in (2, 8, 32):
        restored = decompress(compress(PICTURE, k, random_state=0))
        errors.append(np.abs(restored.astype(int) - PICTURE.astype(int)).mean())
    assert errors[0] > errors[1] > errors[2]


def test_ratio_follows_the_course_formula():
    packed = compress(PICTURE, 16, random_state=0)
    expected = 24 * 48 * 64 / (48 * 64 * 4 + 16 * 24)
    assert packed.bits_per_pixel == 4 and packed.ratio == pytest.approx(expected)
    assert compression_ratio(128 * 128, 16) == pytest.approx(393216 / 65920)


def test_fit_on_a_pixel_sample():
    packed = compress(PICTURE, 8, random_state=0, max_fit_pixels=500)
    assert packed.fit_pixels == 500 and packed.indices.shape == (48, 64)
    assert compress(PICTURE, 8, random_state=0, max_fit_pixels=None).fit_pixels == 48 * 64


def test_float_and_rgba_input():
    rgba = np.concatenate([PICTURE, np.full((48, 64, 1), 255, np.uint8)], axis=2)
    a = compress(rgba, 4, random_state=0)
    b = compress(PICTURE / 255.0, 4, random_state=0)
    np.testing.assert_array_equal(a.indices, b.indices)


def test_bad_input():
    with pytest.raises(ValueError, match=r"expected \(height, width, 3\)"):
        compress(PICTURE[:, :, 0], 4)
    with pytest.raises(ValueError, match="values in \\[0, 1\\]"):
        compress(PICTURE.astype(float), 4)
    with pytest.raises(ValueError, match="n_colors=1 must be an int >= 2"):
        compress(PICTURE, 1)
    with pytest.raises(TypeError, match="expects a CompressedImage"):
        decompress(PICTURE)


def test_file_round_trip(tmp_path):
    pytest.importorskip("PIL")
    write_image(tmp_path / "p.png", PICTURE)
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), PICTURE)
    write_image(tmp_path / "p.jpg", PICTURE)
    assert read_image(tmp_path / "p.jpg").shape == PICTURE.shape
    (tmp_path / "not.png").write_text("no")
    with pytest.raises(ValueError, match="is not an image"):
        read_image(tmp_path / "not.png")
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="expects uint8 RGB"):
        write_image(tmp_path / "x.png", PICTURE.astype(float))
    assert isinstance(compress(PICTURE, 2, random_state=0), CompressedImage)
