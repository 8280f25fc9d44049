"""Lab 8 `classical_ml`: classical ML from first principles, checked against scikit-learn.

Linear, lasso and logistic regression (m1), k-means++ (m2), a CART tree (m3),
kNN and naive Bayes (m4) and PCA (m5), in vectorised numpy. The brief is
``README.md``; ``labkit check classical_ml`` runs the milestone tests.
"""

from labs.classical_ml.distances import squared_distances
from labs.classical_ml.kmeans import KMeans, kmeans_plusplus, lloyd
from labs.classical_ml.linear import LassoRegression, RidgeRegression, soft_threshold
from labs.classical_ml.logistic import LogisticRegression, logistic_objective
from labs.classical_ml.naive_bayes import (
    GaussianNaiveBayes,
    MultinomialNaiveBayes,
    bag_of_words,
    log_posterior,
)
from labs.classical_ml.neighbors import KNeighborsClassifier, nearest
from labs.classical_ml.pca import PCA
from labs.classical_ml.tree import DecisionTreeClassifier, best_split, impurity

__all__ = [
    "PCA",
    "DecisionTreeClassifier",
    "GaussianNaiveBayes",
    "KMeans",
    "KNeighborsClassifier",
    "LassoRegression",
    "LogisticRegression",
    "MultinomialNaiveBayes",
    "RidgeRegression",
    "bag_of_words",
    "best_split",
    "impurity",
    "kmeans_plusplus",
    "lloyd",
    "log_posterior",
    "logistic_objective",
    "nearest",
    "soft_threshold",
    "squared_distances",
]
