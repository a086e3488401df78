"""
Anomaly detection and its threshold
===================================

Two detectors learn what normal data look like from normal examples only, and flag points whose
score falls below a threshold:

- :class:`gkmeans.anomaly.GaussianAnomalyDetector`: the density of a Gaussian fitted to the
  normal data; the threshold ε is chosen by F1 on labelled validation data
  (:func:`gkmeans.anomaly.select_threshold`).
- :class:`gkmeans.anomaly.KMeansAnomalyDetector`: minus the distance to the nearest k-means
  centre, for normal data made of several groups; the threshold is the 1% quantile of the
  training scores (``contamination=0.01``).
"""

# %%
# Correlated 2-D normal data, and a validation set with 5% anomalies.
import matplotlib.pyplot as plt
import numpy as np

from gkmeans.anomaly import GaussianAnomalyDetector, KMeansAnomalyDetector, select_threshold

rng = np.random.default_rng(0)
cov = np.array([[1.0, 0.8], [0.8, 1.0]])
normal = rng.multivariate_normal([0, 0], cov, size=2000)
angles = rng.uniform(0, 2 * np.pi, size=25)
outliers = np.c_[np.cos(angles), np.sin(angles)] * rng.uniform(3.5, 5, size=(25, 1))
X_val = np.vstack([rng.multivariate_normal([0, 0], cov, size=500), outliers])
y_val = np.r_[np.zeros(500), np.ones(25)]

detector = GaussianAnomalyDetector("full").fit(normal)
epsilon, f1 = select_threshold(y_val, detector.score_samples(X_val))
detector.fit_threshold(X_val, y_val)
flags = detector.predict(X_val)
print(f"log-density threshold {detector.threshold_:.3f} (F1 {f1:.3f} on validation data)")
print(f"flagged {int(flags.sum())} of {len(X_val)}; true anomalies {int(y_val.sum())}")

# %%
# The log-density, the threshold as a contour, and the validation points: a point outside the
# thick contour is flagged.
grid = np.linspace(-5.5, 5.5, 200)
gx, gy = np.meshgrid(grid, grid)
log_p = detector.score_samples(np.c_[gx.ravel(), gy.ravel()]).reshape(gx.shape)

fig, ax = plt.subplots(figsize=(6, 5.5), layout="constrained")
filled = ax.contourf(gx, gy, log_p, levels=np.linspace(-15, log_p.max(), 15), cmap="Blues")
fig.colorbar(filled, ax=ax, label="log-density")
ax.contour(
    gx, gy, log_p, levels=[detector.threshold_], colors="black", linewidths=2, linestyles="solid"
)
ax.scatter(*X_val[flags == 0].T, s=6, c="tab:gray", label="normal")
ax.scatter(*X_val[flags == 1].T, s=30, c="tab:red", marker="x", label="flagged")
ax.set_title("Gaussian density, threshold chosen by F1")
ax.legend(loc="upper left")
plt.show()

# %%
# Normal data in three groups: one Gaussian would fit them badly, the distance to the nearest
# of three k-means centres does not.
centres = np.array([[-3.0, 0.0], [2.0, 2.5], [2.0, -2.5]])
groups = np.vstack([c + 0.6 * rng.normal(size=(700, 2)) for c in centres])
by_distance = KMeansAnomalyDetector(3, contamination=0.01, random_state=0).fit(groups)
probe = rng.uniform(-6, 6, size=(300, 2))
far = by_distance.predict(probe)

grid = np.linspace(-6, 6, 200)
gx, gy = np.meshgrid(grid, grid)
score = by_distance.score_samples(np.c_[gx.ravel(), gy.ravel()]).reshape(gx.shape)

fig, ax = plt.subplots(figsize=(6, 5.5), layout="constrained")
filled = ax.contourf(gx, gy, score, levels=15, cmap="Greens")
fig.colorbar(filled, ax=ax, label="minus the distance to the nearest centre")
ax.contour(
    gx, gy, score, levels=[by_distance.threshold_], colors="black", linewidths=2, linestyles="solid"
)
ax.scatter(*groups.T, s=2, c="tab:gray", alpha=0.4, label="training data")
ax.scatter(*probe[far == 1].T, s=20, c="tab:red", marker="x", label="flagged")
ax.scatter(*probe[far == 0].T, s=20, c="tab:blue", marker="o", label="not flagged")
ax.scatter(*by_distance.kmeans_.cluster_centers_.T, s=120, c="black", marker="+", label="centres")
ax.set_title("k-means distance, threshold at the 1% training quantile")
ax.legend(loc="upper left", fontsize="small")
plt.show()
