# In the browser: the chapter's fallback data, and a logistic regression trained with NumPy (scikit-learn is not
# in the page). The digits come from this site's digits.npz, written from scikit-learn's bundled set at build time.
import shutil  # noqa: F401 (the chapter's later blocks use it, as they use time)
import tempfile
import time  # noqa: F401

import numpy as np

work = tempfile.mkdtemp(prefix="heedu-chapter-12-")  # in the page's own memory file system
print("NOTE: in the browser there is neither MNIST nor scikit-learn. This run uses scikit-learn's bundled 8 x 8\n"
      "digits, each pixel blown up to 3 x 3 and framed to 28 x 28, and a logistic regression trained with NumPy\n"
      "on the first 1,000 of them. The shapes are MNIST's; the numbers differ from those in the text.")
digits = np.load("digits.npz")
framed = np.zeros((len(digits["labels"]), 28, 28))
framed[:, 2:26, 2:26] = digits["images"].reshape(-1, 8, 8).repeat(3, axis=1).repeat(3, axis=2) / 16.0  # 16 greys
train, images = framed[:1000].reshape(1000, 784), framed[1000:].reshape(-1, 784)
labels = digits["labels"][1000:].astype(np.int64)


class SoftmaxRegression:
    """Multinomial logistic regression by gradient descent, with scikit-learn's names for what heedu reads."""

    def fit(self, x, y, steps=300, rate=1.0, l2=1e-3):
        self.classes_ = np.unique(y)
        targets = (y[:, None] == self.classes_[None, :]).astype(np.float64)
        self.coef_, self.intercept_ = np.zeros((len(self.classes_), x.shape[1])), np.zeros(len(self.classes_))
        for _ in range(steps):
            z = self.decision_function(x)
            p = np.exp(z - z.max(axis=1, keepdims=True))
            gradient = (p / p.sum(axis=1, keepdims=True) - targets) / len(x)
            self.coef_ -= rate * (gradient.T @ x + l2 * self.coef_)
            self.intercept_ -= rate * gradient.sum(axis=0)
        return self

    def decision_function(self, x):
        return np.asarray(x) @ self.coef_.T + self.intercept_

    def predict(self, x):
        return self.classes_[self.decision_function(x).argmax(axis=1)]


model = SoftmaxRegression().fit(train, digits["labels"][:1000].astype(np.int64))
print(type(model).__name__, "W:", model.coef_.shape, " b:", model.intercept_.shape, " images:", images.shape)
assert model.coef_.shape == (10, 784) and images.shape[1] == 784
assert images.min() >= 0.0 and images.max() <= 1.0


def show(image):
    """A 28 x 28 image as text, two rows of pixels per line; blank lines are left out."""
    pixels = image.reshape(28, 28)
    for line in np.maximum(pixels[0::2], pixels[1::2]):
        text = "".join(" .:#"[min(3, int(4 * value))] for value in line).rstrip()
        if text:
            print(text)


show(images[0])
print("label:", labels[0])
