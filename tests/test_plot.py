"""Plots render to PNG files with the Agg backend."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from gkmeans import KMeans  # noqa: E402
from gkmeans.datasets import make_blobs  # noqa: E402
from gkmeans.plot import plot_clusters, plot_elbow, plot_silhouette  # noqa: E402
from gkmeans.selection import elbow  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 5_000


@pytest.fixture(scope="module")
def fitted():
    X, _, _ = make_blobs(600, 3, 4, cluster_std=0.6, random_state=0)
    return X, KMeans(4, random_state=0).fit(X)


def test_elbow_plot(tmp_path, fitted):
    X, _ = fitted
    result = elbow(X, range(1, 9), random_state=0)
    ax = plot_elbow(result, path=tmp_path / "elbow.png")
    assert _is_png(tmp_path / "elbow.png")
    assert ax.get_title() == "Elbow: k = 4"
    assert any("knee k=4" in text.get_text() for text in ax.get_legend().get_texts())


def test_elbow_plot_without_clear_knee(tmp_path):
    U = np.random.default_rng(0).uniform(size=(500, 3))
    ax = plot_elbow(elbow(U, range(1, 9), random_state=0), path=tmp_path / "noise.png")
    assert ax.get_title() == "Elbow: no clear knee" and _is_png(tmp_path / "noise.png")


def test_silhouette_plot(tmp_path, fitted):
    X, km = fitted
    ax = plot_silhouette(X, km.labels_, path=tmp_path / "sil.png")
    assert _is_png(tmp_path / "sil.png") and ax.get_title() == "Silhouette per cluster"


def test_cluster_scatter_with_pca(tmp_path, fitted):
    X, km = fitted
    ax = plot_clusters(X, km.labels_, km.cluster_centers_, path=tmp_path / "clusters.png")
    assert _is_png(tmp_path / "clusters.png") and "PCA" in ax.get_title()
    X2 = X[:, :2]
    ax2 = plot_clusters(X2, km.labels_)
    assert ax2.get_title() == "Clusters"


def test_plot_errors(fitted):
    X, km = fitted
    with pytest.raises(TypeError, match="expects the ElbowResult"):
        plot_elbow([1, 2, 3])
    with pytest.raises(ValueError, match="one label per sample"):
        plot_clusters(X, km.labels_[:10])
