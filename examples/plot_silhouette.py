"""
Silhouette plots
================

The silhouette of a point compares its mean distance to its own cluster with its mean distance
to the nearest other cluster (1: well inside its cluster, 0: on a border, negative: probably in
the wrong cluster). :func:`gkmeans.plot.plot_silhouette` draws every point's silhouette, cluster
by cluster; :func:`gkmeans.metrics.silhouette_score` is their mean. Both are exact and computed in
chunks, without the n × n distance matrix.
"""

# %%
# Fit k = 3, 5 and 7 on data with five clusters, and compare the plots.
import matplotlib.pyplot as plt

from gkmeans import KMeans, metrics
from gkmeans.datasets import make_blobs
from gkmeans.plot import plot_clusters, plot_silhouette

X, _, _ = make_blobs(1500, 4, 5, cluster_std=1.5, random_state=3)

fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained", sharex=True)
for ax, k in zip(axes, (3, 5, 7)):
    km = KMeans(k, n_init=3, random_state=0).fit(X)
    plot_silhouette(X, km.labels_, ax=ax)
    ax.set_title(f"k = {k}: mean {metrics.silhouette_score(X, km.labels_):.3f}")
plt.show()

# %%
# The clusters at k = 5, in a PCA projection (the data have four features).
km = KMeans(5, n_init=3, random_state=0).fit(X)
fig, ax = plt.subplots(layout="constrained")
plot_clusters(X, km.labels_, km.cluster_centers_, ax=ax)
plt.show()
