"""Make the figures shown in the README (run from the repository root).

    python docs/make_figures.py

Writes docs/images/elbow.png, silhouette.png and clusters.png from generated blobs.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from gkmeans import KMeans  # noqa: E402
from gkmeans.datasets import make_blobs  # noqa: E402
from gkmeans.plot import plot_clusters, plot_elbow, plot_silhouette  # noqa: E402
from gkmeans.selection import elbow  # noqa: E402

OUT = Path(__file__).resolve().parent / "images"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    X, _, _ = make_blobs(3000, 6, 5, cluster_std=1.0, random_state=7)
    result = elbow(X, range(1, 13), n_init=3, random_state=0, scores=("silhouette",))
    print(result)
    plot_elbow(result, path=OUT / "elbow.png")
    model = KMeans(result.k or 5, n_init=3, random_state=0).fit(X)
    plot_silhouette(X, model.labels_, path=OUT / "silhouette.png")
    plot_clusters(X, model.labels_, model.cluster_centers_, path=OUT / "clusters.png")
    print(f"wrote {sorted(p.name for p in OUT.glob('*.png'))} to {OUT}")


if __name__ == "__main__":
    main()
