"""Training progress to `logging`: one line per epoch and per fit, so a long training task shows in its
(Airflow) log where it is. Keras is imported inside `epoch_logger`; nothing here prints."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("cryptolstm.training")


def epoch_logger(label: str, max_epochs: int, logger: logging.Logger = log):
    """A Keras callback logging `<label> epoch e/max: loss .. val_loss .. (s)` at the end of every epoch."""
    import keras

    class EpochLogger(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._t0 = time.perf_counter()
            logger.info("%s: training starts (at most %d epochs)", label, max_epochs)

        def on_epoch_begin(self, epoch, logs=None):
            self._te = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            vals = " ".join(f"{k} {v:.5f}" for k, v in sorted(logs.items()) if k.endswith("loss"))
            logger.info("%s epoch %d/%d: %s (%.1fs)", label, epoch + 1, max_epochs, vals,
                        time.perf_counter() - self._te)

        def on_train_end(self, logs=None):
            logger.info("%s: training done in %.1fs", label, time.perf_counter() - self._t0)

    return EpochLogger()
