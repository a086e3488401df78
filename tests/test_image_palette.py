"""CompressedImage.save / load: indexed PNG and GIF, exact .npz, and real file sizes."""

from __future__ import annotations

import numpy as np
import pytest

from gkmeans.image import (
    CompressedImage,
    compress,
    decompress,
    read_image,
    sample_image,
    write_image,
)

Image = pytest.importorskip("PIL.Image")

PICTURE = sample_image((48, 64), random_state=1)


@pytest.fixture(scope="module")
def packed():
    return compress(PICTURE, 12, random_state=0)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_file_is_indexed_and_shows_the_quantised_picture(tmp_path, packed, suffix):
    path = tmp_path / f"small{suffix}"
    packed.save(path)
    with Image.open(path) as opened:
        assert opened.mode == "P"
        np.testing.assert_array_equal(np.asarray(opened), packed.indices)
    # what any viewer shows: the quantised picture
    np.testing.assert_array_equal(read_image(path), decompress(packed))


@pytest.mark.parametrize("suffix", [".png", ".gif", ".npz"])
def test_save_load_round_trip(tmp_path, packed, suffix):
    path = tmp_path / f"small{suffix}"
    packed.save(path)
    back = CompressedImage.load(path)
    np.testing.assert_array_equal(back.palette, packed.palette)
    np.testing.assert_array_equal(back.indices, packed.indices)
    assert back.palette.dtype == np.uint8
    np.testing.assert_array_equal(decompress(back), decompress(packed))
    assert back.fit_pixels == (packed.fit_pixels if suffix == ".npz" else None)


def test_npz_keeps_dtypes_and_more_than_256_colours(tmp_path):
    picture = sample_image((40, 40), random_state=2)
    big = compress(picture, 300, random_state=0, max_fit_pixels=None, n_init=1, max_iter=5)
    assert big.indices.dtype == np.uint16
    big.save(tmp_path / "big.npz")
    back = CompressedImage.load(tmp_path / "big.npz")
    assert back.indices.dtype == np.uint16 and back.palette.shape == (300, 3)
    np.testing.assert_array_equal(back.indices, big.indices)
    np.testing.assert_array_equal(back.palette, big.palette)
    for suffix in (".png", ".gif"):
        with pytest.raises(
            ValueError, match=r"at most 256 colours; this image has k=300: save it as \.npz"
        ):
            big.save(tmp_path / f"big{suffix}")
        assert not (tmp_path / f"big{suffix}").exists()


def test_palette_png_is_smaller_than_the_rgb_png(tmp_path):
    packed = compress(sample_image(), 16, random_state=0)
    write_image(tmp_path / "rgb.png", decompress(packed))
    packed.save(tmp_path / "palette.png")
    with Image.open(tmp_path / "palette.png") as opened:  # 16 colours: 4 bits per index
        assert opened.mode == "P" and len(opened.getpalette()) == 16 * 3
    assert (tmp_path / "palette.png").stat().st_size < (tmp_path / "rgb.png").stat().st_size


def test_save_from_every_backend(tmp_path, backend):
    packed = compress(backend.asarray(PICTURE), 6, random_state=0)
    packed.save(tmp_path / "b.png")
    back = CompressedImage.load(tmp_path / "b.png")
    np.testing.assert_array_equal(back.indices, backend.to_numpy(packed.indices))
    np.testing.assert_array_equal(back.palette, backend.to_numpy(packed.palette))


def test_gif_palette_padding_is_cut(tmp_path):
    packed = compress(PICTURE, 5, random_state=0)  # GIF stores 8 entries
    packed.save(tmp_path / "five.gif")
    assert CompressedImage.load(tmp_path / "five.gif").palette.shape == (5, 3)


def test_errors_name_the_file_and_the_formats(tmp_path, packed):
    with pytest.raises(
        ValueError, match=r"'.*x\.jpg': expected a name ending in one of \.png, \.gif, \.npz"
    ):
        packed.save(tmp_path / "x.jpg")
    write_image(tmp_path / "rgb.png", PICTURE)
    with pytest.raises(ValueError, match="is a RGB image, not an indexed"):
        CompressedImage.load(tmp_path / "rgb.png")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        CompressedImage.load(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not an image Pillow can read"):
        CompressedImage.load(tmp_path / "junk.png")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a CompressedImage .npz"):
        CompressedImage.load(tmp_path / "other.npz")
    np.savez(
        tmp_path / "bad.npz",
        palette=np.zeros((2, 3), np.uint8),
        indices=np.full((2, 2), 5, np.uint8),
    )
    with pytest.raises(ValueError, match="not integers below its 2 colours"):
        CompressedImage.load(tmp_path / "bad.npz")
    floats = CompressedImage(
        np.array([[0.5, 0.5, 0.5], [1.0, 0.0, 0.0]]), np.zeros((2, 2), np.uint8)
    )
    with pytest.raises(ValueError, match="palette holds 0..255 integers; this palette is float64"):
        floats.save(tmp_path / "floats.png")
    floats.save(tmp_path / "floats.npz")  # .npz keeps any palette exactly
    np.testing.assert_array_equal(
        CompressedImage.load(tmp_path / "floats.npz").palette, floats.palette
    )


def test_compress_verbose_prints_the_palette_fit(capsys):
    from gkmeans.image import compress, sample_image

    compress(sample_image((24, 32), random_state=0), 4, random_state=0, verbose=1)
    printed = capsys.readouterr().out
    assert "Iteration" in printed or "iteration" in printed
    compress(sample_image((24, 32), random_state=0), 4, random_state=0)
    assert capsys.readouterr().out == ""
