"""
Watching k-means converge
=========================

``KMeans(history=True)`` records the centres at every iteration of the fit. This example
draws the path each centre takes (:func:`gkmeans.plot.plot_history`) and writes the fit as an
animated GIF, one frame per iteration (:func:`gkmeans.plot.animate_fit`).
"""

# %%
# Fit with the history recorded
# -----------------------------
# Random starting centres (``init="random"``) make the centres travel far enough to see.
# ``history_.centers`` has one row per iteration plus the start.
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from gkmeans import KMeans
from gkmeans.datasets import make_blobs
from gkmeans.plot import animate_fit, plot_history

X, _, _ = make_blobs(1500, 2, 5, cluster_std=1.8, random_state=3)
model = KMeans(5, init="random", n_init=1, random_state=1, history=True).fit(X)
history = model.history_
print(f"{model.n_iter_} iterations; centres recorded: {history.centers.shape}")
print("inertia per iteration:", np.round(history.inertia, 1))

# %%
# The paths of the centres
# ------------------------
# Open circles are the starting centres, crosses the final ones; the points are coloured by
# their final cluster. Data with more than two columns is drawn in its first two principal
# components. From these random starts the fit ends in a local minimum: two blobs at the
# bottom share one centre while another blob is split in two, which k-means++ starts
# (the default) or more restarts (``n_init``) avoid.
plot_history(X, model)
plt.show()

# %%
# The fit as an animation
# -----------------------
# ``animate_fit`` writes one frame per iteration: the points coloured by their nearest centre
# at that iteration, the centres, and the trails they left. A ``.mp4`` path works too where the
# ``ffmpeg`` program is installed. The same from the command line:
# ``gkmeans animate X.npy -k 5 --out fit.gif``.
animate_fit(X, path="convergence.gif", model=model, fps=2)

# A few of the GIF's frames, side by side.
with Image.open("convergence.gif") as gif:
    shown = [0, 1, 3, gif.n_frames - 1]
    fig, axes = plt.subplots(2, 2, figsize=(9, 7))
    for ax, frame in zip(axes.ravel(), shown):
        gif.seek(frame)
        ax.imshow(gif.convert("RGB"))
        ax.set_title(f"frame {frame} of {gif.n_frames - 1}")
        ax.axis("off")
fig.tight_layout()
plt.show()
