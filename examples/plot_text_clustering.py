"""
Clustering documents: sparse TF-IDF rows
========================================

The documents are the docstrings of the public functions and classes of a few installed
packages (NumPy, SciPy, scikit-learn): a corpus that needs no download. ``TfidfVectorizer``
turns them into a sparse matrix, one row a document and one column a word, and
:class:`gkmeans.KMeans` clusters the sparse rows as they are: it never makes a dense copy of
them (the centres are dense, one weight per word). The words with the largest weights in each
centre name its cluster.
"""

# %%
# A corpus from installed packages
# --------------------------------
# Every public function or class with a docstring of some length, from a few subpackages; the
# subpackage is kept to see how the clusters relate to it.

import importlib
import inspect

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from gkmeans import KMeans

MODULES = [
    "numpy", "numpy.linalg", "numpy.fft", "numpy.random", "scipy.linalg", "scipy.stats",
    "scipy.optimize", "scipy.signal", "scipy.sparse", "scipy.interpolate", "scipy.special",
    "sklearn.cluster", "sklearn.linear_model", "sklearn.metrics", "sklearn.preprocessing",
    "sklearn.decomposition",
]

documents, sources, seen = [], [], set()
for module_name in MODULES:
    module = importlib.import_module(module_name)
    for name in sorted(set(getattr(module, "__all__", dir(module)))):
        obj = getattr(module, name, None)
        doc = inspect.getdoc(obj) if (inspect.isfunction(obj) or inspect.isclass(obj)) else None
        if name.startswith("_") or not doc or len(doc) < 300 or id(obj) in seen:
            continue
        seen.add(id(obj))
        documents.append(doc[:3000])  # the summary and parameters, not pages of examples
        sources.append(module_name.split(".")[0] if module_name.count(".") == 0 else module_name)
print(f"{len(documents)} docstrings from {len(MODULES)} modules")

# %%
# Sparse TF-IDF rows
# ------------------
# Words in at least 3 documents and at most half of them; rows scaled to unit length, so that
# the squared distance of two rows is 2 - 2 cos(angle): k-means on them clusters by cosine.

vectorizer = TfidfVectorizer(
    min_df=3, max_df=0.5, stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b"
)
X = vectorizer.fit_transform(documents)
print(f"X: {X.shape[0]} x {X.shape[1]}, {X.nnz} stored values "
      f"({X.nnz / (X.shape[0] * X.shape[1]):.1%} of the matrix), {type(X).__name__}")

# %%
# k-means on the sparse rows
# --------------------------

n_clusters = 8
model = KMeans(n_clusters, n_init=4, random_state=0).fit(X)
words = vectorizer.get_feature_names_out()
order = np.argsort(model.cluster_centers_, axis=1)[:, ::-1]
for cluster in range(n_clusters):
    members = np.flatnonzero(model.labels_ == cluster)
    top_words = ", ".join(words[order[cluster, :8]])
    modules, counts = np.unique(np.array(sources)[members], return_counts=True)
    main = modules[np.argmax(counts)]
    print(f"cluster {cluster} ({members.size:3d} docs, mostly {main}): {top_words}")

# %%
# The clusters in two dimensions
# ------------------------------
# ``TruncatedSVD`` (latent semantic analysis) projects the sparse rows on their two main
# directions without centring them, so it too works on the sparse matrix.

points = TruncatedSVD(2, random_state=0).fit_transform(X)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
colors = plt.cm.tab10(np.arange(n_clusters))  # one colour a cluster, in both panels
for cluster in range(n_clusters):
    mine = model.labels_ == cluster
    left.scatter(points[mine, 0], points[mine, 1], color=colors[cluster], s=10, label=str(cluster))
left.set(title="Docstrings, TF-IDF projected on 2 SVD components",
         xlabel="component 1", ylabel="component 2")
left.legend(title="cluster", fontsize=8, loc="best")
sizes = np.bincount(model.labels_, minlength=n_clusters)
labels = [f"{c}: " + ", ".join(words[order[c, :3]]) for c in range(n_clusters)]
right.barh(range(n_clusters), sizes, color=colors)
right.set_yticks(range(n_clusters), labels, fontsize=8)
right.invert_yaxis()
right.set(title="Cluster sizes and their top three words", xlabel="documents")
fig.tight_layout()
plt.show()
