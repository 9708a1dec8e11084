"""Keras model builders: the baseline stacked LSTM and the ablations (BiLSTM, CNN-LSTM).

All take a window x [B, T, F] and a coin id [B] and return H = HORIZONS scaled log returns [B, H]. The coin id
goes through an Embedding that is concatenated to the sequence summary, so one model serves every
coin while still learning coin-specific offsets and slopes. Keras is imported inside the functions.
"""

from __future__ import annotations

from cryptolstm.config import HORIZONS

ARCHS = ("lstm", "bilstm", "cnn_lstm")


def build_model(arch: str, *, window: int, n_features: int, n_coins: int, horizons: int = HORIZONS,
                lstm_units: tuple[int, int] = (128, 64), dense_units: int = 64, dropout: float = 0.2,
                embed_dim: int = 4, conv_filters: int = 32, conv_kernel: int = 3, sign_head: bool = False,
                highway: bool = False):
    """An uncompiled keras.Model([x, coin]) -> y for `arch` in ARCHS; with `sign_head` -> [y, sign logits].
    With `highway` the return head's output is the recurrent path's plus a linear map of the last day's
    (scaled) features and the coin embedding, one model trained end to end (LSTNet's highway)."""
    import keras
    from keras import layers

    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {ARCHS}")
    u1, u2 = lstm_units
    x_in = keras.Input((window, n_features), name="x")  # [B, T, F]
    coin_in = keras.Input((), dtype="int32", name="coin")  # [B]
    h = layers.LayerNormalization(name="norm")(x_in)  # [B, T, F]
    if arch == "lstm":
        h = layers.LSTM(u1, return_sequences=True, name="lstm1")(h)  # [B, T, u1]
        h = layers.Dropout(dropout, name="drop")(h)
        h = layers.LSTM(u2, name="lstm2")(h)  # [B, u2]
    elif arch == "bilstm":
        h = layers.Bidirectional(layers.LSTM(u1 // 2, return_sequences=True), name="bilstm1")(h)  # [B, T, u1]
        h = layers.Dropout(dropout, name="drop")(h)
        h = layers.Bidirectional(layers.LSTM(u2 // 2), name="bilstm2")(h)  # [B, u2]
    else:  # cnn_lstm: local patterns first, then a shorter, cheaper recurrence
        h = layers.Conv1D(conv_filters, conv_kernel, padding="causal", activation="relu", name="conv")(h)  # [B, T, C]
        h = layers.MaxPooling1D(2, name="pool")(h)  # [B, T/2, C]
        h = layers.LSTM(u1, return_sequences=True, name="lstm1")(h)  # [B, T/2, u1]
        h = layers.Dropout(dropout, name="drop")(h)
        h = layers.LSTM(u2, name="lstm2")(h)  # [B, u2]
    e = layers.Embedding(n_coins, embed_dim, name="coin_embedding")(coin_in)  # [B, E]
    h = layers.Concatenate(name="join")([h, e])  # [B, u2 + E]
    h = layers.Dense(dense_units, activation="relu", name="dense")(h)  # [B, dense]
    y = layers.Dense(horizons, name="head")(h)  # [B, H]
    if highway:  # no Lambda layer: a bundle is loaded with safe_mode, which refuses Python lambdas
        last = layers.Flatten(name="last_day")(layers.Cropping1D((window - 1, 0), name="crop")(x_in))  # [B, F]
        z = layers.Concatenate(name="highway_in")([last, e])  # [B, F + E]
        y = layers.Add(name="forecast")([y, layers.Dense(horizons, name="highway")(z)])  # [B, H]
    if sign_head:  # multi-task: logits of P(y_h > 0) from the same summary; only `head` is ever served
        s = layers.Dense(horizons, name="sign_head")(h)  # [B, H]
        return keras.Model([x_in, coin_in], [y, s], name=f"cryptolstm_{arch}_sign")
    return keras.Model([x_in, coin_in], y, name=f"cryptolstm_{arch}")
