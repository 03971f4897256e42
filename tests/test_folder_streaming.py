"""Large folder datasets stream from disk: decoded once into a memory-mapped cache, read a batch
at a time by the tf.data pipeline, never held whole in memory."""

import numpy as np
import pytest
from PIL import Image

from kgen.data import files, load_dataset, make_pipeline


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """40 labelled 8x8 images in two class folders (some colour, some grey), and a private cache."""
    monkeypatch.setenv("KGEN_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for i in range(40):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).convert("L" if i % 3 else "RGB")
        (tmp_path / "data" / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        image.save(tmp_path / "data" / f"class{i % 2}" / f"{i:02d}.png")
    return tmp_path / "data"


def streamed(monkeypatch, name):
    monkeypatch.setattr(files, "STREAM_BYTES", 0)  # stream every folder, however small
    return load_dataset(name)


def test_a_streamed_folder_matches_the_in_memory_load(folder, monkeypatch):
    in_memory = load_dataset(f"folder:{folder}")
    assert not files.is_memory_mapped(in_memory.x_train)
    data = streamed(monkeypatch, f"folder:{folder}")
    assert files.is_memory_mapped(data.x_train) and files.is_memory_mapped(data.x_test)
    for part in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(data, part), getattr(in_memory, part))
    assert data.class_names == in_memory.class_names and data.image_shape == (8, 8, 3)
    cached = list(files.folder_cache_dir().glob("*.npy"))
    assert len(cached) == 1
    streamed(monkeypatch, f"folder:{folder}")  # decoded once: the cache is reused ...
    assert list(files.folder_cache_dir().glob("*.npy")) == cached
    Image.new("L", (8, 8), 255).save(folder / "class0" / "00.png")  # ... until an image changes
    changed = streamed(monkeypatch, f"folder:{folder}")
    assert len(list(files.folder_cache_dir().glob("*.npy"))) == 2
    assert not np.array_equal(changed.x_train, data.x_train) or not np.array_equal(changed.x_test, data.x_test)


def test_the_pipeline_reads_rows_from_disk_as_it_goes(folder, monkeypatch):
    data = streamed(monkeypatch, f"folder:{folder}")
    pipeline = make_pipeline(data.x_train, data.y_train, batch_size=8, seed=1)
    seen = np.concatenate([y for _, y in pipeline.as_numpy_iterator()])
    np.testing.assert_array_equal(np.sort(seen), np.sort(data.y_train))  # every image once an epoch
    # Rewrite the cache file on disk: the pipeline built before must serve the new pixels, so it
    # holds no copy of the array.
    (cache,) = files.folder_cache_dir().glob("*.npy")
    on_disk = np.load(cache, mmap_mode="r+")
    on_disk[:] = 0.25
    on_disk.flush()
    del on_disk
    x, _ = next(pipeline.as_numpy_iterator())
    assert x.shape == (8, 8, 8, 3) and np.all(x == 0.25)


def test_training_runs_on_a_streamed_folder(folder, monkeypatch, tmp_path):
    from kgen.config import RunConfig, TrainConfig, VAEConfig
    from kgen.train.training import train

    monkeypatch.setattr(files, "STREAM_BYTES", 0)
    config = RunConfig(TrainConfig(model="vae", dataset=f"folder:{folder}", epochs=1, batch_size=8),
                       VAEConfig(latent_dim=2, hidden=(16,)))
    result = train(config, tmp_path / "run", verbose=0)
    assert result.epochs_done == 1 and np.isfinite(result.history["loss"][0])
