"""bench-scale's train stage: a fit whose memory passes the cap is killed and reported, never left to swap."""

import numpy as np

from cryptolstm.bench import scale


def _hold(mib: int) -> dict:
    block = np.ones(mib * 2**20 // 8)  # touched pages: resident
    import time

    time.sleep(30)
    return {"held": float(block.sum())}


def test_a_stage_above_the_rss_cap_is_killed_and_reported():
    assert scale._in_process(_hold, 400, rss_cap_mib=200) == {"killed_above_mib": 200}


def test_the_table_shows_a_killed_fit_and_the_projection_arithmetic():
    sizes = {20: {"train": {"seconds": 20.0, "seconds_per_step": 0.5, "maxrss_mib": 1269.0, "steps_per_epoch": 69,
                            "max_epochs": 20, "fits": 6, "weekly_projection_hours": 69 * 20 * 6 * 0.5 / 3600}},
             900: {"train": {"seconds": float("nan"), "maxrss_mib": 8192.0, "killed": True}}}
    table = scale.markdown({"sizes": sizes, "exponents": scale.exponents(sizes)})
    assert "| train: peak RSS of the fit process | 1269 MiB | > 8192 MiB (killed) | |" in table
    assert "69 x 20 x 6 x 0.500 s = 1.1 h" in table
    assert "train" not in scale.exponents(sizes)
