"""Per-model figures are valid, non-empty PNG images of a legible size."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from magmom.evaluation.plots import error_histogram, model_figures, parity_plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_px=(600, 400)):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert len(data) > 10_000, f"{path} is suspiciously small ({len(data)} bytes)"
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size[0] >= min_px[0] and img.size[1] >= min_px[1], img.size
        # not a blank canvas: the figure has ink
        grey = np.asarray(img.convert("L"))
        assert grey.min() < 100 and grey.std() > 5


def predictions(n=400, seed=0):
    rng = np.random.default_rng(seed)
    el = rng.choice(["Fe", "Ni", "Mn", "Cu"], n)
    y = np.where(el == "Fe", 2.5, np.where(el == "Ni", 0.6, np.where(el == "Mn", 3.0, 0.0)))
    y = np.where((el == "Mn") & (rng.random(n) < 0.5), 0.0, y)
    return pd.DataFrame(
        {
            "slab_id": [f"s{k // 16:03d}" for k in range(n)],
            "atom_index": np.arange(n) % 16,
            "element": el,
            "y_true": y,
            "y_pred": y + rng.normal(0, 0.05, n),
        }
    )


def test_model_figures_are_pngs(tmp_path):
    paths = {
        k: tmp_path / f"{k}.png" for k in ("parity", "parity_excl", "error_hist", "error_hist_excl")
    }
    model_figures(predictions(), "cgconv-r4", paths, ["V", "Cr", "Mn"], surrogate=True)
    for path in paths.values():
        assert_png(path)


def test_only_excluded_elements_still_plots(tmp_path):
    df = predictions()
    df["element"] = "Mn"
    paths = {
        k: tmp_path / f"{k}.png" for k in ("parity", "parity_excl", "error_hist", "error_hist_excl")
    }
    model_figures(df, "element-mean", paths, ["Mn"])
    for path in paths.values():
        assert_png(path)


def test_empty_input_is_an_error(tmp_path):
    empty = predictions().iloc[:0]
    with pytest.raises(ValueError, match="no atoms"):
        parity_plot(empty, "m", tmp_path / "p.png")
    with pytest.raises(ValueError, match="no atoms"):
        error_histogram(empty, "m", tmp_path / "e.png")
    assert not list(tmp_path.iterdir())
