"""
Choosing k: the elbow and its knee
==================================

:func:`gkmeans.selection.elbow` fits k-means for every k in a range and finds the knee of the
inertia curve (Kneedle on log-inertia). It reports a knee only when it is clear: on data without
cluster structure it says so instead of inventing one.
"""

# %%
# Five blobs in six dimensions.
import matplotlib.pyplot as plt
import numpy as np

from gkmeans.datasets import make_blobs
from gkmeans.plot import plot_elbow
from gkmeans.selection import elbow

X, _, _ = make_blobs(3000, 6, 5, cluster_std=1.0, random_state=7)
result = elbow(X, range(1, 13), n_init=3, random_state=0, scores=("silhouette",))
print(result)

# %%
# The curve with its knee at k = 5.
fig, ax = plt.subplots(layout="constrained")
plot_elbow(result, ax=ax)
plt.show()

# %%
# Uniform noise has no clusters, and no clear knee.
noise = np.random.default_rng(0).uniform(size=(3000, 6))
flat = elbow(noise, range(1, 13), n_init=1, random_state=0)
print(f"knee: {flat.k}; {flat.knee.reason}")
fig, ax = plt.subplots(layout="constrained")
plot_elbow(flat, ax=ax)
plt.show()
