"""06 the encrypted classifier: logistic regression on encrypted handwritten digits.

A server holds a trained model; a client holds images it will not reveal. The
client encrypts the images, the server computes the ten class scores of every
image without ever seeing them, and only the client can read the scores.

The model is scikit-learn's LogisticRegression on its bundled 8x8 digits
(load_digits, 1797 images, no download). heedu's default protocol
(``heedu.inference``) puts the images' pixels in the *coefficients* of
polynomials, so that one product of polynomials computes many inner products
at once: no rotation, no evaluation key, only the client's public key on the
server. (``EncryptedLinearModel.from_sklearn(model, encoding="slots")`` is the
rotation-based protocol of chapter 7.)

Run it with `python examples/06_encrypted_classifier.py`.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import heedu
from heedu.inference import EncryptedLinearModel, InferenceClient, read_plan
from heedu.tools.narration import step


def main() -> None:
    print("06 the encrypted classifier: digits, encrypted end to end\n")

    # Plain machine learning first: 64 pixel features (scaled to [0, 1]), 10 classes.
    print("1. Train a plaintext model (the server's)")
    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=0)
    model = step("LogisticRegression.fit", lambda: LogisticRegression(max_iter=2000).fit(x_train, y_train))
    print(f"    {x_train.shape[0]} training images, {x_test.shape[0]} test images; "
          f"plaintext test accuracy {model.score(x_test, y_test):.3f}\n")

    # The server publishes a plan: parameters (N = 4096, no special prime), scales, flooding, and
    # the rule that lays out a batch. The plan holds nothing secret.
    batch = x_test[:200]
    print("2. The server plans the model (N = 4096, two primes, no special prime)")
    server = step("EncryptedLinearModel.from_sklearn", lambda: EncryptedLinearModel.from_sklearn(model))
    print("   " + server.plan.describe(batch.shape[0]).replace("\n", "\n   "))
    plan_json = server.plan.to_json()
    print(f"    the plan travels as {len(plan_json)} bytes of JSON\n")

    # The client reads the plan and makes its public key: the only key the server gets (it
    # re-randomizes answers with it). Its secret key never leaves it.
    print("3. The client reads the plan and makes its keys")
    client = step("InferenceClient(plan)", lambda: InferenceClient(read_plan(plan_json)))
    keys = step("client.public_keys() (the public key, seeded and packed)", client.public_keys)
    print(f"    key bundle: {len(keys) / 1e3:.1f} kB, sent once\n")

    print(f"4. Encrypt {batch.shape[0]} test images, classify them on the server, decrypt")
    query = step("client.encrypt(batch)", lambda: client.encrypt(batch))
    answer = step("server.predict(query, keys)", lambda: server.predict(query, keys))
    scores = step("client.decrypt(answer)", lambda: client.decrypt(answer))
    print(f"    query {len(query) / 1e6:.2f} MB, answer {len(answer) / 1e6:.2f} MB "
          f"({len(query) / batch.shape[0] / 1e3:.1f} kB per image)\n")

    # The same scores, computed in the clear, for comparison. CKKS is approximate: the scores
    # differ in the last digits, the predicted classes not at all.
    print("5. Encrypted scores versus plaintext scores")
    expected = model.decision_function(batch)
    error = float(np.max(np.abs(scores - expected)))
    print(f"    scores shape {scores.shape}; max |encrypted - plaintext| = {error:.1e}")
    print(f"    image 0, encrypted : {np.round(scores[0], 3)}")
    print(f"    image 0, plaintext : {np.round(expected[0], 3)}")
    predicted = model.classes_[np.argmax(scores, axis=1)]
    agree = float(np.mean(predicted == model.predict(batch)))
    accuracy = float(np.mean(predicted == y_test[: batch.shape[0]]))
    print(f"    predicted classes agree with the plaintext model on {100 * agree:.1f}% of the images;")
    print(f"    encrypted accuracy on these {batch.shape[0]} images: {accuracy:.3f}")
    if error > 1e-3 or agree < 1.0:
        raise SystemExit("the encrypted scores do not match the plaintext model")

    # The answer holds the scores and nothing else: the server sends c_1 and only the score
    # coefficients of c_0 (the others hold partial sums of the weights), re-randomized and flooded.
    layout = server.plan.layout(batch.shape[0])
    print(f"\n    (image b's score j sits at coefficient b * {layout.block_size} + j * {layout.features_per_chunk}"
          f" of answer j // {layout.outputs_per_block}; {layout.groups(batch.shape[0])} group(s) of"
          f" {layout.inputs_per_ciphertext} images)")
    print(f"    heedu {heedu.__version__}")
    print("\nDone: classified encrypted digits; the server never saw an image.")


if __name__ == "__main__":
    main()
