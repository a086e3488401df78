"""
Colour quantisation of a photograph
===================================

Every pixel of a photograph is a point in RGB space. k-means with k clusters picks a palette of
k colours, and each pixel keeps only the index of its nearest palette colour: 24 bits per pixel
become ⌈log2 k⌉ bits plus the palette. :func:`gkmeans.image.compress` does this on any backend
(``device=`` as for :class:`gkmeans.KMeans`).

The photograph is scikit-learn's ``china.jpg`` (it ships with scikit-learn).
"""

# %%
# Load the photograph and compress it at several k. The palette is fitted on a random sample
# of ``max_fit_pixels`` pixels; every pixel is then assigned to its nearest palette colour.
import matplotlib.pyplot as plt
from sklearn.datasets import load_sample_image

from gkmeans.image import compress, decompress

china = load_sample_image("china.jpg")  # uint8, (427, 640, 3)
print(f"photograph: {china.shape}, {len(set(map(tuple, china.reshape(-1, 3))))} distinct colours")

results = {}
for k in (4, 16, 64):
    packed = compress(china, k, max_fit_pixels=20_000, random_state=0)
    results[k] = (decompress(packed), packed.ratio)
    print(f"k = {k:2d}: palette {packed.palette.shape}, {packed.ratio:.1f}x smaller")

# %%
# The original and the quantised pictures side by side.
fig, axes = plt.subplots(2, 2, figsize=(10, 7), layout="constrained")
axes[0, 0].imshow(china)
axes[0, 0].set_title("original (24 bits per pixel)")
for ax, (k, (picture, ratio)) in zip(axes.flat[1:], results.items()):
    ax.imshow(picture)
    ax.set_title(f"{k} colours ({ratio:.1f}x smaller)")
for ax in axes.flat:
    ax.set_axis_off()
plt.show()

# %%
# The palette of the 16-colour version, in the order k-means returned it.
packed = compress(china, 16, max_fit_pixels=20_000, random_state=0)
fig, ax = plt.subplots(figsize=(8, 1.2), layout="constrained")
ax.imshow(packed.palette[None, :, :])
ax.set_yticks([])
ax.set_xticks(range(16))
ax.set_title("16-colour palette")
plt.show()
