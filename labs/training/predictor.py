"""A trained network with its preprocessing: ``predict(rows) -> click probabilities``.

    predictor = ClickPredictor(model, prep)
    p = predictor.predict(frame)     # frame: user_id, item_id and every feature

The same class scores in training (validation, test), in the registry's
``LoadedModel``, in Ray Data actors and in the FastAPI service, so all of
them compute the same numbers.

**A row's score does not depend on its batch.** The preprocessing is per row
(frozen constants) and the network runs in eval mode, under
``torch.inference_mode``, on blocks of exactly ``BLOCK_ROWS`` rows, the last
block zero-padded. A float32 matrix product over 1 row and over 1,000 rows
take different kernels and round differently (about 6e-8 apart); with a
fixed block shape the kernel, and so every bit of the result, is the same
whether a request carries one row or a whole partition. The padding costs
about 0.3 ms for a single row.

**Threads.** ``predict`` uses PyTorch's intra-op pool (by default one
thread per core, process-wide). Several scoring processes on one machine
(Ray actors, uvicorn workers) should each call ``torch.set_num_threads(1)``
(or a fair share) once at start-up, or they oversubscribe the cores; the
results are the same for any thread count (the tests check it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from labs.training.features import Encoded, Frame, Preprocessor
from labs.training.model import ClickModel

BLOCK_ROWS = 256  # rows per forward pass; the last block is zero-padded


def logits_in_blocks(model: ClickModel, rows: Encoded) -> npt.NDArray[np.float32]:
    """Run ``model`` on fixed-size blocks of ``rows``; logits, shape ``(n,)``."""
    n = len(rows)
    out = np.empty(n, dtype=np.float32)
    user = torch.from_numpy(np.ascontiguousarray(rows.user))
    item = torch.from_numpy(np.ascontiguousarray(rows.item))
    dense = torch.from_numpy(np.ascontiguousarray(rows.dense))
    # Only the modules in training mode are switched: `model.eval()` walks and
    # sets every module (about 45 µs for this model, a quarter of a 20-row
    # call). Setting the flag is what `train()` does for every module here: no
    # module of a ClickModel overrides `train()`.
    training = [module for module in model.modules() if module.training]
    for module in training:
        module.training = False
    try:
        with torch.inference_mode():
            for start in range(0, n, BLOCK_ROWS):
                stop = min(start + BLOCK_ROWS, n)
                u, i, x = user[start:stop], item[start:stop], dense[start:stop]
                pad = BLOCK_ROWS - (stop - start)
                if pad:  # same shape every call: the same kernel, the same bits
                    u = torch.cat([u, u.new_zeros(pad)])
                    i = torch.cat([i, i.new_zeros(pad)])
                    x = torch.cat([x, x.new_zeros(pad, x.shape[1])])
                out[start:stop] = model(u, i, x)[: stop - start].numpy()
    finally:
        for module in training:
            module.training = True
    return out


class ClickPredictor:
    """A :class:`ClickModel` and the :class:`Preprocessor` it was trained with."""

    def __init__(self, model: ClickModel, preprocessor: Preprocessor):
        self.model = model
        self.preprocessor = preprocessor
        self.model.eval()

    @property
    def features(self) -> list[str]:
        return list(self.preprocessor.features)

    def predict_encoded(self, rows: Encoded) -> npt.NDArray[np.float64]:
        """Click probabilities of already-encoded rows, shape ``(n,)``."""
        logits = logits_in_blocks(self.model, rows).astype(np.float64)
        return 1.0 / (1.0 + np.exp(-logits))

    def predict(self, frame: Frame) -> npt.NDArray[np.float64]:
        """Click probabilities, shape ``(n,)``.

        Args:
            frame: a DataFrame or a mapping of equal-length arrays with
                ``user_id``, ``item_id`` and every name in ``self.features``;
                NaN features are filled with the documented defaults
                (``preprocessor.fill``); unknown ids use the OOV rows.

        Raises:
            KeyError: a column is absent (pass NaN to mean "unknown").
        """
        return self.predict_encoded(self.preprocessor.encode(frame))

    def state_dict(self) -> dict[str, Any]:
        return self.model.state_dict()
